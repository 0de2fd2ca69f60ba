"""AppTest: Inside the network with no runs, a trained run (filters, feature maps, top images, time-lapse),
a run still training, a CNN-less model, and a run without or with a broken checkpoint."""

from __future__ import annotations

import base64
import json
import os

import numpy as np
import pytest
import torch

from tests.pages.apptest import chart, chart_keys, figures_built, open_page, use_runs
from vision_core.analysis import inspection
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training import engine
from vision_core.training.snapshots import load_snapshots

PAGE = "pages/inside.py"
FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One real, short LeNet-on-digits run with a snapshot every 2 steps, shared by this file's tests."""
    root = tmp_path_factory.mktemp("trained")
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=1, snapshot_every=2, name="inside-page"),
                 root=root, trainer_options=FAST)
    (run,) = runs.list_runs(root)
    return run


@pytest.fixture
def runs_dir(tmp_path, monkeypatch, trained):
    use_runs(tmp_path, monkeypatch, trained)
    return tmp_path



def array(value) -> torch.Tensor:
    """A Plotly JSON array: a plain list, or a typed array ``{"dtype", "bdata" (base64), "shape"}``."""
    if isinstance(value, dict):
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = [int(s) for s in str(value.get("shape", len(flat))).split(",")]
        return torch.from_numpy(flat.reshape(shape).astype(np.float32))
    return torch.tensor(value, dtype=torch.float32)



def titles(spec: dict) -> list[str]:
    return [a.get("text", "") for a in spec["layout"].get("annotations", [])]


def test_no_runs_shows_a_hint(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page(PAGE)
    assert not at.exception
    assert any("No runs yet" in i.value for i in at.info)


def test_the_run_recorded_a_time_lapse(trained):
    snaps, probe = load_snapshots(trained.path)
    assert [s.step for s in snaps] == [0, 2, 4, 6]
    assert probe.shape == (1, 32, 32)


def test_a_trained_run_shows_filters_maps_top_images_and_time_lapse(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception, at.exception
    assert not at.error
    assert {"inside_filters_chart", "inside_maps_conv1", "inside_maps_pool1", "inside_maps_conv2",
            "inside_maps_pool2", "inside_top_chart", "inside_lapse_chart"} <= chart_keys(at)
    assert "inside_maps_relu1" not in chart_keys(at)
    filters = [t for t in chart(at, "inside_filters_chart")["data"] if t["type"] == "image"]
    assert len(filters) == 6  # LeNet's conv1: 6 filters of 1×5×5
    assert len(chart(at, "inside_maps_conv2")["data"]) == 16
    assert [f["name"] for f in chart(at, "inside_lapse_chart")["frames"]] == ["0", "2", "4", "6"]
    assert "At step 6" in chart(at, "inside_lapse_chart")["layout"]["title"]["text"]


def test_top_images_match_the_core_ranking(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    at.selectbox(key="inside_top_layer").set_value("conv2")
    at.number_input(key="inside_top_channel").set_value(5).run()
    assert not at.exception
    model = runs.load_model(trained, "best")
    dataset = datasets.load("digits")
    images = dataset.normalize(dataset.test.images[:2000].float() / 255)
    indices, _ = inspection.top_activating(model, "conv2", 5, images, k=9)
    shown = [t.split(" · ")[0] for t in titles(chart(at, "inside_top_chart"))]
    assert shown == [f"#{i}" for i in indices.tolist()]


def test_choosing_an_image_and_all_layers(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    at.slider(key="inside_image").set_value(7)
    at.toggle(key="inside_maps_all").set_value(True).run()
    assert not at.exception
    assert {"inside_maps_relu1", "inside_maps_relu2"} <= chart_keys(at)
    dataset = datasets.load("digits")
    assert any(f"#7: {dataset.classes[int(dataset.test.labels[7])]}" in c for i in at.get("image") for c in i.captions)
    # The map the page draws is the core's feature map of test image 7.
    model = runs.load_model(trained, "best")
    expected = inspection.feature_maps(model, dataset.normalize(dataset.test[7][0]))["pool1"]
    z = array(chart(at, "inside_maps_pool1")["data"][2]["z"])
    torch.testing.assert_close(z, expected[2], atol=1e-5, rtol=1e-4)


def test_time_lapse_frame_0_shows_the_first_snapshot(runs_dir, trained):
    at = open_page(PAGE, query_params={"run": trained.run_id})
    at.selectbox(key="inside_lapse_layer").set_value("conv2").run()
    assert not at.exception
    spec = chart(at, "inside_lapse_chart")
    assert "conv2" in spec["layout"]["title"]["text"]
    (first_frame,) = [f for f in spec["frames"] if f["name"] == "0"]  # where the slider goes back to, in the browser
    assert "At step 0" in first_frame["layout"]["title"]["text"]
    snaps = load_snapshots(trained.path)[0]
    zmax = max(float(s.feature_maps["conv2"][:16].abs().max()) for s in snaps)
    heatmaps = [d for d in first_frame["data"] if d["type"] == "heatmap"]
    # int8 levels of ±zmax: within half a level of the snapshot's values
    torch.testing.assert_close(array(heatmaps[0]["z"]) / 127 * zmax, snaps[0].feature_maps["conv2"][0],
                               atol=zmax / 254 + 1e-6, rtol=0)


def test_a_run_still_training_shows_its_last_checkpoint(runs_dir, trained):
    run = runs.load_run(trained.run_id, runs_dir)
    runs.write_status(run, "running", epoch=1)  # this test process is alive, so the run counts as running
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception, at.exception
    assert any("Still running" in c.value for c in at.caption)
    assert any("Updated at each epoch end" in c.value for c in at.caption)
    assert "inside_lapse_chart" in chart_keys(at)


def fake_run(root, model_name: str, dataset_name: str) -> runs.RunRecord:
    """A finished run folder holding an untrained model's weights (no training needed to test the page)."""
    run = runs.create_run(RunConfig(dataset=dataset_name, model=model_name, epochs=1), root)
    dataset = datasets.load(dataset_name)
    runs.write_data_info(run, engine.data_info(dataset))
    model = models.build(model_name, in_channels=dataset.channels, num_classes=len(dataset.classes),
                         image_size=dataset.image_size)
    torch.save({"state_dict": {f"model.{k}": v for k, v in model.state_dict().items()}, "epoch": 0},
               run.path / "checkpoints" / "last.ckpt")
    runs.write_status(run, "finished")
    return run


def test_a_model_without_convolutions_says_so(tmp_path, monkeypatch):
    run = fake_run(tmp_path, "linear", "digits")
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page(PAGE, query_params={"run": run.run_id})
    assert not at.exception, at.exception
    infos = " ".join(i.value for i in at.info)
    assert "no Conv2d" in infos and "no convolution or pooling layers" in infos


def test_a_resnet_on_colour_images_shows_rgb_filters_and_its_blocks(tmp_path, monkeypatch):
    run = fake_run(tmp_path, "resnet", "shapes")
    monkeypatch.setenv("VISION_CORE_RUNS", str(tmp_path))
    at = open_page(PAGE, query_params={"run": run.run_id})
    assert not at.exception, at.exception
    assert not at.error
    filters = [t for t in chart(at, "inside_filters_chart")["data"] if t["type"] == "image"]
    assert len(filters) == 16  # 16 RGB filters, one colour picture each
    assert {"inside_maps_conv1", "inside_maps_block1_1", "inside_maps_block3_2", "inside_maps_avgpool"} <= chart_keys(at)
    assert "inside_maps_bn1" not in chart_keys(at)
    assert any("saved no time-lapse" in i.value for i in at.info)  # a folder without snapshots.pt


def test_no_checkpoint_yet_and_a_broken_checkpoint(runs_dir, trained):
    checkpoints = runs_dir / trained.run_id / "checkpoints"
    for file in checkpoints.iterdir():
        file.unlink()
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception
    assert any("no checkpoint yet" in i.value for i in at.info)

    (checkpoints / "best.ckpt").write_bytes(b"not a checkpoint")
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception
    assert any("not a checkpoint we can read safely" in e.value for e in at.error)


def test_a_missing_dataset_is_an_error_not_a_traceback(runs_dir, trained):
    config_path = runs_dir / trained.run_id / "config.json"
    config = json.loads(config_path.read_text())
    config["dataset"] = "mnist"
    config["dataset_options"] = {"root": os.fspath(runs_dir / "nowhere")}
    config_path.write_text(json.dumps(config))
    at = open_page(PAGE, query_params={"run": trained.run_id})
    assert not at.exception, at.exception
    assert any("Cannot open" in e.value for e in at.error)


def test_the_time_lapse_plays_in_the_browser(runs_dir, trained):
    """Play, Pause, Previous, Next and the slider are the figure's own: the page sends the frames once."""
    at = open_page(PAGE, query_params={"run": trained.run_id})
    spec = chart(at, "inside_lapse_chart")
    assert spec["layout"]["sliders"][0]["active"] == 3  # a finished run opens on its last snapshot
    assert [s["label"] for s in spec["layout"]["sliders"][0]["steps"]] == ["0", "2", "4", "6"]
    buttons = {b["label"] for menu in spec["layout"]["updatemenus"] for b in menu["buttons"]}
    assert {"▶ Play", "⏸ Pause", "◀ Previous", "Next ▶"} <= buttons
    for found in spec["frames"]:
        assert f"At step {found['name']}" in found["layout"]["title"]["text"]
    assert not at.get("select_slider")  # no server-side player left


def test_a_second_student_opening_the_page_gets_the_same_figures_built_once(runs_dir, trained):
    """Each page view reruns the whole page, all six tabs: filters, feature maps, top images, histograms and the
    projector are built once per checkpoint and choice; a second session builds none of them again."""
    with figures_built() as first:
        one = open_page("pages/inside.py", query_params={"run": trained.run_id})
    with figures_built() as second:
        two = open_page("pages/inside.py", query_params={"run": trained.run_id})
    assert not one.exception and not two.exception
    assert first[0] >= 6
    assert second[0] == 0
    assert [c.proto.spec for c in two.get("plotly_chart")] == [c.proto.spec for c in one.get("plotly_chart")]
