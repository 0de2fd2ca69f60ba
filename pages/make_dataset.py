"""Make a dataset: name classes, fill them from the camera or uploads, train a small CNN on it, try it live."""

import streamlit as st

from ui.frame import ensure_app_frame
from ui.own_dataset import add_class_box, class_panels, dataset_picker, sharing_box, show_notes, train_box, who
from vision_core.data import own_datasets as own
from vision_core.limits import Limits, load_limits

ensure_app_frame()  # a cold server's first request goes through app.py

st.title("📸 Make a dataset")
st.caption("Name two or more classes, fill each with photos from your camera or your files, then train your own "
           "CNN on them and watch it learn. Your dataset is yours: classmates see it only once you share it.")
try:
    limits = load_limits()
except ValueError as exc:  # the teacher's file has a typo: say so, and keep the safe defaults meanwhile
    st.warning(f"The classroom limits file has a problem ({exc}); using the default limits.")
    limits = Limits()

show_notes()
dataset = dataset_picker()
if dataset is None:
    st.stop()
editable = own.may_modify(dataset, **who())

st.subheader("1 · Classes and photos")
class_panels(dataset, editable, limits)
if editable:
    add_class_box(dataset)
st.subheader("2 · Share and export")
sharing_box(dataset, editable)
st.subheader("3 · Train on it")
train_box(dataset, limits)
