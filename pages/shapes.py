"""Shape explorer: how every layer changes the shape of the data and where the parameters live."""

import pandas as pd
import streamlit as st

from ui.frame import ensure_app_frame
from ui.kept import kept, kept_index
from vision_core.figures import training as figures
from vision_core.lessons import shapes
from vision_core.models import zoo as models

ensure_app_frame()  # a cold server's first request goes through app.py

PRESETS = {  # label → (C, H, W)
    "digits 1×32×32": (1, 32, 32),
    "MNIST 1×28×28": (1, 28, 28),
    "CIFAR-10 3×32×32": (3, 32, 32),
    "photos 3×64×64": (3, 64, 64),
}
CUSTOM_DEFAULTS = models.model_info("custom").options

st.title("📐 Shape explorer")
st.markdown("Pick a network and an input size: see the shape after every layer and where the parameters live. "
            "Nothing is trained here.")


def use_shape(shape: tuple[int, int, int]) -> None:
    st.session_state["shape_c"], st.session_state["shape_h"], st.session_state["shape_w"] = shape


def on_model_change() -> None:
    use_shape(models.model_info(st.session_state["shape_model"]).recipe_input)  # start from what it was made for


def on_preset_change() -> None:
    if st.session_state["shape_preset"] in PRESETS:
        use_shape(PRESETS[st.session_state["shape_preset"]])


# Cached by their inputs and shared by every session: exploring builds the network (a VGG: ~0.1-0.3 s of CPU) and
# the page asks for three explorations and a LeNet on every rerun; a class mostly looks at the same few networks.
@st.cache_resource(max_entries=64, show_spinner=False)
def explore(name: str, input_shape: tuple[int, int, int], num_classes: int, options: dict):
    """(per-layer rows, the shape-mismatch explanation or None, the parameter chart or None); on a mismatch, the
    rows traced before it. Read-only: the same objects go to every session."""
    report = shapes.explore(name, input_shape, num_classes=num_classes, **options)
    chart = figures.parameter_bars(report.rows) if report.rows and not report.error else None
    return tuple(report.rows), report.error, chart


def flatten_size(rows) -> int:
    return next(r.output_shape[0] for r in rows if r.name == "flatten")


@st.cache_resource(max_entries=32, show_spinner=False)
def recipe_first_linear(name: str) -> str:
    """``Linear(400 → 120)`` for LeNet: the layer that strict_input keeps as the recipe wrote it."""
    c, h, w = models.model_info(name).recipe_input
    model = models.build(name, in_channels=c, num_classes=10, image_size=(h, w))
    return next((models.describe(m) for m in model.modules() if m.__class__.__name__ == "Linear"), "Linear layers")


def custom_options() -> dict:
    """The custom template's knobs."""
    d = CUSTOM_DEFAULTS
    a, b, c, e = st.columns(4)
    options = {
        "blocks": a.number_input("Blocks", 0, 6, d["blocks"], key="shape_blocks"),
        "convs_per_block": b.number_input("Convs per block", 1, 3, d["convs_per_block"], key="shape_convs"),
        "channels": c.number_input("Channels", 1, 512, d["channels"], key="shape_channels"),
        "kernel_size": e.number_input("Kernel size", 1, 11, d["kernel_size"], key="shape_kernel"),
        "padding": a.number_input("Padding", 0, 5, d["padding"], key="shape_padding"),
        "stride": b.number_input("Stride", 1, 4, d["stride"], key="shape_stride"),
        "linear_layers": c.number_input("Hidden Linear layers", 0, 2, d["linear_layers"], key="shape_linear"),
        "hidden_units": e.number_input("Hidden units", 1, 4096, d["hidden_units"], key="shape_hidden"),
    }
    pool = a.selectbox("Pooling", ["max", "avg", "none"], key="shape_pool")
    options["pool"] = None if pool == "none" else pool
    options["pool_size"] = b.number_input("Pool size", 1, 4, d["pool_size"], key="shape_pool_size")
    options["batchnorm"] = c.toggle("BatchNorm", d["batchnorm"], key="shape_batchnorm")
    options["dropout"] = e.slider("Dropout", 0.0, 0.9, float(d["dropout"]), 0.05, key="shape_dropout")
    return {k: int(v) if isinstance(v, float) and k != "dropout" else v for k, v in options.items()}


def zoo_options(name: str) -> dict:
    """Numeric knobs a zoo model has (hidden units, ResNet width...); strict_input is handled by the lesson toggle."""
    options = {}
    knobs = {k: v for k, v in models.model_info(name).options.items() if k != "strict_input"}
    for column, (key, default) in zip(st.columns(max(len(knobs), 1)), knobs.items()):
        if isinstance(default, bool):
            options[key] = column.toggle(key.replace("_", " "), default, key=f"shape_opt_{name}_{key}")
        elif isinstance(default, int):
            options[key] = int(column.number_input(key.replace("_", " "), 1, 4096, default, key=f"shape_opt_{name}_{key}"))
    return options


# --------------------------------------------------------------------------- choices

names = models.list_models()
if "shape_model" not in st.session_state:
    st.session_state["shape_model"] = "lenet"
    on_model_change()
left, right = st.columns([2, 3])
name = left.selectbox("Network", names, kept_index(names, "shape_model"), key="shape_model", on_change=on_model_change,
                      format_func=lambda n: models.model_info(n).title)
info = models.model_info(name)
left.caption(f"{info.description} Made for {'×'.join(map(str, info.recipe_input))} inputs ({info.source}).")

with right:
    st.selectbox("Input preset", [*PRESETS, "custom"], index=kept_index([*PRESETS, "custom"], "shape_preset", None), placeholder="choose a preset, or type below",
                 key="shape_preset", on_change=on_preset_change)
    a, b, c, d = st.columns(4)
    channels = a.number_input("C", 1, 16, kept("shape_c"), key="shape_c")
    height = b.number_input("H", 1, 1024, kept("shape_h"), key="shape_h")
    width = c.number_input("W", 1, 1024, kept("shape_w"), key="shape_w")
    classes = d.number_input("Classes", 1, 1000, 10, key="shape_classes")

options = custom_options() if name == "custom" else zoo_options(name)
if "strict_input" in info.options:
    options["strict_input"] = st.toggle(
        f"Keep the recipe's {recipe_first_linear(name)}", value=False, key="shape_strict",
        help="The tutorial's code hard-codes the size of its first Linear layer for "
             f"{'×'.join(map(str, info.recipe_input))} inputs. Off: it is sized for the input you chose.")

input_shape = (int(channels), int(height), int(width))
try:
    rows, error, chart = explore(name, input_shape, int(classes), options)
except (ValueError, TypeError) as exc:  # settings the template refuses (e.g. a kernel larger than the image)
    rows, error, chart = (), str(exc), None

# --------------------------------------------------------------------------- results

if error:
    st.error(error)
    if rows:
        st.caption(f"How far the {'×'.join(map(str, input_shape))} input got before that layer:")

total = sum(r.params for r in rows)
if rows:
    table = pd.DataFrame({
        "layer": [r.name for r in rows],
        "what": [r.description for r in rows],
        "output shape": ["×".join(map(str, r.output_shape)) for r in rows],
        "parameters": [r.params for r in rows],
        "% of parameters": [100 * r.params / (total or 1) for r in rows],
        "receptive field": [r.receptive_text for r in rows],
    })
    st.dataframe(table, hide_index=True, height="content", column_config={
        "% of parameters": st.column_config.ProgressColumn(format="%.1f%%", min_value=0, max_value=100),
    })

    st.caption("Receptive field: how many input pixels one output pixel of that layer depends on "
               "(r ← r + (k − 1)·d·jump; jump ← jump·stride).")
    with st.expander("Output size of every convolution and pooling, with the numbers"):
        st.caption("o = ⌊(n + 2p − d·(k − 1) − 1)/s⌋ + 1, along the height — try it step by step on the "
                   "Convolution page.")
        for r in rows:
            if r.formula:
                st.markdown(f"**{r.name}** {r.description}: `{r.formula}`")

if rows and not error:
    largest = max(rows, key=lambda r: r.params)
    share = 100 * largest.params / (total or 1)
    st.subheader("Where the parameters live")
    st.markdown(f"**{largest.name}** ({largest.description}) holds **{share:.0f}%** of the {total:,} parameters"
                + (": almost the whole network is that one layer, which is why it overfits so easily."
                   if share > 80 else "."))
    st.plotly_chart(chart, key="shape_params_chart")

# --------------------------------------------------------------------------- the LeNet lesson

with st.expander("Lesson: LeNet on 28×28 MNIST (the classic mismatch)", expanded=name == "lenet"):
    flat_32 = flatten_size(explore("lenet", (1, 32, 32), 10, {})[0])
    flat_28 = flatten_size(explore("lenet", (1, 28, 28), 10, {})[0])
    st.markdown(
        f"LeNet-5 was written for 32×32 digits: two 5×5 convolutions and two 2×2 poolings leave 16 maps of 5×5, "
        f"so its first Linear layer takes 16·5·5 = **{flat_32}** numbers. MNIST images are 28×28: the same layers "
        f"leave 16 maps of 4×4 = **{flat_28}** numbers, and `Linear({flat_32}, 120)` refuses them. Turn on "
        "*Keep the recipe's Linear* above with LeNet and a 1×28×28 input to see the error PyTorch would give, "
        "explained. The fixes: pad the images to 32×32 (`transforms.Pad(2)`), give the first convolution "
        f"padding 2, or size the Linear layer for {flat_28} (what this dashboard does when the toggle is off).")
