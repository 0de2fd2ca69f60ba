"""Helpers shared by the browser tests."""


def wait_for_app(page) -> None:
    """Streamlit has finished the current script run (no running indicator, no skeleton)."""
    page.wait_for_selector("[data-testid='stApp']")
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=\"stStatusWidget\"]')"
        " || !document.querySelector('[data-testid=\"stStatusWidget\"]').innerText.includes('Running')",
        timeout=60_000,
    )
