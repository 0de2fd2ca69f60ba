"""How long a test waits for something that is going to happen, and the one way it waits.

On a quiet machine a run starts in a second and a page draws in about one; on the 2-core CI machine beside other
heavy jobs (or `stress-ng --cpu 2`) the same steps can take minutes. Waiting longer only costs time when a test is
failing anyway, so every wait for the code under test uses this one patience; a test whose point is speed says so
in its own, explicit bound.
"""

from __future__ import annotations

import time

PATIENT_S = 300.0
PATIENT_MS = int(PATIENT_S * 1000)


def wait_for(predicate, timeout: float = PATIENT_S, what: str = "condition", every: float = 0.05):
    """Poll ``predicate`` until it returns something true (returned) or ``timeout`` seconds pass (AssertionError)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
