"""vision_core: the importable core behind the dashboard (no Streamlit here)."""
