"""The Train page's set-up form: data, model, recipe presets and hyper-parameters → a RunConfig.

Nothing here allocates a model or builds a dataset a student asked for before the teacher's limits allowed it:
the data is sized from its options first (``datasets.plan`` against ``guards.check_data``), the data preview shows
a sample (``datasets.preview``: a generated set draws only its first images), the model preview is built on the
meta device (``guards.meta_model``) and the memory estimate against the limits (``guards.check``) decides, with
the form's own ranges, whether Start is enabled. A number out of range is never clamped: it disables Start and
says why.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import streamlit as st
import torch

from ui import identity
from ui.kept import kept, kept_index
from ui.shared_figures import shared_figures
from ui.text import plain
from vision_core.config import OPTIMIZERS, SCHEDULERS, RunConfig
from vision_core.data import archives, augment, datasets, own_datasets
from vision_core.figures import training as figures
from vision_core.figures.png import png_source
from vision_core.limits import Limits, load_limits
from vision_core.models import zoo as models
from vision_core.runs import challenges
from vision_core.training import guards, presets, setups

IMAGE_SIZES = {"recipe default": None, "28 × 28": 28, "32 × 32": 32, "64 × 64": 64}
QUICKSTART = RunConfig(dataset="digits", model="lenet", optimizer="adam", lr=2e-3, batch_size=32, epochs=10,
                       name="")
OWN_SETUP = "own"  # the recipe menu's entry while the form is not a recipe as loaded

# Widget key → RunConfig field, for the plain hyper-parameters.
HYPER_KEYS = {"train_optimizer": "optimizer", "train_lr": "lr", "train_momentum": "momentum",
              "train_weight_decay": "weight_decay", "train_scheduler": "scheduler",
              "train_batch_size": "batch_size", "train_epochs": "epochs", "train_seed": "seed",
              "train_accelerator": "accelerator", "train_patience": "early_stopping_patience",
              "train_snapshot_every": "snapshot_every", "train_fast": "fast"}

# The hyper-parameters typed as text and read on the server (see whole_number): their state is a string.
WHOLE_NUMBER_KEYS = {"train_batch_size", "train_epochs", "train_seed", "train_patience", "train_snapshot_every"}

# RunConfig fields the form has widgets for; the others (set by a recipe or a shared link) are carried as they are.
FORM_FIELDS = {"dataset", "dataset_options", "model", "model_options", "augment", "challenge", *HYPER_KEYS.values()}

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+!|~$])")


def md_text(text: str) -> str:
    """``text`` shown literally by st.markdown / st.caption: ``*.jpg`` stays ``*.jpg``, ``<class>`` stays visible."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text))


def _locked() -> bool:
    """True while the form shows a locked set-up link: every widget is disabled, Start is not."""
    return bool(st.session_state.get("train_locked"))


def _image_size_choices() -> dict[str, int | None]:
    """The resize menu, plus the size a recipe or a link asked for when it is not one of the usual ones."""
    extra = st.session_state.get("train_image_size_extra")
    return {**IMAGE_SIZES, f"{extra} × {extra}": extra} if extra and extra not in IMAGE_SIZES.values() else IMAGE_SIZES


def _dataset_title(name: str) -> str:
    return datasets.dataset_info(name).title


def apply_config(config: RunConfig, notice: str = "", preset: str = OWN_SETUP) -> None:
    """Put a config into the form's widgets (used by presets and the home page's quick start)."""
    state = st.session_state
    state["train_dataset"] = config.dataset
    size = config.dataset_options.get("image_size")
    if isinstance(size, (list, tuple)):
        size = size[0] if len(set(size)) == 1 else None  # the menu has square sizes only
    state["train_image_size_extra"] = size
    state["train_image_size"] = next((k for k, v in _image_size_choices().items() if v == size), "recipe default")
    state["train_model"] = config.model
    state["train_model_options"] = dict(config.model_options)
    state["train_model_options_for"] = config.model
    extra = {k: v for k, v in config.dataset_options.items() if k not in ("image_size", "folder")}
    state["train_dataset_extra"] = extra
    state["train_dataset_for_extra"] = config.dataset
    if config.dataset_options.get("folder"):
        state["train_image_folder"] = config.dataset_options["folder"]
    for key, field in HYPER_KEYS.items():
        value = getattr(config, field)
        state[key] = str(value) if key in WHOLE_NUMBER_KEYS else value  # whole numbers are typed in text boxes
    for name in augment.AUGMENTATIONS:
        state[f"train_aug_{name}"] = bool(config.augment.get(name))
    state["train_aug_strengths"] = {k: v for k, v in config.augment.items() if v is not True and v}
    state["train_carried"] = {k: v for k, v in setups.fields_of(config).items()
                              if k not in FORM_FIELDS and v != getattr(RunConfig(), k)}
    state["train_challenge"] = config.challenge  # a shared link's challenge; the menu drops it when it is not open
    state["train_notice"] = notice
    state["train_preset"] = preset
    state["train_just_applied"] = True  # the next form read-out is this config, not a change by the student
    for key in list(state.keys()):  # custom-model widgets re-read their defaults from the new options
        if key.startswith("train_opt_"):
            del state[key]


def load_preset() -> None:
    """Recipe menu / button callback: the recipe, or its closest embedded dataset when the real one is not on disk."""
    key = st.session_state.get("train_preset", OWN_SETUP)
    if key not in presets.PRESETS:
        return
    preset = presets.get_preset(key)  # the current choice, not the last render's
    config = preset.config
    title = _dataset_title(config.dataset)
    try:
        available = datasets.is_available(config.dataset)
    except ValueError:
        available = False
    if not available:
        fallback = _dataset_title(preset.fallback_dataset)
        apply_config(presets.with_fallback(preset),
                     f"**{md_text(preset.title)}**: {md_text(title)} is not on disk, so this uses the closest "
                     f"built-in dataset, **{md_text(fallback)}**, with the same model and recipe. "
                     f"Pick {md_text(title)} in the Dataset menu to get the real data.", preset=key)
    else:
        apply_config(config, f"Loaded **{md_text(preset.title)}** ({md_text(preset.source)}). "
                             f"Reported: {md_text(preset.reported)}.", preset=key)


def _defaults() -> None:
    if "train_dataset" not in st.session_state:
        apply_config(QUICKSTART)


PREVIEW_IMAGES = 16  # images in the data preview: a generated set draws only these


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=16)
def cached_preview(name: str, options_key: tuple, source: tuple = ()) -> datasets.Preview:
    # Shared by every session (read-only, a few KB each). Only call it for options the gate allowed. ``source``
    # (datasets.source_stamp) is only part of the key: a changed image folder or data folder is read again.
    return datasets.preview(name, count=PREVIEW_IMAGES, **dict(options_key))


@shared_figures(max_entries=16)
def preview_view(name: str, options_key: tuple, source: tuple = ()):
    """(the preview's pictures, its class-count chart), made once per data for every student: on every rerun of the
    Train page they cost ~0.1 s of server CPU (upscaling 16 images, validating the chart). The pictures are PNG data
    URIs, which st.image sends as they are (arrays it would encode again on every rerun: ~8 % of a Train switch)."""
    preview = cached_preview(name, options_key, source)
    pictures = [png_source(picture) for picture in figures.to_display(preview.images)]
    return pictures, figures.class_counts(preview.classes, preview.class_counts)


# --------------------------------------------------------------------------- data


def _dataset_label(info: datasets.DatasetInfo) -> str:
    if info.embedded or info.name == "imagefolder":
        return info.title
    try:
        on_disk = datasets.is_available(info.name)
    except ValueError:
        on_disk = False
    return info.title if on_disk else f"{info.title} (download)"


def _handle_upload(limits: Limits) -> None:
    """Extract a newly uploaded zip into a new image folder and select it (once per uploaded file)."""
    state = st.session_state
    uploaded = state.get("train_folder_zip")
    if uploaded is None:
        state.pop("train_zip_result", None)
        return
    marker = (uploaded.name, uploaded.size, getattr(uploaded, "file_id", ""))
    if state.get("train_zip_done") == marker:
        return
    state["train_zip_done"] = marker
    try:
        with st.spinner("Checking and extracting the zip…"):
            # The uploader is recorded with the folder and counted against their quota (the teacher's against none).
            owner = None if identity.is_teacher() else identity.current_person()
            result = archives.extract_image_zip(uploaded, uploaded.name, limits, owner=owner)
    except archives.ArchiveError as exc:
        state["train_zip_result"] = ("error", md_text(exc))  # it may quote a file name from the zip
        return
    state["train_image_folder"] = result.folder  # the selectbox is drawn after this
    skipped = f", {result.skipped:,} other files left out" if result.skipped else ""
    message = (f"Added **{md_text(result.folder)}**: {result.images:,} images in {len(result.classes)} classes "
               f"({md_text(', '.join(result.classes))}){skipped}.")
    state["train_zip_result"] = ("success", message)


def image_folder_picker(area, limits: Limits) -> str | None:
    """A choice among the data folder's image folders, or a new one from an uploaded zip. No path is typed."""
    st.file_uploader(f"Add your own: a zip of class folders (up to {limits.max_upload_mb} MB)", type=["zip"],
                     key="train_folder_zip", disabled=_locked(),
                     help=md_text("Inside the zip: train/<class>/*.jpg and test/<class>/*.jpg, or just "
                                  "<class>/*.jpg (20 % of each class is then kept for testing). Only image files "
                                  "are kept."))
    _handle_upload(limits)
    result = st.session_state.get("train_zip_result")
    if result:
        (st.success if result[0] == "success" else st.error)(result[1])
    # Another student's made dataset stays out of the list until they share it (a link naming one is cleared).
    folders = own_datasets.usable_folders(person=identity.current_person(), teacher=identity.is_teacher())
    if st.session_state.get("train_image_folder") not in folders:
        st.session_state.pop("train_image_folder", None)
    with area:
        return st.selectbox("Image folder", folders, key="train_image_folder", disabled=_locked(),
                            placeholder="none yet: upload a zip below",
                            index=kept_index(folders, "train_image_folder") if folders else None,
                            help="The sub-folders of the data folder's imagefolder/ folder.")


def _not_on_disk(name: str, exc: datasets.DatasetNotFoundError) -> None:
    """One sentence, a Download button, the details folded away."""
    title = _dataset_title(name)
    if name == "imagefolder":
        if st.session_state.get("train_image_folder"):  # a folder was chosen, but it is no dataset
            st.warning(md_text(str(exc)))
        else:
            st.info("No image folder yet: upload a zip of class folders, `train/<class>/*.jpg` and "
                    "`test/<class>/*.jpg`, or just `<class>/*.jpg`.")
        return
    st.warning(f"**{md_text(title)}** is not on this machine yet.")
    if st.button(f"Download {title}", key="train_download"):
        try:
            with st.spinner(f"Downloading {title}…"):
                datasets.download(name)
        except datasets.OfflineError:
            st.error(f"This machine is offline, so {title} cannot be downloaded here. Copy its files into the "
                     f"data folder (see below), or use a built-in dataset such as Digits or Shapes.")
        except (datasets.DatasetNotFoundError, ValueError, OSError) as error:
            st.error(f"The download did not work: {md_text(str(error).splitlines()[0])}")
        else:
            cached_preview.clear()
            preview_view.clear()
            st.rerun()
    with st.expander("Where the files go"):
        files = "\n".join(f"- `{f}`" for f in exc.files)
        st.markdown(f"Put these files in `{exc.folder or '<data folder>'}`:\n\n{files}\n\n"
                    f"or, on a machine with internet access, run `vision-core download {exc.command or name}` and "
                    f"copy the data folder here. The data folder is `$VISION_CORE_DATA` (default `./data`).")


def _missing_data_problem(name: str, folder: str | None) -> str:
    """Why Start waits for data, pointing at the control in section 1 that fixes it."""
    if name == "imagefolder":
        if folder:
            return (f"The image folder {folder} has no usable class folders: choose another, or upload a zip of "
                    "class folders with “Add your own” in 1 · Data.")
        return "No image folder yet: upload a zip of class folders with “Add your own” in 1 · Data."
    return (f"Download {_dataset_title(name)} first (the button in 1 · Data), or choose a built-in dataset such as "
            "Digits or Shapes.")


def data_section(limits: Limits) -> tuple[str, dict[str, Any], datasets.Preview | None, str | None]:
    """The dataset menus and a preview of the data → (name, options, preview, problem).

    The set-up's data is sized from its options and checked against the limits before anything is read or
    generated; ``problem`` says why Start is disabled (None when the data is fine).
    """
    infos = {info.name: info for info in datasets.list_datasets()}
    name = st.selectbox("Dataset", list(infos), key="train_dataset", disabled=_locked(),
                        index=kept_index(list(infos), "train_dataset"), format_func=lambda n: _dataset_label(infos[n]))
    st.caption(md_text(infos[name].description))
    options = dict(st.session_state.get("train_dataset_extra", {}))
    if st.session_state.get("train_dataset_for_extra") != name:
        options = {}  # options of another dataset do not carry over
    options.pop("root", None)  # a path is never taken from the form's state
    cols = st.columns(2)
    sizes = _image_size_choices()
    if st.session_state.get("train_image_size") not in sizes:
        st.session_state["train_image_size"] = "recipe default"
    size = cols[0].selectbox("Resize images to", list(sizes), key="train_image_size", disabled=_locked(),
                             index=kept_index(list(sizes), "train_image_size"))
    if sizes[size]:
        options["image_size"] = sizes[size]
    if name == "shapes":
        options["difficulty"] = cols[1].slider("Difficulty (noise, rotation, clutter)", 0.0, 1.0,
                                               float(options.get("difficulty", 0.3)), 0.1, key="train_difficulty", disabled=_locked())
    if name == "imagefolder":
        folder = image_folder_picker(cols[1].container(), limits)
        if folder:
            options["folder"] = folder
    st.session_state["train_dataset_extra"] = {k: v for k, v in options.items() if k not in ("image_size", "folder")}
    st.session_state["train_dataset_for_extra"] = name

    try:
        # The gate's data half, from the options alone: a link asking for 400,000 images of 512×512 stops here.
        guards.check_data(datasets.plan(name, **options), limits)
        source = datasets.source_stamp(name, folder=options.get("folder"))
        preview = cached_preview(name, tuple(sorted(options.items())), source)
        pictures, counts_chart = preview_view(name, tuple(sorted(options.items())), source)
    except datasets.DatasetNotFoundError as exc:
        _not_on_disk(name, exc)
        return name, options, None, _missing_data_problem(name, options.get("folder"))
    except guards.GuardError as exc:
        st.error(md_text(exc))
        return name, options, None, str(exc)
    except (ValueError, TypeError, OSError) as exc:
        st.error(f"This dataset cannot be loaded: {md_text(exc)}")
        return name, options, None, f"This dataset cannot be loaded: {exc}"

    c, h, w = preview.input_shape
    st.markdown(f"**{preview.train:,}** train · **{preview.val:,}** validation · **{preview.test:,}** test "
                f"images of **{c}×{h}×{w}** · {len(preview.classes)} classes")
    st.image(pictures, caption=[plain(preview.classes[int(i)]) for i in preview.labels], width=72)
    st.plotly_chart(counts_chart, key="train_counts_chart")
    return name, options, preview, None


def augment_section(dataset: datasets.Preview | None) -> dict[str, Any]:
    st.markdown("**Augmentation** (random, on the GPU/CPU tensors, a new view every epoch)")
    cols = st.columns(len(augment.AUGMENTATIONS))
    chosen = {}
    strengths = st.session_state.get("train_aug_strengths", {})  # a recipe's or a link's own strengths
    for col, name in zip(cols, augment.AUGMENTATIONS):
        if col.toggle(name, bool(kept(f"train_aug_{name}")), key=f"train_aug_{name}", disabled=_locked()):
            chosen[name] = strengths.get(name, True)
    if chosen and dataset is not None:
        images = dataset.images[:8].float() / 255
        generator = torch.Generator().manual_seed(int(st.session_state.get("train_aug_roll", 0)))
        views = augment.augment_batch(images, augment.validate_augment(chosen), generator=generator)
        # One labelled row each: a caption under every 64-pixel image broke "augmented" mid-word.
        st.caption("Original images")
        st.image(figures.to_display(images), width=64)
        st.caption("The same images augmented (a new random view every epoch)")
        st.image(figures.to_display(views), width=64)
        if st.button("Another random view", key="train_aug_reroll"):
            st.session_state["train_aug_roll"] = int(st.session_state.get("train_aug_roll", 0)) + 1
            st.rerun()
    return chosen


# --------------------------------------------------------------------------- numbers, never clamped


def number(col, label: str, key: str, low: float, high: float, problems: list[str], value: Any = None,
           **kwargs: Any) -> Any:
    """A number box with no built-in bounds (the browser would keep the last valid value silently); a value
    outside [low, high] shows a red line under the box and adds the reason to ``problems``."""
    shown = kept(key, value)
    if isinstance(shown, (int, float)) and not isinstance(shown, bool):
        kwargs["value"] = float(shown)  # every number box here is a float box (an int would clash with its step)
    got = col.number_input(label, key=key, disabled=_locked(), **kwargs)
    if got is None or not low <= got <= high:
        shown = "nothing" if got is None else f"{got:g}"
        reason = f"{label} must be between {low:g} and {high:g}, got {shown}"
        col.error(reason + ".")
        problems.append(reason)
    return got


# Digits, optionally grouped by threes with one kind of separator: "1024", "1,024", "1 024", "2_147_483_647".
_WHOLE = re.compile(r"[+-]?(\d+|\d{1,3}(?P<sep>[,_ '\u00a0\u202f])\d{3}(?:(?P=sep)\d{3})*)")
_WHOLE_MAX_CHARS = 20  # the seed's 2,147,483,647 with separators fits; a pasted page does not reach the server


def parse_whole_number(text: str) -> int:
    """``"1,024"`` → 1024. A fraction, a letter or an empty box raises ValueError quoting what was typed.

    Streamlit's number box rounds in the browser (12.7 arrives as 12), so whole-number fields are text boxes
    read here, where "12.7" can still be refused."""
    typed = str(text).strip()
    match = _WHOLE.fullmatch(typed)
    if match is None:
        raise ValueError(f"“{typed}” is not a whole number" if typed else "the box is empty")
    return int(re.sub(r"[^\d+-]", "", typed))


def whole_number(col, label: str, key: str, low: int, high: int, problems: list[str],
                 value: int | None = None) -> int | None:
    """A text box for a whole number in [low, high]: what is typed is read on the server, never rounded or
    clamped; a fraction, letters or a value out of range disable Start with a sentence that quotes it.

    The box's state (``st.session_state[key]``) is the text; a set-up link or a recipe puts ``str(value)`` there."""
    state = st.session_state
    if key in state and not isinstance(state[key], str):
        state[key] = str(state[key])  # set by older code or a test as a number
    if key not in state and value is not None:
        state[key] = str(value)
    typed = col.text_input(label, kept(key, ""), key=key, disabled=_locked(), max_chars=_WHOLE_MAX_CHARS,
                           help=f"A whole number from {low:,} to {high:,}.")
    try:
        got = parse_whole_number(typed)
    except ValueError as exc:
        reason = f"{label} must be a whole number between {low:,} and {high:,}: {exc}"
    else:
        if low <= got <= high:
            return got
        reason = f"{label} must be between {low:,} and {high:,}, got {got:,}"
    col.error(md_text(reason) + ".")  # it quotes what a student typed
    problems.append(reason)
    return None


def custom_options(current: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    """The template [[Conv → ReLU]×N → Pool?]×M → [Linear → ReLU]×K → Linear (the model's description above the
    boxes says it once)."""
    def given(option: str, default: int) -> int:
        value = current.get(option)  # None after a box held no whole number
        return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default

    c = st.columns(4)
    opts = {
        "blocks": whole_number(c[0], "Blocks M", "train_opt_blocks", 0, 6, problems, given("blocks", 2)),
        "convs_per_block": whole_number(c[1], "Convs per block N", "train_opt_convs", 0, 3, problems,
                                        given("convs_per_block", 2)),
        "channels": whole_number(c[2], "Channels", "train_opt_channels", 1, 256, problems, given("channels", 16)),
        "kernel_size": whole_number(c[3], "Kernel", "train_opt_kernel", 1, 11, problems, given("kernel_size", 3)),
    }
    c = st.columns(4)
    opts["padding"] = whole_number(c[0], "Padding", "train_opt_padding", 0, 5, problems, given("padding", 1))
    opts["stride"] = whole_number(c[1], "Stride", "train_opt_stride", 1, 4, problems, given("stride", 1))
    pool = c[2].selectbox("Pooling", ["max", "avg", "none"], key="train_opt_pool", disabled=_locked(),
                          index=["max", "avg", "none"].index(current.get("pool", "max") or "none"))
    opts["pool"] = None if pool == "none" else pool
    opts["linear_layers"] = whole_number(c[3], "Hidden Linear layers K", "train_opt_linear", 0, 2, problems,
                                         given("linear_layers", 1))
    c = st.columns(3)
    opts["hidden_units"] = whole_number(c[0], "Hidden units", "train_opt_hidden", 1, 2048, problems,
                                        given("hidden_units", 64))
    opts["batchnorm"] = c[1].toggle("BatchNorm", bool(current.get("batchnorm", False)), key="train_opt_bn", disabled=_locked())
    opts["dropout"] = c[2].slider("Dropout", 0.0, 0.9, float(current.get("dropout", 0.0)), 0.05,
                                  key="train_opt_dropout", disabled=_locked())
    return {k: (int(v) if isinstance(v, float) and k != "dropout" else v) for k, v in opts.items()}


# --------------------------------------------------------------------------- model


def model_section(dataset: datasets.Preview | None) -> tuple[str, dict[str, Any], str | None]:
    """Returns (model name, options, problem) — problem says why it cannot be trained as set."""
    names = models.list_models()
    name = st.selectbox("Architecture", names, key="train_model", disabled=_locked(),
                        index=kept_index(names, "train_model"),
                        format_func=lambda n: f"{n} — {models.model_info(n).title}")
    st.caption(md_text(models.model_info(name).description))
    current = st.session_state.get("train_model_options", {}) if st.session_state.get(
        "train_model_options_for") in (None, name) else {}
    options: dict[str, Any] = {}
    problems: list[str] = []
    if name == "custom":
        options = custom_options(current, problems)
    elif name in ("tinyvgg", "linear", "mlp"):
        options["hidden_units"] = whole_number(st, "Hidden units", f"train_opt_hidden_{name}", 1, 512, problems,
                                               int(current.get("hidden_units", 10)))
        if name == "mlp":
            options["relu_on_logits"] = st.toggle("ReLU on the logits (as the tutorial's V1 — worth comparing)",
                                                  bool(current.get("relu_on_logits", True)),
                                                  key="train_opt_relu_logits", disabled=_locked())
    st.session_state["train_model_options"] = options
    st.session_state["train_model_options_for"] = name
    if problems:
        return name, options, "; ".join(problems)
    if dataset is None:
        return name, options, "Choose a dataset that is on disk first."
    try:
        total, table, chart = model_preview(name, json.dumps(options, sort_keys=True, default=repr),
                                            tuple(dataset.input_shape), len(dataset.classes), options)
    except (ValueError, TypeError) as exc:
        st.error(f"**This model cannot take {md_text(dataset.name)} images of "
                 f"{'×'.join(map(str, dataset.input_shape))}.** {md_text(exc)}")
        return name, options, str(exc)
    st.markdown(f"**{total:,} parameters** on input {'×'.join(map(str, dataset.input_shape))}")
    cols = st.columns([3, 2])
    cols[0].dataframe(table, hide_index=True, key="train_summary_table")
    cols[1].plotly_chart(chart, key="train_param_chart")
    return name, options, None


@shared_figures(max_entries=64)
def model_preview(name: str, options_key: str, input_shape: tuple[int, int, int], num_classes: int,
                  _options: dict[str, Any]):
    """(parameters, the layer table, the parameter chart) of a model for this input, made once for every student
    (the chart alone cost ~0.1 s of server CPU on every rerun of the Train page). ``options_key`` names
    ``_options`` (their JSON). Raises what ``models.build`` raises for a model that does not fit the input (not
    cached: the error is shown each time)."""
    # On the meta device: shapes and parameter counts without one byte of weights (a 2-billion-parameter
    # model previews in milliseconds).
    model = guards.meta_model(name, _options, input_shape, num_classes)
    rows = models.summary(model, input_shape)
    table = pd.DataFrame([{"layer": r.name, "what": r.description, "output shape": "×".join(map(str, r.output_shape)),
                           "parameters": r.params} for r in rows])
    return models.total_params(model), table, figures.parameter_bars(rows)


# --------------------------------------------------------------------------- training


def has_gpu() -> bool:
    return guards.gpu_memory_bytes() is not None  # asked once per server


def hyper_section(limits: Limits) -> tuple[dict[str, Any], list[str]]:
    problems: list[str] = []
    c = st.columns(4)
    values = {
        "optimizer": c[0].selectbox("Optimiser", OPTIMIZERS, key="train_optimizer", disabled=_locked(),
                                    index=kept_index(list(OPTIMIZERS), "train_optimizer")),
        "lr": number(c[1], "Learning rate", "train_lr", 1e-6, 10.0, problems, format="%g", step=1e-4),
        "momentum": number(c[2], "Momentum (SGD)", "train_momentum", 0.0, 0.999, problems, step=0.1),
        "weight_decay": number(c[3], "Weight decay (L2)", "train_weight_decay", 0.0, 1.0, problems, format="%g",
                               step=1e-4),
    }
    c = st.columns(4)
    values["batch_size"] = whole_number(c[0], "Batch size", "train_batch_size", 1, limits.max_batch_size, problems)
    values["epochs"] = whole_number(c[1], "Epochs", "train_epochs", 1, limits.max_epochs, problems)
    values["seed"] = whole_number(c[2], "Seed", "train_seed", 0, 2**31 - 1, problems)
    gpu = has_gpu()
    devices = ["auto", "cpu", "gpu"] if gpu else ["auto", "cpu"]
    values["accelerator"] = c[3].selectbox("Device", devices, key="train_accelerator", disabled=_locked(),
                                           index=kept_index(devices, "train_accelerator"),
                                           help=None if gpu else "No GPU on this machine: auto means CPU.")
    c = st.columns(3)
    values["scheduler"] = c[0].selectbox("LR schedule", SCHEDULERS, key="train_scheduler", disabled=_locked(),
                                         index=kept_index(list(SCHEDULERS), "train_scheduler"))
    values["early_stopping_patience"] = whole_number(c[1], "Early stopping patience (0 = off)", "train_patience",
                                                     0, 50, problems)
    values["snapshot_every"] = whole_number(c[2], "Snapshot filters every N steps (0 = off)",
                                            "train_snapshot_every", 0, 10000, problems)
    values["fast"] = st.toggle("Fast mode", bool(kept("train_fast")), key="train_fast", disabled=_locked(),
                               help="The speed options this device supports: on a GPU bfloat16 autocast, "
                                    "channels-last, a fused optimiser and cuDNN autotuning; on the CPU the fused "
                                    "optimiser. They pay on big models and batches; on a small model they cost more "
                                    "than they save (LeNet on the digits took 7.5 s fast, 2.5 s plain, on an H200). "
                                    "The numbers differ slightly from a plain run.")
    for key in ("batch_size", "epochs", "seed", "early_stopping_patience", "snapshot_every"):
        if values[key] is not None:
            values[key] = int(values[key])
    return values, problems


# --------------------------------------------------------------------------- a challenge


def _enter_challenge() -> None:
    """Menu callback (and ``?challenge=``): the challenge's dataset and options in the form, its epochs at most."""
    state = st.session_state
    try:
        challenge = challenges.load_challenge(state.get("train_challenge") or "")
    except challenges.ChallengeError:
        return
    state["train_dataset"] = challenge.dataset
    state["train_dataset_extra"] = dict(challenge.dataset_options)
    state["train_dataset_for_extra"] = challenge.dataset
    epochs = str(state.get("train_epochs", ""))
    if challenge.max_epochs is not None and (not epochs.isdigit() or int(epochs) > challenge.max_epochs):
        state["train_epochs"] = str(challenge.max_epochs)


def challenge_section() -> str:
    """The challenge this run is for ("" for none): a menu of the open ones, set once by a ``?challenge=`` link.
    The form only helps here: the gate (below, at submission and in the worker) enforces the rules."""
    state = st.session_state
    found = [c for c in challenges.scan_challenges()[0] if c.is_open()]
    if not found and not st.query_params.get("challenge"):
        state["train_challenge"] = ""
        return ""
    by_name = {c.name: c for c in found}
    wanted = st.query_params.get("challenge")
    if wanted and state.get("train_challenge_link") != wanted:
        state["train_challenge_link"] = wanted
        if wanted in by_name:
            state["train_challenge"] = wanted
            _enter_challenge()
        else:
            st.error(f"The challenge {md_text(wanted[:40])} of this link is not open (or does not exist): this is a "
                     "run outside any challenge.")
    if state.get("train_challenge") not in by_name:
        state["train_challenge"] = ""
    name = st.selectbox("For a challenge", ["", *by_name], key="train_challenge", disabled=_locked(),
                        index=kept_index(["", *by_name], "train_challenge"),
                        on_change=_enter_challenge,
                        format_func=lambda n: by_name[n].title if n else "None: a run of your own")
    if name:
        challenge = by_name[name]
        rules = challenge.constraints()
        closes = f" It closes at {challenges.when(challenge.deadline)}." if challenge.deadline else ""
        st.info(f"For **{plain(challenge.title)}**: dataset **{md_text(challenge.dataset)}**, "
                f"{md_text('; '.join(rules)) if rules else 'no rules beyond the classroom limits'}. The server scores "
                f"the finished run on {challenge.held_out:,} held-out images that it never trains or validates on."
                + closes)
    return name


# --------------------------------------------------------------------------- the whole form


def _load_limits() -> tuple[Limits, str | None]:
    try:
        return load_limits(), None
    except ValueError as exc:  # the teacher's file has a typo: say so, and keep the safe defaults meanwhile
        return Limits(), f"The classroom limits file has a problem ({exc}); using the default limits."


def _follow_the_form(config: RunConfig | None) -> None:
    """The recipe menu and its notice describe the form as it is: a change by the student ends both."""
    state = st.session_state
    now = config.to_json() if config is not None else None
    if state.pop("train_just_applied", False):
        pass  # this read-out is the config just applied (a recipe, the quick start)
    elif "train_form_config" in state and now != state["train_form_config"]:
        state["train_preset"] = OWN_SETUP
        state["train_notice"] = ""
    state["train_form_config"] = now


def _recipe_menu() -> None:
    cols = st.columns([3, 1])
    choices = [OWN_SETUP, *presets.PRESETS]
    cols[0].selectbox("Tutorial recipe", choices, key="train_preset", disabled=_locked(), on_change=load_preset,
                      index=kept_index(choices, "train_preset"),
                      format_func=lambda k: "Your own set-up" if k == OWN_SETUP else presets.PRESETS[k].title)
    cols[1].button("Load recipe", key="train_load_preset", disabled=_locked(), on_click=load_preset, use_container_width=True,
                   help="Put the chosen recipe's values (back) into the form")
    if st.session_state.get("train_notice"):
        st.info(st.session_state["train_notice"])


def config_form() -> tuple[RunConfig | None, str | None]:
    """Draw the whole form; returns (config, problem). ``problem`` explains why Start is disabled."""
    _defaults()
    if st.session_state.get("train_accelerator") == "gpu" and not has_gpu():
        st.session_state["train_accelerator"] = "auto"
    if st.session_state.get("train_preset") not in (OWN_SETUP, *presets.PRESETS):
        st.session_state["train_preset"] = OWN_SETUP
    _open_setup_link()
    limits, limits_problem = _load_limits()
    if limits_problem:
        st.warning(limits_problem)
    top = st.container()  # the recipe menu, drawn last: it follows what the form below holds
    challenge = challenge_section()

    with st.expander("1 · Data", expanded=True):
        dataset_name, dataset_options, dataset, data_problem = data_section(limits)
        augmentation = augment_section(dataset)
    with st.expander("2 · Model", expanded=True):
        model_name, model_options, problem = model_section(dataset)
        problem = data_problem or problem
        estimate_area = st.empty()
    with st.expander("3 · Training", expanded=True):
        hyper, hyper_problems = hyper_section(limits)
        carried = st.session_state.get("train_carried", {})
        if carried:
            st.caption("Also in this set-up: " + md_text(", ".join(f"{k} = {v}" for k, v in carried.items())))

    config = None
    if hyper_problems:
        problem = "; ".join(hyper_problems)
    else:
        try:
            carried = st.session_state.get("train_carried", {})
            config = RunConfig(dataset=dataset_name, dataset_options=dataset_options, model=model_name,
                               model_options=model_options, augment=augmentation, challenge=challenge, **hyper,
                               **carried)
        except (ValueError, TypeError) as exc:
            problem = str(exc)
    if config is not None and problem is None and dataset is not None:
        try:
            estimate = guards.gate(config, limits)  # the same gate a worker and the command line pass
        except (guards.GuardError, challenges.ChallengeError) as exc:
            estimate_area.error(md_text(exc))
            problem = str(exc)
        except (ValueError, TypeError) as exc:
            problem = str(exc)
        else:
            estimate_area.caption(f"Memory to train: {estimate.describe()}; this classroom allows "
                                  f"{guards.human_bytes(guards.memory_limit_bytes(limits, config))} per job.")
    _follow_the_form(config)
    with top:
        _recipe_menu()
        if _locked():
            st.info("This set-up comes from a shared link and is locked: press **Start training** to train it.")
    if config is not None and not _locked():
        share_box(config)
    return config, problem


# --------------------------------------------------------------------------- shareable set-ups


def _open_setup_link() -> None:
    """``?setup=…`` fills the form once per link (a refresh fills it again); ``&locked=1`` disables the widgets."""
    state = st.session_state
    token = st.query_params.get("setup")
    if not token:
        state["train_locked"] = False
        return
    if state.get("train_setup_token") != token:
        state["train_setup_token"] = token
        try:
            config = setups.decode(token)
        except ValueError as exc:
            state["train_setup_error"] = str(exc)
        else:
            state.pop("train_setup_error", None)
            apply_config(config, "" if st.query_params.get("locked") == "1" else
                         "Filled in from a shared link: change anything you like, then start.")
    error = state.get("train_setup_error")
    if error:
        st.error(f"This set-up link cannot be opened: {md_text(error)}. The form below is your own set-up.")
    state["train_locked"] = error is None and st.query_params.get("locked") == "1"


def share_link(config: RunConfig, locked: bool = False) -> str:
    """This page's address with the set-up in ``?setup=`` (and ``&locked=1``)."""
    try:
        base = st.context.url or ""
    except Exception:  # noqa: BLE001 — no browser behind this session (AppTest): a relative link
        base = ""
    base = base or "/train"
    return f"{base}?setup={setups.encode(config)}" + ("&locked=1" if locked else "")


SHARE_LABELS = ("Link to share (students can change it)", "Locked link (students cannot change the set-up)")


def share_box(config: RunConfig) -> None:
    """The two links, each under its own label and wrapped in full: the ``&locked=1`` that tells them apart is at
    the very end of a long address, past the width of a one-line box."""
    with st.expander("Share this set-up"):
        st.caption("Anyone who opens a link gets this form filled in the same way. Copy it with the button at the "
                   "right of its box.")
        for label, locked in zip(SHARE_LABELS, (False, True)):
            st.markdown(f"**{label}**")
            st.code(share_link(config, locked=locked), language=None, wrap_lines=True)
