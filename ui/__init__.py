"""Streamlit helpers shared by several pages (the core, vision_core, never imports this)."""
