"""Entry point: `streamlit run app.py`. A router and a frame: page config, navigation, status strip.

Streamlit's own sidebar navigation is hidden (``position="hidden"`` here; see the note in
.streamlit/config.toml): it would show the raw file names of ``pages/``. The sidebar links are
drawn below with ``st.page_link``, so every URL still routes through this file.
"""

import streamlit as st

from ui import identity, projector_mode, turns, warm
from ui.names import name_box
from ui.shutdown import exit_when_the_server_stops
from ui.status_strip import status_strip

st.set_page_config(page_title="CNN Lab: see how convolutional networks learn", page_icon="🧠", layout="wide")
exit_when_the_server_stops()  # Ctrl-C / SIGTERM end the server at once (workers keep training)

PAGES = {
    "Start": [
        st.Page("pages/home.py", title="Home", icon="🏠", default=True),
    ],
    "Train": [
        st.Page("pages/train.py", title="Train", icon="🏋️", url_path="train"),
        st.Page("pages/make_dataset.py", title="Make a dataset", icon="📸", url_path="make_dataset"),
        st.Page("pages/runs.py", title="Runs", icon="📊", url_path="runs"),
        st.Page("pages/regularisation.py", title="Overfitting lab", icon="🧪", url_path="regularisation"),
        st.Page("pages/class.py", title="Class", icon="🏫", url_path="class"),
        st.Page("pages/challenges.py", title="Challenges", icon="🏆", url_path="challenges"),
    ],
    "How a CNN computes": [
        st.Page("pages/convolution.py", title="Convolution", icon="🔲", url_path="convolution"),
        st.Page("pages/pooling.py", title="Pooling", icon="🔳", url_path="pooling"),
        st.Page("pages/shapes.py", title="Shape explorer", icon="📐", url_path="shapes"),
        st.Page("pages/playground.py", title="Playground", icon="🎛️", url_path="playground"),
        st.Page("pages/losses.py", title="Losses", icon="📉", url_path="losses"),
    ],
    "Your trained network": [
        st.Page("pages/inside.py", title="Inside the network", icon="🔬", url_path="inside"),
        st.Page("pages/evaluate.py", title="Evaluate", icon="✅", url_path="evaluate"),
        st.Page("pages/predict.py", title="Predict", icon="🔮", url_path="predict"),
    ],
}

# Students get no Streamlit "Stop" button next to the running indicator (toolbarMode="viewer" in
# .streamlit/config.toml already removes Deploy and the developer menu).
st.html("<style>[data-testid='stStatusWidget'] button {display: none;}</style>")
page = st.navigation(PAGES, position="hidden")
if page.url_path:  # every page but Home (url_path "") imports torch: after the warm-up's own import of it
    warm.wait()
notice = st.empty()  # "the server is busy", while this page waits for its turn
with turns.TURNS.turn(turns.priority(page.url_path), when_waiting=turns.waiting_notice(notice)):
    notice.empty()
    if projector_mode.on():  # ?projector=1: the front of the room sees the page alone, large, without controls
        projector_mode.apply()
        identity.current_person()
        identity.write_cookies()
    else:
        with st.sidebar:
            for section, entries in PAGES.items():
                st.caption(section)
                for entry in entries:
                    st.page_link(entry, label=entry.title, icon=entry.icon)
            st.divider()
            st.markdown("#### Training now")
            status_strip()
            identity.current_person()  # gives a first-time browser its cookie
            name_box()
            identity.teacher_box()
            identity.write_cookies()
    page.run()
# After the page, so a cold server's first page is not slowed by it (st.stop() in a page skips it: the next run).
warm.start()
