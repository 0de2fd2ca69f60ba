"""Every figure that shows a student's string (class folders, run names) shows it as typed (issue 16.5).

Plotly renders <a href>, <b>, <span style> and entities in titles, ticks, legends, annotations and hovers: a class
named ``<a href="https://host">cat</a>`` must reach the figure as ``&lt;a href=...&gt;``.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import plotly.io as pio
import torch

from vision_core.figures import evaluation as ef
from vision_core.figures import inspection as inf
from vision_core.figures import runs as rf
from vision_core.figures import training as tf
from vision_core.figures.experiments import VariantCurves, overfitting_figure
from vision_core.figures.text import plotly_text

HOSTILE = ['<a href="https://example.invalid">cat</a>', "<img src=x onerror=alert(1)>", "<b>dog</b> & co",
           '<span style="font-size:200px">big</span>']


def strings(figure) -> list[str]:
    """Every string in the figure as the browser gets it (JSON decoded: Plotly writes < as \\u003c)."""
    found = []

    def walk(value):
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(json.loads(pio.to_json(figure)))
    return found


def assert_shown_as_typed(figure) -> None:
    texts = strings(figure)
    for text in texts:
        for tag in ("<a", "<img", "<b>", "<span"):
            assert tag not in text, f"{tag} reaches Plotly unescaped in {text!r}"
    assert any("&lt;img src=x onerror=alert(1)&gt;" in t for t in texts), "the class names are not in the figure"


def test_plotly_text_escapes_the_three_characters_plotly_reads():
    assert plotly_text("<b>x</b> & y") == "&lt;b&gt;x&lt;/b&gt; &amp; y"
    assert plotly_text(7) == "7"


def test_evaluation_figures_escape_class_names():
    k = len(HOSTILE)
    assert_shown_as_typed(ef.confusion_heatmap(np.eye(k), HOSTILE, title=HOSTILE[1]))
    table = pd.DataFrame({"class": HOSTILE, "precision": [0.5] * k, "recall": [0.5] * k, "f1": [0.5] * k})
    assert_shown_as_typed(ef.per_class_bars(table))
    assert_shown_as_typed(ef.probability_bars(torch.full((k,), 1 / k), HOSTILE))
    images = [torch.rand(1, 4, 4) for _ in range(k)]
    assert_shown_as_typed(ef.image_grid(images, HOSTILE, [True] * k, subtitles=HOSTILE))
    assert_shown_as_typed(ef.saliency_overlay(torch.rand(1, 4, 4), torch.rand(4, 4), title=f"Grad-CAM: {HOSTILE[1]}"))


def test_inspection_training_and_comparison_figures_escape_names():
    k = len(HOSTILE)
    assert_shown_as_typed(inf.top_activating_grid(torch.rand(k, 1, 4, 4), range(k), [1.0] * k, HOSTILE))
    assert_shown_as_typed(tf.class_counts(HOSTILE, [3] * k))
    assert_shown_as_typed(tf.training_curves({"steps": [(1, 1.0, 0.5)], "epochs": [], "steps_per_epoch": 1},
                                             title=HOSTILE[1]))
    epochs = [{"epoch": 1, "train_acc": 0.9, "val_acc": 0.5, "train_loss": 0.1, "val_loss": 1.0}]
    assert_shown_as_typed(overfitting_figure([VariantCurves(name, epochs) for name in HOSTILE]))
    metrics = pd.DataFrame({"step": [1, 2], "epoch": [0, 0], "val_acc": [0.1, 0.2]})
    curves = [rf.RunCurves(f"r{i}", name, metrics, 1.0) for i, name in enumerate(HOSTILE)]
    assert_shown_as_typed(rf.compare_curves(curves, "val_acc"))
