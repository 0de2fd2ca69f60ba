"""Entry point: `streamlit run app.py`. A router and a frame: page config, navigation, status strip."""

import streamlit as st

from ui.status_strip import status_strip

st.set_page_config(page_title="CNN Lab: see how convolutional networks learn", page_icon="🧠", layout="wide")

PAGES = {
    "Start": [
        st.Page("app_pages/home.py", title="Home", icon="🏠", default=True),
    ],
    "Train": [
        st.Page("app_pages/train.py", title="Train", icon="🏋️", url_path="train"),
        st.Page("app_pages/runs.py", title="Runs", icon="📊", url_path="runs"),
    ],
    "How a CNN computes": [
        st.Page("app_pages/convolution.py", title="Convolution", icon="🔲", url_path="convolution"),
        st.Page("app_pages/pooling.py", title="Pooling", icon="🔳", url_path="pooling"),
        st.Page("app_pages/shapes.py", title="Shape explorer", icon="📐", url_path="shapes"),
    ],
    "Your trained network": [
        st.Page("app_pages/inside.py", title="Inside the network", icon="🔬", url_path="inside"),
        st.Page("app_pages/evaluate.py", title="Evaluate", icon="✅", url_path="evaluate"),
        st.Page("app_pages/predict.py", title="Predict", icon="🔮", url_path="predict"),
    ],
}

page = st.navigation(PAGES)
with st.sidebar:
    st.markdown("#### Training now")
    status_strip()
page.run()
