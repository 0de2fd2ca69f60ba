"""Figures: pure Plotly builders, data in and ``go.Figure`` out (no I/O, no Streamlit), one module per page family.

``training`` (live curves), ``runs`` (the Runs page's comparison), ``convolution``, ``evaluation``, ``inspection``,
``experiments``, ``playground``. Imports lessons and analysis for their data types; never the classroom.
"""
