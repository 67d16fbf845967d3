"""Shared test settings and helpers."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Derandomized: the same examples on every machine and every run, so a CI failure
# can be reproduced locally. Model runs vary in length, so no per-example deadline.
settings.register_profile(
    "chainsim", derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chainsim"))
