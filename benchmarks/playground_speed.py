"""How many frames a second the Playground page can draw: the core cost of one frame.

One frame = ``steps`` training steps + the 60×60 decision boundary + every hidden unit's 24×24 picture + the
three Plotly figures, serialised to JSON as Streamlit does before sending them. The browser's own drawing
and Streamlit's messaging come on top (a small, fixed cost per frame).

Run: ``.venv/bin/python benchmarks/playground_speed.py``. Prints one line per setting (median of many frames):
wall-clock time, which depends on what else the machine runs, and the process's CPU time, which is the frame's
own cost (frames/s when a core is free for it). Never run by the tests. Target: ≥ 5 frames/s (≤ 200 ms a
frame) on this 2-core CPU.
"""

from __future__ import annotations

import statistics
import time

import torch

from vision_core.figures import playground as pf
from vision_core.lessons.playground import Playground, make_data, unit_range

SETTINGS = [  # (data, hidden layers, activation, loss, steps per frame)
    ("xor4", (4,), "sigmoid", "mse", 20),
    ("spirals", (8, 8), "tanh", "cross_entropy", 10),
    ("spirals", (16, 16, 16, 16), "relu", "cross_entropy", 10),
]


def frame(pg: Playground, steps: int) -> None:
    pg.train(steps)
    center, span = unit_range(pg.activation)
    figures = [pf.boundary_figure(*pg.boundary(60), pg.data),
               pf.hidden_units_figure(pg.hidden_maps(24), center, span),
               pf.loss_curves_figure(pg.history)]
    for fig in figures:
        fig.to_json()  # what st.plotly_chart does with a figure


def main() -> None:
    print(f"torch threads: {torch.get_num_threads()}")
    for name, hidden, activation, loss, steps in SETTINGS:
        pg = Playground(make_data(name, n=300, noise=0.1), hidden, activation, loss, "adam", 0.01)
        for _ in range(3):  # warm up
            frame(pg, steps)
        wall, cpu = [], []
        for _ in range(30):
            start, start_cpu = time.perf_counter(), time.process_time()
            frame(pg, steps)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        ms, cpu_ms = statistics.median(wall) * 1000, statistics.median(cpu) * 1000
        label = f"{name}, 2-{'-'.join(map(str, hidden))}-1 {activation}, {steps} steps/frame"
        print(f"{label:52s} wall {ms:6.1f} ms = {1000 / ms:5.1f} frames/s | CPU {cpu_ms:6.1f} ms = "
              f"{1000 / cpu_ms:5.1f} frames/s")


if __name__ == "__main__":
    main()
