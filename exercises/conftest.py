"""The exercises' checks: Hypothesis without a per-example deadline (a first call may compile)."""

from hypothesis import settings

settings.register_profile("exercises", max_examples=50, deadline=None)
settings.load_profile("exercises")
