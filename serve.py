"""The dashboard as ``scripts/dashboard`` serves it: app.py, with Streamlit's frontend files answered from memory.

``streamlit run serve.py`` runs the same app as ``streamlit run app.py`` (every page, setting and test is app.py's)
under uvicorn's own loop (uvloop, when installed), adding ui/frontend_files.py in front of Streamlit's server (its
docstring says why) and ending at once when the server stops (ui/shutdown.py).
"""

import streamlit as st
from starlette.middleware import Middleware

from ui.frontend_files import FrontendFiles
from ui.shutdown import end_with_the_server

app = st.App("app.py", middleware=[Middleware(FrontendFiles)], lifespan=end_with_the_server)
