"""The test profiles: the default run (CI, `make test`, under 10 minutes on
2 cores) and `SESSIONFENCE_PROFILE=thorough`, which adds the long campaigns
and the larger instances. A test marked `slow` runs only in the thorough
profile; it says so when skipped."""

import os

import pytest

THOROUGH = os.environ.get("SESSIONFENCE_PROFILE", "ci") == "thorough"


def pytest_collection_modifyitems(config, items):
    if THOROUGH:
        return
    skip = pytest.mark.skip(reason="long: set SESSIONFENCE_PROFILE=thorough")
    for item in items:
        if item.get_closest_marker("slow"):
            item.add_marker(skip)
