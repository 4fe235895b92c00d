"""Language models built only from minillm.nn: ``gpt.GPT`` (decoder-only, GPT-2 names)."""

from minillm.models.gpt import GPT, GPTConfig

__all__ = ["GPT", "GPTConfig"]
