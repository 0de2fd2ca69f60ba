"""A 2-D playground: pick toy data and a small MLP, watch the decision boundary move as it trains.

The model is tiny, so it trains right here in the page's process (no job queue): a fragment that reruns
every TICK seconds runs a few training steps and redraws. The model lives in st.session_state.
"""

from __future__ import annotations

import streamlit as st

from ui.frame import ensure_app_frame
from ui.kept import kept, kept_index
from vision_core.figures import playground as pf
from vision_core.lessons import playground as core

ensure_app_frame()  # a cold server's first request goes through app.py

TICK = 0.2  # seconds between frames while training: 5 frames a second
SLOW_EVERY = 5  # the hidden units and the loss curves redraw once a second while training (cheaper for browsers)
MAX_STEPS = 20_000  # a forgotten tab stops training by itself
LEARNING_RATES = [0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]
L2_VALUES = [0.0, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1]
SPEEDS = [1, 2, 5, 10, 20, 50]  # steps per frame
MAX_LAYERS, MAX_UNITS = 4, 8
TUTORIAL = {"pg_data": "xor4", "pg_layers": 1, "pg_units_0": 4, "pg_activation": "sigmoid", "pg_loss": "mse",
            "pg_optimizer": "adam", "pg_lr": 0.01, "pg_l2": 0.0}

st.title("🎛️ Playground: a small network learns in 2-D")
st.caption("Every point has two numbers (x, y) and a class (orange 0, blue 1). A small fully connected network "
           "learns to tell them apart; the background colour is its answer everywhere on the plane, redrawn "
           "while it learns. It opens on the Lightning tutorial's first model: a 2-4-1 network with a sigmoid, "
           "mean squared error and Adam at 0.01, learning XOR.")

for key, value in {**TUTORIAL, "pg_noise": 0.1, "pg_test": 30, "pg_points": 200, "pg_seed": 0, "pg_speed": 10,
                   "pg_show_test": True, "pg_playing": False, **{f"pg_units_{i}": 4 for i in range(MAX_LAYERS)}}.items():
    st.session_state.setdefault(key, value)


def use_tutorial() -> None:
    st.session_state.update(TUTORIAL, pg_playing=False)
    st.session_state.pop("pg_model", None)  # a fresh model with these settings


# ---- controls ------------------------------------------------------------------------------------


def toggle_play() -> None:
    st.session_state.pg_playing = not st.session_state.pg_playing


def one_step() -> None:
    st.session_state.pg_playing = False
    if "pg_model" in st.session_state:
        st.session_state.pg_model.train(1)


def reset() -> None:
    st.session_state.pg_playing = False
    st.session_state.pop("pg_model", None)


playing = st.session_state.pg_playing
c = st.columns([1.3, 1, 1, 1, 1.6])
c[0].button("↺ The tutorial's XOR", on_click=use_tutorial, key="pg_tutorial", width="stretch",
            help="2-4-1, sigmoid, mean squared error, Adam, learning rate 0.01, on the four XOR points.")
c[1].button("⏸ Pause" if playing else "▶ Train", on_click=toggle_play, key="pg_play", type="primary",
            width="stretch")
c[2].button("⏭ One step", on_click=one_step, key="pg_step", width="stretch",
            help="One update of every weight on the whole training set, then stop.")
c[3].button("↺ Reset", on_click=reset, key="pg_reset", width="stretch", help="Back to the first weights (step 0).")
c[4].toggle("Show the test points", kept("pg_show_test"), key="pg_show_test", disabled=st.session_state.pg_data == "xor4")

# ---- settings ------------------------------------------------------------------------------------

settings_col, view_col = st.columns([1, 2], gap="large")
with settings_col:
    st.markdown("**Data**")
    name = st.selectbox("Data set", list(core.DATASETS), kept_index(list(core.DATASETS), "pg_data"),
                        format_func=core.DATASETS.get, key="pg_data")
    four_points = name == "xor4"
    c1, c2 = st.columns(2)
    noise = c1.slider("Noise", 0.0, 0.5, kept("pg_noise"), step=0.05, key="pg_noise", disabled=four_points,
                      help="How far points stray from the pattern.")
    test_percent = c2.slider("Test points (%)", 10, 50, kept("pg_test"), step=5, key="pg_test", disabled=four_points,
                             help="Held out: never trained on, drawn hollow.")
    c1, c2 = st.columns(2)
    points = c1.select_slider("Points", [100, 200, 300, 500, 1000], value=kept("pg_points"), key="pg_points", disabled=four_points)
    seed = int(c2.number_input("Seed", 0, 999, kept("pg_seed"), key="pg_seed", help="Decides the points and the first weights."))
    if four_points:
        st.caption("The tutorial's four points, (0,0) (0,1) (1,0) (1,1), are both the training and the test set.")

    st.markdown("**Network**")
    layers = int(st.number_input("Hidden layers", 0, MAX_LAYERS, kept("pg_layers"), key="pg_layers",
                                 help="0 = a linear model: one straight line. It cannot learn XOR."))
    unit_cols = st.columns(max(layers, 1))
    hidden = tuple(int(unit_cols[i].number_input(f"Units {i + 1}", 1, MAX_UNITS, kept(f"pg_units_{i}"),
                                                          key=f"pg_units_{i}"))
                   for i in range(layers))
    c1, c2 = st.columns(2)
    activation = c1.selectbox("Activation", list(core.ACTIVATIONS), kept_index(list(core.ACTIVATIONS), "pg_activation"),
                              key="pg_activation")
    loss = c2.selectbox("Loss", list(core.LOSSES), kept_index(list(core.LOSSES), "pg_loss"), format_func=core.LOSSES.get,
                        key="pg_loss")
    sizes = "-".join(map(str, (2, *hidden, 1)))
    st.caption(f"A {sizes} network: {sum(a * b + b for a, b in zip((2, *hidden), (*hidden, 1)))} weights and "
               "biases.")

    st.markdown("**Training** (changes apply at once, even while it trains)")
    c1, c2 = st.columns(2)
    optimizer = c1.selectbox("Optimiser", list(core.OPTIMIZERS), kept_index(list(core.OPTIMIZERS), "pg_optimizer"),
                             format_func=core.OPTIMIZERS.get,
                             key="pg_optimizer")
    lr = c2.select_slider("Learning rate", LEARNING_RATES, value=kept("pg_lr"), key="pg_lr")
    c1, c2 = st.columns(2)
    l2 = c1.select_slider("L2 (weight decay)", L2_VALUES, value=kept("pg_l2"), key="pg_l2",
                          help="Pulls every weight towards 0 a little at each step (not the biases).")
    speed = c2.select_slider("Steps per frame", SPEEDS, value=kept("pg_speed"), key="pg_speed",
                             help=f"Training steps between two pictures; {round(1 / TICK)} pictures a second.")

# One model per structure: a change of data or network starts a new one; optimiser settings apply live.
structure = (name, noise, test_percent, points, seed, hidden, activation, loss)
if st.session_state.get("pg_structure") != structure or "pg_model" not in st.session_state:
    data = core.make_data(name, n=points, noise=noise, test_fraction=test_percent / 100, seed=seed)
    st.session_state.pg_model = core.Playground(data, hidden, activation, loss, optimizer, lr, l2, seed)
    st.session_state.pg_structure = structure
st.session_state.pg_model.set_optimizer(optimizer, lr, l2)

# ---- the live view -------------------------------------------------------------------------------


@st.fragment(run_every=TICK if playing else None)
def live_view() -> None:
    model: core.Playground = st.session_state.pg_model
    if st.session_state.pg_playing:
        model.train(st.session_state.pg_speed)
        if model.diverged or model.steps >= MAX_STEPS:
            st.session_state.pg_playing = False
            st.rerun()  # the whole page, so the timer stops and the button reads "Train" again
    if model.diverged:
        st.error("The loss became infinite or not a number: the learning rate is too large for this network. "
                 "Lower it and press Reset.")
    m = model.metrics()
    same = model.data.same_split
    # The four XOR points are measured as the test set too (the text says they are both): the same numbers.
    same_help = "The four XOR points are both the training and the test set: the same numbers as training." \
        if same else None
    cols = st.columns(5)
    cols[0].metric("Step", f"{m['step']:,}")
    cols[1].metric("Train loss", f"{m['train_loss']:.4f}")
    cols[2].metric("Test loss", f"{m['test_loss']:.4f}", help=same_help)
    cols[3].metric("Train accuracy", f"{m['train_acc']:.0%}")
    cols[4].metric("Test accuracy", f"{m['test_acc']:.0%}", help=same_help)
    st.plotly_chart(pf.boundary_figure(*model.boundary(60), model.data, show_test=st.session_state.pg_show_test),
                    key="pg_boundary")
    cut = "the output crosses 0.5 (MSE: the output, clipped to 0…1)" if model.loss_name == "mse" else \
        "the sigmoid of the output crosses 0.5"
    st.caption(f"Background: the network's score for class 1 at every point of the plane; the boundary is where "
               f"{cut}. Filled dots are training points, hollow ones test points.")
    # While training, the two smaller charts keep the same figure between their redraws: an unchanged figure
    # costs the browser almost nothing, a new one a full redraw.
    frame = st.session_state.get("pg_frame", 0) + 1
    st.session_state.pg_frame = frame
    cached = st.session_state.get("pg_slow_figures")
    if not st.session_state.pg_playing or frame % SLOW_EVERY == 0 or cached is None or cached[0] is not model:
        center, span = core.unit_range(model.activation)
        cached = (model, pf.hidden_units_figure(model.hidden_maps(24), center, span),
                  pf.loss_curves_figure(model.history))
        st.session_state.pg_slow_figures = cached
    _, units_figure, loss_figure = cached
    left, right = st.columns(2)
    with left:
        st.markdown("**What each hidden unit computes**")
        st.plotly_chart(units_figure, key="pg_units")
        st.caption("Each square is one unit's output over the same plane (blue high, orange low). The next layer "
                   "mixes these pictures into the boundary.")
    with right:
        st.markdown("**Loss**")
        st.plotly_chart(loss_figure, key="pg_losses")


with view_col:
    live_view()
