"""Five exercises in MiniTorch's spirit: write the missing piece, then run its checks.

    python -m pytest -m exercise            # checks your files in exercises/
    MINILLM_EXERCISE_SOLUTIONS=1 python -m pytest -m exercise   # checks the solutions instead

Each file here is a stub whose body raises NotImplementedError; ``exercises/solutions/`` holds one
way to write it (look after you have tried). The tasks are in ``docs/exercises.md``.
"""
