"""``minillm tune``: search the GPT's training settings with short runs of the main job.

Read in this order: ``space.py`` (the --space strings), ``pruners.py`` (stopping hopeless trials),
``study.py`` (proposals, trials, the resumable study), ``report.py`` (table and plots),
``command.py`` (the command line).
"""

METHODS = ("grid", "random", "bayes")  # how a study proposes trials (study.py)
