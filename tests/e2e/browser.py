"""Helpers shared by the browser tests."""

from tests.patience import PATIENT_MS, PATIENT_S  # noqa: F401 (the browser tests import them from here)


def wait_for_app(page) -> None:
    """Streamlit has finished the current script run (no running indicator, no skeleton)."""
    page.wait_for_selector("[data-testid='stApp']", timeout=PATIENT_MS)
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=PATIENT_MS,
    )
