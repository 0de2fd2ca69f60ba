"""The Train page's set-up form: data, model, recipe presets and hyper-parameters → a RunConfig."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st
import torch

from vision_core import augment, datasets, figures, models, presets
from vision_core.config import OPTIMIZERS, SCHEDULERS, RunConfig

IMAGE_SIZES = {"recipe default": None, "28 × 28": 28, "32 × 32": 32, "64 × 64": 64}
QUICKSTART = RunConfig(dataset="digits", model="lenet", optimizer="adam", lr=2e-3, batch_size=32, epochs=10,
                       name="")

# Widget key → RunConfig field, for the plain hyper-parameters.
HYPER_KEYS = {"train_optimizer": "optimizer", "train_lr": "lr", "train_momentum": "momentum",
              "train_weight_decay": "weight_decay", "train_scheduler": "scheduler",
              "train_batch_size": "batch_size", "train_epochs": "epochs", "train_seed": "seed",
              "train_accelerator": "accelerator", "train_patience": "early_stopping_patience",
              "train_snapshot_every": "snapshot_every"}


def apply_config(config: RunConfig, notice: str = "") -> None:
    """Put a config into the form's widgets (used by presets and the home page's quick start)."""
    state = st.session_state
    state["train_dataset"] = config.dataset
    size = config.dataset_options.get("image_size")
    state["train_image_size"] = next((k for k, v in IMAGE_SIZES.items() if v == size), "recipe default")
    state["train_model"] = config.model
    state["train_model_options"] = dict(config.model_options)
    state["train_dataset_extra"] = {k: v for k, v in config.dataset_options.items() if k != "image_size"}
    for key, field in HYPER_KEYS.items():
        state[key] = getattr(config, field)
    for name in augment.AUGMENTATIONS:
        state[f"train_aug_{name}"] = bool(config.augment.get(name))
    state["train_notice"] = notice
    for key in list(state.keys()):  # custom-model widgets re-read their defaults from the new options
        if key.startswith("train_opt_"):
            del state[key]


def load_preset() -> None:
    """Button callback: the recipe, or its closest embedded dataset when the real one is not on disk."""
    preset = presets.get_preset(st.session_state["train_preset"])  # the current choice, not the last render's
    config = preset.config
    root = config.dataset_options.get("root")
    if not datasets.is_available(config.dataset, root=root):
        apply_config(presets.with_fallback(preset),
                     f"**{preset.title}**: the {config.dataset} data is not on disk, so this uses the closest "
                     f"embedded dataset (**{preset.fallback_dataset}**) with the same model and recipe. "
                     f"Pick {config.dataset} below to see how to get the real data.")
    else:
        apply_config(config, f"Loaded **{preset.title}** ({preset.source}). Reported: {preset.reported}.")


def _defaults() -> None:
    if "train_dataset" not in st.session_state:
        apply_config(QUICKSTART)


@st.cache_resource(show_spinner="Loading the dataset…", max_entries=4)
def cached_dataset(name: str, options_key: tuple) -> datasets.ImageDataset:
    # Shared by every session: datasets are read-only once loaded.
    return datasets.load(name, **dict(options_key))


def data_section() -> tuple[str, dict[str, Any], datasets.ImageDataset | None]:
    infos = {info.name: info for info in datasets.list_datasets()}
    name = st.selectbox("Dataset", list(infos), key="train_dataset",
                        format_func=lambda n: f"{infos[n].title}" + ("" if infos[n].embedded else " (download)"))
    st.caption(infos[name].description)
    options = dict(st.session_state.get("train_dataset_extra", {}))
    if st.session_state.get("train_dataset_for_extra") != name:
        options = {}  # options of another dataset do not carry over
    cols = st.columns(2)
    size = cols[0].selectbox("Resize images to", list(IMAGE_SIZES), key="train_image_size")
    if IMAGE_SIZES[size]:
        options["image_size"] = IMAGE_SIZES[size]
    if name == "shapes":
        options["difficulty"] = cols[1].slider("Difficulty (noise, rotation, clutter)", 0.0, 1.0,
                                               float(options.get("difficulty", 0.3)), 0.1, key="train_difficulty")
    if name == "imagefolder":
        options["root"] = cols[1].text_input(
            "Image folder (train/<class>/*.jpg, test/<class>/*.jpg)",
            value=str(options.get("root", datasets.data_root() / "imagefolder")), key="train_folder")
    st.session_state["train_dataset_extra"] = {k: v for k, v in options.items() if k != "image_size"}
    st.session_state["train_dataset_for_extra"] = name

    try:
        dataset = cached_dataset(name, tuple(sorted(options.items())))
    except datasets.DatasetNotFoundError as exc:
        st.warning(f"**{infos[name].title} is not on this machine.** {exc}")
        return name, options, None
    except (ValueError, OSError) as exc:
        st.error(f"This dataset cannot be loaded: {exc}")
        return name, options, None

    c, h, w = dataset.input_shape
    val = len(dataset.val) if dataset.val is not None else 0
    st.markdown(f"**{len(dataset.train):,}** train · **{val:,}** validation · **{len(dataset.test):,}** test "
                f"images of **{c}×{h}×{w}** · {len(dataset.classes)} classes")
    sample = torch.arange(0, min(16, len(dataset.train)))
    st.image(figures.to_display(dataset.train.images[sample]),
             caption=[dataset.classes[int(i)] for i in dataset.train.labels[sample]], width=72)
    st.plotly_chart(figures.class_counts(dataset.classes, dataset.train.class_counts()),
                    key="train_counts_chart")
    return name, options, dataset


def augment_section(dataset: datasets.ImageDataset | None) -> dict[str, Any]:
    st.markdown("**Augmentation** (random, on the GPU/CPU tensors, a new view every epoch)")
    cols = st.columns(len(augment.AUGMENTATIONS))
    chosen = {}
    for col, name in zip(cols, augment.AUGMENTATIONS):
        if col.toggle(name, key=f"train_aug_{name}"):
            chosen[name] = True
    if chosen and dataset is not None:
        images = dataset.train.images[:8].float() / 255
        generator = torch.Generator().manual_seed(int(st.session_state.get("train_aug_roll", 0)))
        views = augment.augment_batch(images, augment.validate_augment(chosen), generator=generator)
        st.image(figures.to_display(torch.cat([images, views])), width=64,
                 caption=["original"] * len(images) + ["augmented"] * len(views))
        if st.button("Another random view", key="train_aug_reroll"):
            st.session_state["train_aug_roll"] = int(st.session_state.get("train_aug_roll", 0)) + 1
            st.rerun()
    return chosen


def custom_options(current: dict[str, Any]) -> dict[str, Any]:
    """The template [[Conv → ReLU]×N → Pool?]×M → [Linear → ReLU]×K → Linear."""
    st.caption("Template: Input → [[Conv → (BatchNorm) → ReLU] × N → Pool] × M → [Linear → ReLU → (Dropout)] × K "
               "→ Linear")
    c = st.columns(4)
    opts = {
        "blocks": c[0].number_input("Blocks M", 0, 6, int(current.get("blocks", 2)), key="train_opt_blocks"),
        "convs_per_block": c[1].number_input("Convs per block N", 0, 3, int(current.get("convs_per_block", 2)),
                                             key="train_opt_convs"),
        "channels": c[2].number_input("Channels", 1, 256, int(current.get("channels", 16)), key="train_opt_channels"),
        "kernel_size": c[3].number_input("Kernel", 1, 11, int(current.get("kernel_size", 3)), key="train_opt_kernel"),
    }
    c = st.columns(4)
    opts["padding"] = c[0].number_input("Padding", 0, 5, int(current.get("padding", 1)), key="train_opt_padding")
    opts["stride"] = c[1].number_input("Stride", 1, 4, int(current.get("stride", 1)), key="train_opt_stride")
    pool = c[2].selectbox("Pooling", ["max", "avg", "none"], key="train_opt_pool",
                          index=["max", "avg", "none"].index(current.get("pool", "max") or "none"))
    opts["pool"] = None if pool == "none" else pool
    opts["linear_layers"] = c[3].number_input("Hidden Linear layers K", 0, 2, int(current.get("linear_layers", 1)),
                                              key="train_opt_linear")
    c = st.columns(3)
    opts["hidden_units"] = c[0].number_input("Hidden units", 1, 2048, int(current.get("hidden_units", 64)),
                                             key="train_opt_hidden")
    opts["batchnorm"] = c[1].toggle("BatchNorm", bool(current.get("batchnorm", False)), key="train_opt_bn")
    opts["dropout"] = c[2].slider("Dropout", 0.0, 0.9, float(current.get("dropout", 0.0)), 0.05,
                                  key="train_opt_dropout")
    return {k: (int(v) if isinstance(v, float) and k != "dropout" else v) for k, v in opts.items()}


def model_section(dataset: datasets.ImageDataset | None) -> tuple[str, dict[str, Any], str | None]:
    """Returns (model name, options, problem) — problem is the shape message when it cannot take the data."""
    names = models.list_models()
    name = st.selectbox("Architecture", names, key="train_model",
                        format_func=lambda n: f"{n} — {models.model_info(n).title}")
    st.caption(models.model_info(name).description)
    current = st.session_state.get("train_model_options", {}) if st.session_state.get(
        "train_model_options_for") in (None, name) else {}
    options: dict[str, Any] = {}
    if name == "custom":
        options = custom_options(current)
    elif name in ("tinyvgg", "linear", "mlp"):
        options["hidden_units"] = int(st.number_input("Hidden units", 1, 512, int(current.get("hidden_units", 10)),
                                                      key=f"train_opt_hidden_{name}"))
        if name == "mlp":
            options["relu_on_logits"] = st.toggle("ReLU on the logits (as the tutorial's V1 — worth comparing)",
                                                  bool(current.get("relu_on_logits", True)),
                                                  key="train_opt_relu_logits")
    st.session_state["train_model_options"] = options
    st.session_state["train_model_options_for"] = name
    if dataset is None:
        return name, options, "Choose a dataset that is on disk first."
    try:
        model = models.build(name, in_channels=dataset.channels, num_classes=len(dataset.classes),
                             image_size=dataset.image_size, **options)
        rows = models.summary(model, dataset.input_shape)
    except (ValueError, TypeError) as exc:
        st.error(f"**This model cannot take {dataset.name} images of "
                 f"{'×'.join(map(str, dataset.input_shape))}.** {exc}")
        return name, options, str(exc)
    table = pd.DataFrame([{"layer": r.name, "what": r.description, "output shape": "×".join(map(str, r.output_shape)),
                           "parameters": r.params} for r in rows])
    st.markdown(f"**{models.total_params(model):,} parameters** on input "
                f"{'×'.join(map(str, dataset.input_shape))}")
    cols = st.columns([3, 2])
    cols[0].dataframe(table, hide_index=True, key="train_summary_table")
    cols[1].plotly_chart(figures.parameter_bars(rows), key="train_param_chart")
    return name, options, None


def hyper_section() -> dict[str, Any]:
    c = st.columns(4)
    values = {
        "optimizer": c[0].selectbox("Optimiser", OPTIMIZERS, key="train_optimizer"),
        "lr": c[1].number_input("Learning rate", 1e-6, 10.0, key="train_lr", format="%g", step=1e-4),
        "momentum": c[2].number_input("Momentum (SGD)", 0.0, 0.999, key="train_momentum", step=0.1),
        "weight_decay": c[3].number_input("Weight decay (L2)", 0.0, 1.0, key="train_weight_decay", format="%g",
                                          step=1e-4),
    }
    c = st.columns(4)
    values["batch_size"] = int(c[0].number_input("Batch size", 1, 4096, key="train_batch_size"))
    values["epochs"] = int(c[1].number_input("Epochs", 1, 500, key="train_epochs"))
    values["seed"] = int(c[2].number_input("Seed", 0, 2**31 - 1, key="train_seed"))
    gpu = torch.cuda.is_available()
    values["accelerator"] = c[3].selectbox("Device", ["auto", "cpu", "gpu"] if gpu else ["auto", "cpu"],
                                           key="train_accelerator",
                                           help=None if gpu else "No GPU on this machine: auto means CPU.")
    c = st.columns(3)
    values["scheduler"] = c[0].selectbox("LR schedule", SCHEDULERS, key="train_scheduler")
    values["early_stopping_patience"] = int(c[1].number_input("Early stopping patience (0 = off)", 0, 50,
                                                              key="train_patience"))
    values["snapshot_every"] = int(c[2].number_input("Snapshot filters every N steps (0 = off)", 0, 10000,
                                                     key="train_snapshot_every"))
    return values


def config_form() -> tuple[RunConfig | None, str | None]:
    """Draw the whole form; returns (config, problem). ``problem`` explains why Start is disabled."""
    _defaults()
    if st.session_state.get("train_accelerator") == "gpu" and not torch.cuda.is_available():
        st.session_state["train_accelerator"] = "auto"
    cols = st.columns([3, 1])
    cols[0].selectbox("Tutorial recipe", list(presets.PRESETS), key="train_preset",
                               format_func=lambda k: presets.PRESETS[k].title)
    cols[1].button("Load recipe", key="train_load_preset", on_click=load_preset,
                   use_container_width=True)
    if st.session_state.get("train_notice"):
        st.info(st.session_state["train_notice"])

    with st.expander("1 · Data", expanded=True):
        dataset_name, dataset_options, dataset = data_section()
        augmentation = augment_section(dataset)
    with st.expander("2 · Model", expanded=True):
        model_name, model_options, problem = model_section(dataset)
    with st.expander("3 · Training", expanded=True):
        hyper = hyper_section()
    try:
        config = RunConfig(dataset=dataset_name, dataset_options=dataset_options, model=model_name,
                           model_options=model_options, augment=augmentation, **hyper)
    except ValueError as exc:
        return None, str(exc)
    return config, problem
