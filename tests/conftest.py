"""The test harness's fixtures (tests/harness/fixtures.py), and the property tests' profiles."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

pytest_plugins = ["tests.harness.fixtures", "tests.harness.contract_stores"]

# Property tests: a few examples in the normal run, 100,000 per property with
# BRIDGE_HYPOTHESIS_PROFILE=long. No deadline: the machine is shared, and time is no property.
# The quick profile is derandomized so the normal run is repeatable; the long run explores.
settings.register_profile("quick", max_examples=60, deadline=None, derandomize=True)
settings.register_profile(
    "long",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("BRIDGE_HYPOTHESIS_PROFILE", "quick"))
