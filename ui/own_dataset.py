"""The Make-a-dataset page's pieces: choose or create a dataset, fill its classes from the camera and uploads, a
thumbnail grid with a remove button per photo, sharing and export, and one click to train on it.

Everything is done by ``vision_core.data.own_datasets`` (which checks who may do what); this file only draws.
Names a student typed are shown with ``plain()`` (or in places that show plain text: select boxes).
"""

from __future__ import annotations

import streamlit as st

from ui import identity
from ui.text import plain
from vision_core.data import own_datasets as own
from vision_core.limits import Limits

PHOTO_TYPES = ["png", "jpg", "jpeg", "gif", "bmp", "webp"]
SHOWN_PHOTOS = 40  # thumbnails per class (the newest): a class of 500 photos would be 500 images per rerun
GRID_COLUMNS = 8


def who() -> dict:
    """The keyword arguments every own_datasets call takes: this browser's person, and teacher mode."""
    return {"person": identity.current_person(), "teacher": identity.is_teacher()}


def _note(kind: str, text: str) -> None:
    """A message for the next run (the page reruns right after a change, so it is drawn there)."""
    st.session_state.setdefault("make_notes", []).append((kind, text))


def show_notes() -> None:
    for kind, text in st.session_state.pop("make_notes", []):
        {"success": st.success, "error": st.error, "warning": st.warning}[kind](text)


def _do(action, *args, **kwargs) -> bool:
    """Run an own_datasets change; a refusal becomes one sentence on the page."""
    try:
        action(*args, **kwargs)
    except own.OwnDatasetError as exc:
        _note("error", plain(exc))
        return False
    return True


def _label(dataset: own.OwnDataset, mine: bool) -> str:
    whose = "yours" if mine else "published" if dataset.published else "shared by a classmate"
    # No photo count here: a browser keeps the option text it first showed, and the count changes with each photo.
    return f"{dataset.title} ({whose})"


def _create() -> None:
    title = st.session_state.get("make_new_title", "")
    try:
        folder = own.create(title, **who())
    except own.OwnDatasetError as exc:
        _note("error", plain(exc))
        return
    st.session_state["make_dataset"] = folder
    st.session_state["make_new_title"] = ""


def dataset_picker() -> own.OwnDataset | None:
    """Choose one of the datasets this person may use, or make a new one → the chosen dataset (None: none yet)."""
    with st.form("make_new_form", clear_on_submit=False, border=False):
        cols = st.columns([3, 1], vertical_alignment="bottom")
        cols[0].text_input("New dataset", key="make_new_title", max_chars=own.NAME_MAX,
                           placeholder="e.g. thumbs", help="Letters, digits, spaces, - and _.")
        cols[1].form_submit_button("Create", on_click=_create, use_container_width=True)
    datasets = own.visible(**who())
    if not datasets:
        st.info("No dataset yet: give it a name above and press Create.")
        return None
    by_folder = {d.folder: d for d in datasets}
    if st.session_state.get("make_dataset") not in by_folder:
        st.session_state.pop("make_dataset", None)
    person = identity.current_person()
    folder = st.selectbox("Dataset", list(by_folder), key="make_dataset",
                          format_func=lambda f: _label(by_folder[f], by_folder[f].owner == person))
    return by_folder[folder]


# --------------------------------------------------------------------------- classes and photos


def _counter(name: str) -> int:
    """A widget's generation: a new key empties the camera or the uploader once its photos are stored."""
    return st.session_state.setdefault("make_generation", {}).get(name, 0)


def _next(name: str) -> None:
    generations = st.session_state.setdefault("make_generation", {})
    generations[name] = generations.get(name, 0) + 1


def _store(dataset: own.OwnDataset, class_name: str, files: list[tuple[str, bytes]], limits: Limits) -> None:
    try:
        result = own.add_images(dataset.folder, class_name, files, limits=limits, **who())
    except own.OwnDatasetError as exc:
        _note("error", plain(exc))
        return
    if result.added:
        _note("success", f"Added {result.added} photo{'s' if result.added != 1 else ''} to "
                         f"**{plain(class_name)}**.")
    for sentence in result.refused:
        _note("error", plain(sentence))


def _remove_photo(folder: str, class_name: str, image: str) -> None:
    _do(own.remove_image, folder, class_name, image, **who())


def _remove_class(folder: str, class_name: str) -> None:
    _do(own.remove_class, folder, class_name, **who())


def _photo_inputs(dataset: own.OwnDataset, class_name: str, index: int, limits: Limits) -> None:
    """The camera (one photo per click) and an uploader of several pictures; each stores and empties itself."""
    name = f"{dataset.folder}/{class_name}"
    left, right = st.columns(2)
    with left:
        shot = st.camera_input(f"Take a photo of {class_name}", key=f"make_cam_{index}_{_counter(name + 'cam')}",
                               help="Each click adds one photo to this class.")
    with right:
        uploads = st.file_uploader(f"Or add pictures of {class_name}", type=PHOTO_TYPES, accept_multiple_files=True,
                                   key=f"make_up_{index}_{_counter(name + 'up')}",
                                   help=f"Several at once; each up to {limits.max_upload_mb} MB.")
    if shot is not None:
        _store(dataset, class_name, [("camera photo", shot.getvalue())], limits)
        _next(name + "cam")  # a fresh camera: the next click is the next photo
        st.rerun()
    if uploads:
        _store(dataset, class_name, [(u.name, u.getvalue()) for u in uploads], limits)
        _next(name + "up")
        st.rerun()


def _grid(dataset: own.OwnDataset, class_name: str, index: int, editable: bool) -> None:
    photos = dataset.classes[class_name]
    if not photos:
        st.caption("No photos yet.")
        return
    shown = photos[-SHOWN_PHOTOS:]
    if len(photos) > len(shown):
        st.caption(f"The newest {len(shown)} of {len(photos)} photos:")
    columns = st.columns(GRID_COLUMNS)
    for i, image in enumerate(shown):
        with columns[i % GRID_COLUMNS]:
            try:
                st.image(own.read_photo(dataset, class_name, image), width=72)
            except (own.OwnDatasetError, OSError):
                st.caption("(removed)")  # removed meanwhile, in another tab
                continue
            if editable:
                st.button("✕", key=f"make_rm_{index}_{image}", help="Remove this photo",
                          on_click=_remove_photo, args=(dataset.folder, class_name, image))


def class_panels(dataset: own.OwnDataset, editable: bool, limits: Limits) -> None:
    """One bordered panel per class: its photos, and (for its maker) the camera, uploads and remove buttons."""
    for index, (class_name, photos) in enumerate(dataset.classes.items()):
        with st.container(border=True, key=f"make_class_{index}"):
            head = st.columns([4, 1], vertical_alignment="center")
            head[0].markdown(f"**{plain(class_name)}** · {len(photos)} photo{'s' if len(photos) != 1 else ''}")
            if editable:
                head[1].button("Remove class", key=f"make_rm_class_{index}", on_click=_remove_class,
                               args=(dataset.folder, class_name), use_container_width=True)
                _photo_inputs(dataset, class_name, index, limits)
            _grid(dataset, class_name, index, editable)


def _add_class(folder: str) -> None:
    if _do(own.add_class, folder, st.session_state.get("make_class_name", ""), **who()):
        st.session_state["make_class_name"] = ""


def add_class_box(dataset: own.OwnDataset) -> None:
    with st.form("make_class_form", border=False):
        cols = st.columns([3, 1], vertical_alignment="bottom")
        cols[0].text_input("New class", key="make_class_name", max_chars=own.NAME_MAX,
                           placeholder="e.g. thumbs up", help="Letters, digits, spaces, - and _.")
        cols[1].form_submit_button("Add class", on_click=_add_class, args=(dataset.folder,),
                                   use_container_width=True)


# --------------------------------------------------------------------------- sharing and export


@st.cache_data(max_entries=16, show_spinner="Packing the zip…")
def _zip(folder: str, contents: tuple) -> bytes:
    # ``contents`` (every class's photo names) is only part of the key: a changed dataset is packed again.
    return own.export_zip(folder)


def _delete(folder: str) -> None:
    if _do(own.delete, folder, **who()):
        st.session_state.pop("make_dataset", None)
        _note("success", "Deleted.")


def sharing_box(dataset: own.OwnDataset, editable: bool) -> None:
    """Share (its maker), publish (the teacher), delete, and export as the zip the Train page's upload takes."""
    teacher = identity.is_teacher()
    cols = st.columns(3)
    if editable:
        cols[0].toggle("Share with the class (read-only)", value=dataset.shared, key=f"make_share_{dataset.folder}",
                       on_change=lambda: _do(own.set_shared, dataset.folder,
                                             st.session_state[f"make_share_{dataset.folder}"], **who()),
                       help="Classmates can then train on it and see its photos, never change them.")
    else:
        cols[0].caption("Made by a classmate: you can train on it and export it, not change it.")
    if teacher:
        cols[1].toggle("Publish to the class", value=dataset.published, key=f"make_publish_{dataset.folder}",
                       on_change=lambda: _do(own.set_published, dataset.folder,
                                             st.session_state[f"make_publish_{dataset.folder}"], teacher=True),
                       help="A published dataset is the class's: only the teacher may delete it.")
    contents = tuple((c, tuple(p)) for c, p in dataset.classes.items())
    if dataset.images:
        cols[2].download_button("Download as a zip", _zip(dataset.folder, contents), file_name=f"{dataset.folder}.zip",
                                mime="application/zip", key="make_export", use_container_width=True,
                                help="Class folders of PNG photos: the Train page's “Add your own” takes it back.")
    if editable and (teacher or not dataset.published):
        with st.expander("Delete this dataset"):
            st.caption("Its photos are deleted for good (runs trained on it keep their curves, not their data).")
            st.button("Delete it", key="make_delete", on_click=_delete, args=(dataset.folder,))


# --------------------------------------------------------------------------- training


def train_box(dataset: own.OwnDataset, limits: Limits) -> None:
    """What stops training or deserves a warning, the suggested set-up, and one click to queue it."""
    from ui.live_panel import live_panel
    from ui.submit import submit_run
    from vision_core.training import guards

    problems, warnings = own.training_problems(dataset)
    for warning in warnings:
        st.warning(plain(warning))
    suggested = own.training_config(dataset, limits=limits)
    epochs = st.number_input("Epochs", min_value=1, max_value=limits.max_epochs, value=suggested.epochs,
                             key="make_epochs", help="Suggested from the number of photos: about 150 steps.")
    config = own.training_config(dataset, epochs=int(epochs), limits=limits)
    size = config.dataset_options["image_size"]
    st.caption(f"A small CNN (TinyVGG, {config.model_options['hidden_units']} channels) on {size}×{size} photos, "
               f"{config.epochs} epochs of batches of {config.batch_size}; the photos are mirrored, shifted, "
               f"rotated and re-lit at random while it learns; 20 % of each class is held out for the test.")
    problem = problems[0] if problems else None
    if problem is None:
        try:
            guards.gate(config, limits)  # the same gate the Train page, a worker and the command line pass
        except (guards.GuardError, ValueError, TypeError) as exc:
            problem = str(exc)
    if problem:
        st.info(plain(problem))
    if st.button("▶ Train on it", type="primary", disabled=problem is not None, key="make_train"):
        run = submit_run(config)
        if run is not None:
            st.query_params["run"] = run.run_id
            st.rerun()
    run_id = st.query_params.get("run")
    if run_id:
        live_panel(run_id)
        st.page_link("pages/predict.py", label="Try it on the camera (Predict)", icon="🔮",
                     query_params={"run": run_id})
