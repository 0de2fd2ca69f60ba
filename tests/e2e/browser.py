"""Helpers shared by the browser tests."""

# How long a test waits for something the app is going to show. On a quiet machine a page draws in about a
# second; on the 2-core CI machine beside other heavy jobs (load 8-12) the same page can take minutes. Waiting
# longer only costs time when a test is failing anyway, so every wait for the app uses this one patience; a test
# whose point is speed says so in its own, explicit bound.
PATIENT_MS = 300_000
PATIENT_S = PATIENT_MS / 1000


def wait_for_app(page) -> None:
    """Streamlit has finished the current script run (no running indicator, no skeleton)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=PATIENT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=PATIENT_MS,
    )
