"""Home: what this is, and the shortest path to a first run."""

import streamlit as st

from ui.frame import ensure_app_frame
from vision_core.training import presets

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("🧠 CNN Lab")
st.markdown(
    "Train a convolutional network **live**, step through what a convolution computes one cell at a "
    "time, look inside the network you trained, and see where it is right and wrong. "
    "Everything runs on this machine, on data that needs no download."
)

st.subheader("Your first run, in one click")
# The quick start, `vision-core train --dataset digits --model lenet --epochs 10 --lr 0.002 --batch-size 32`:
# 3.6 s of training on this project's idle 2-core server (issue 13); on one thread with the server ~12x
# oversubscribed, 21 s of training and 14 s of CPU for the whole command (start-up included); ~97% test accuracy.
st.markdown(
    "LeNet (1998) on the handwritten digits that ship with scikit-learn: 1,797 images, 10 epochs, "
    "**about 10 seconds on a laptop CPU** (longer while many runs share the server), ~97% test accuracy."
)
if st.button("▶ Train LeNet on the digits", type="primary", key="home_quickstart"):
    st.session_state["train_pending_preset"] = "quickstart"
    st.switch_page("pages/train.py")

st.subheader("Then explore")
cols = st.columns(3)
cols[0].page_link("pages/convolution.py", label="Step through a convolution", icon="🔲")
cols[0].page_link("pages/pooling.py", label="Max and average pooling", icon="🔳")
cols[1].page_link("pages/shapes.py", label="Why shapes must fit (shape explorer)", icon="📐")
cols[1].page_link("pages/inside.py", label="Filters and feature maps of your run", icon="🔬")
cols[2].page_link("pages/evaluate.py", label="Confusion matrix and mistakes", icon="✅")
cols[2].page_link("pages/predict.py", label="Try it on your own image", icon="🔮")

with st.expander("The tutorial recipes you can reproduce"):
    for preset in presets.PRESETS.values():
        st.markdown(f"- **{preset.title}** — {preset.source}. Reported: {preset.reported}.")
