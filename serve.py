"""The dashboard as ``scripts/dashboard`` serves it: app.py, with Streamlit's frontend files answered from memory.

``streamlit run serve.py`` runs the same app as ``streamlit run app.py`` (every page, setting and test is app.py's)
under uvicorn's own loop (uvloop, when installed), adding ui/frontend_files.py in front of Streamlit's server (its
docstring says why), opening every page once after its first page view (ui/warm_pages.py) and ending at once when the
server stops (ui/shutdown.py).
"""

import contextlib

import streamlit as st
from starlette.middleware import Middleware

from ui import warm_pages
from ui.frontend_files import FrontendFiles
from ui.shutdown import end_with_the_server


@contextlib.asynccontextmanager
async def lifespan(app):
    async with end_with_the_server(app), warm_pages.opened_in_the_background():
        yield


app = st.App("app.py", middleware=[Middleware(FrontendFiles)], lifespan=lifespan)
