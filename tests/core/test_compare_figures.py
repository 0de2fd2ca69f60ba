"""Runs-page comparison builders: axes, smoothing, legends that tell runs apart, escaping, CSV export."""

from __future__ import annotations

import io
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from vision_core.config import RunConfig
from vision_core.figures import runs as cf
from vision_core.figures.training import smooth


def lightning_log(steps_per_epoch: int, epochs: int, seed: int = 0) -> pd.DataFrame:
    """Rows as Lightning's CSVLogger writes them: one per logged step, one per epoch end (same step)."""
    rng = np.random.default_rng(seed)
    rows = []
    for step in range(steps_per_epoch * epochs):
        rows.append({"epoch": step // steps_per_epoch, "step": step, "train_loss_step": float(rng.random())})
        if step % steps_per_epoch == steps_per_epoch - 1:
            rows.append({"epoch": step // steps_per_epoch, "step": step, "val_acc": float(rng.random()),
                         "val_loss": float(rng.random()) + 0.1})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(("spe", "epochs"), [(1, 3), (7, 2), (50, 4)])
def test_epoch_axis_is_fractional_and_ends_each_epoch_on_a_whole_number(spe, epochs):
    df = lightning_log(spe, epochs)
    x = cf.x_values(df, "epoch")
    np.testing.assert_allclose(x, (df["step"] + 1) / spe)
    ends = x[df["val_acc"].notna()]
    assert ends.tolist() == list(range(1, epochs + 1))


def test_time_axis_spreads_the_training_time_over_the_steps_or_uses_a_time_column():
    df = lightning_log(10, 2)
    x = cf.x_values(df, "time", train_seconds=40.0)
    assert x.iloc[-1] == pytest.approx(40.0) and x.iloc[0] == pytest.approx(2.0)
    assert cf.x_values(df, "time") is None  # no time column, no training time: no time axis
    timed = df.assign(time=100.0 + df["step"] * 0.5)
    np.testing.assert_allclose(cf.x_values(timed, "time"), df["step"] * 0.5)
    with pytest.raises(ValueError, match="x must be one of"):
        cf.x_values(df, "wall")


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.6, 0.95])
def test_smoothed_line_is_figures_smooth_of_the_values_and_the_raw_line_stays(weight):
    df = lightning_log(20, 3, seed=1)
    fig = cf.compare_curves([cf.RunCurves("r1", "run one", df)], "train_loss_step", "step", smoothing=weight)
    values = df["train_loss_step"].dropna().to_numpy()
    shown = [t for t in fig.data if t.showlegend is not False]
    assert len(shown) == 1 and shown[0].name == "run one"
    np.testing.assert_allclose(shown[0].y, smooth(values, weight))
    if weight:
        raw = [t for t in fig.data if t.showlegend is False]
        np.testing.assert_allclose(raw[0].y, values)
        assert raw[0].line.color == shown[0].line.color  # one colour per run, raw and smoothed alike


def test_each_run_has_its_own_colour_and_missing_metrics_are_reported():
    curves = [cf.RunCurves(f"r{i}", f"run {i}", lightning_log(5, 2, seed=i)) for i in range(3)]
    curves.append(cf.RunCurves("empty", "no log", pd.DataFrame()))
    fig = cf.compare_curves(curves, "val_acc", "epoch")
    colors = [t.line.color for t in fig.data]
    assert len(set(colors)) == 3
    assert fig.layout.meta["missing"] == ["no log"]
    assert fig.layout.yaxis.title.text == "validation accuracy"
    empty = cf.compare_curves([curves[-1]], "val_acc")
    assert not empty.data and "No selected run has validation accuracy" in empty.layout.annotations[0].text


def test_log_scale_drops_values_it_cannot_draw():
    df = pd.DataFrame({"step": [0, 1, 2, 3], "epoch": [0, 0, 0, 0], "val_loss": [1.0, 0.0, -1.0, 0.5]})
    fig = cf.compare_curves([cf.RunCurves("r", "r", df)], "val_loss", log_y=True)
    assert list(fig.data[0].y) == [1.0, 0.5] and fig.layout.yaxis.type == "log"


@pytest.mark.parametrize("low, high, ticks", [
    (0.05, 2.3, [0.05, 0.1, 0.2, 0.5, 1, 2]),  # Plotly's own read "2 … 0.1 9 8 7" over such a range
    (0.3, 0.6, [0.3, 0.4, 0.5, 0.6]),
    (1.35, 2.3, [1.5, 2]),
    (1e-6, 10, [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10]),
    (0.31, 0.34, None),  # no two round numbers inside: Plotly's own ticks
])
def test_log_ticks_are_few_round_numbers(low, high, ticks):
    assert cf.log_ticks(low, high) == ticks


def test_a_log_scale_chart_writes_its_ticks_plainly():
    df = pd.DataFrame({"step": [0, 1, 2, 3], "epoch": [0, 0, 0, 0], "val_loss": [2.3, 1.0, 0.3, 0.05]})
    fig = cf.compare_curves([cf.RunCurves("r", "r", df)], "val_loss", log_y=True)
    assert list(fig.layout.yaxis.ticktext) == ["0.05", "0.1", "0.2", "0.5", "1", "2"]
    assert cf.compare_curves([cf.RunCurves("r", "r", df)], "val_loss").layout.yaxis.tickvals is None


def test_started_text_says_today_yesterday_or_the_date():
    now = datetime(2026, 12, 3, 10, 0, 0)
    assert cf.started_text(datetime(2026, 12, 3, 9, 5, 7), now) == "09:05:07 today"
    assert cf.started_text(datetime(2026, 12, 2, 23, 59, 59), now) == "23:59:59 yesterday"
    assert cf.started_text(datetime(2026, 11, 28, 14, 3, 12), now) == "28 Nov 14:03"
    assert cf.started_text(datetime(2025, 12, 3, 14, 3, 12), now) == "3 Dec 2025 14:03"
    assert cf.started_text(None, now) == "–"


def test_labels_name_what_differs_between_runs():
    a = RunConfig(model="lenet", lr=0.01).to_dict()
    b = RunConfig(model="lenet", lr=0.001).to_dict()
    c = RunConfig(model="tinyvgg", lr=0.001).to_dict()
    assert cf.run_labels({"a": a, "b": b}) == {"a": "lenet · lr 0.01", "b": "lenet · lr 0.001"}
    assert cf.run_labels({"a": a, "c": c}) == {"a": "lenet · lr 0.01", "c": "tinyvgg · lr 0.001"}
    assert cf.run_labels({"a": a, "b": b}, {"a": "fast"}) == {"a": "fast · lr 0.01", "b": "lenet · lr 0.001"}
    same = cf.run_labels({"run-0001": a, "run-0002": dict(a)})
    assert same == {"run-0001": "lenet · 0001", "run-0002": "lenet · 0002"}  # identical configs: the id tells


def test_labels_cannot_inject_links_into_the_chart():
    df = lightning_log(3, 1)
    fig = cf.compare_curves([cf.RunCurves("r", "<a href='http://x.invalid'>me</a> %{y}", df)], "val_acc")
    assert fig.data[0].name == "&lt;a href='http://x.invalid'&gt;me&lt;/a&gt; %{y}"
    assert "%{fullData.name}" in fig.data[0].hovertemplate and "x.invalid" not in fig.data[0].hovertemplate


def test_metric_names_are_readable():
    assert cf.metric_label("train_loss_epoch") == "training loss (epoch mean)"
    assert cf.metric_label("val_top5_acc") == "validation top5 accuracy"
    df = lightning_log(4, 2).assign(lr=0.1, test_acc=np.nan)
    assert cf.plot_metrics([cf.RunCurves("r", "r", df)]) == ["val_acc", "val_loss", "train_loss_step", "lr"]


def test_csv_export_has_every_run_and_is_spreadsheet_safe():
    one, two = lightning_log(3, 2, seed=0), lightning_log(4, 1, seed=1)
    data = cf.metrics_csv([cf.RunCurves("r1", "=HYPERLINK(\"x\")", one), cf.RunCurves("r2", "plain", two)])
    back = pd.read_csv(io.BytesIO(data))
    assert list(back.columns[:4]) == ["run_id", "run", "step", "epoch"]
    assert (back["run_id"] == "r1").sum() == len(one) and (back["run_id"] == "r2").sum() == len(two)
    assert set(back["run"]) == {"'=HYPERLINK(\"x\")", "plain"}
    np.testing.assert_allclose(back.loc[back["run_id"] == "r2", "train_loss_step"].dropna(),
                               two["train_loss_step"].dropna())
