"""What every test shares."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _warm_workers_only_in_the_browser_tests(request, monkeypatch):
    """A warm worker is a process that has imported torch (~300 MB). Core and AppTest tests make a scheduler per
    runs folder, and each would keep one waiting; the browser tests' server keeps its one, as a class's does.
    (tests/core/test_jobs.py tests the warm workers with a launcher of its own.)"""
    if "e2e" not in request.node.path.parts:
        monkeypatch.setenv("VISION_CORE_WARM_WORKERS", "0")
