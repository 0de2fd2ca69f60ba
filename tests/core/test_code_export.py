"""A run exported as a notebook and a script reproduces it in plain PyTorch (issue 21).

Two short runs (LeNet on digits with augmentation; a custom template model on shapes with SGD, a schedule,
BatchNorm, dropout and label smoothing) are trained by the engine, exported, and executed: the notebooks with
nbclient (kernel python3), the scripts with ``python``. The checkpoint cell must give the run's test accuracy
exactly (the same number of correct test images); retraining must land within RETRAIN_TOLERANCE of it (on the
same device with the same threads it lands on it: same first weights, same batches, same augmentations).
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch
from nbclient import NotebookClient
from torch import nn

from vision_core import cli
from vision_core.code_export import cells as export
from vision_core.code_export import files, ready
from vision_core.code_export.data_code import data_cells
from vision_core.code_export.model_code import UnwritableLayerError, class_name, constructor, model_source
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo
from vision_core.runs import store as runs
from vision_core.training.engine import train
from vision_core.training.lightning_module import WHITENING_SAMPLE, warmup_linear

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}  # one thread: as the runs trained here
SCRIPT_ENV = {**ENV, "MPLBACKEND": "Agg"}  # plt.show() draws nothing without a screen (a notebook shows it inline)
RUFF = Path(sys.executable).with_name("ruff")

RUNS = {
    "lenet_digits": RunConfig(dataset="digits", model="lenet", epochs=2, batch_size=64, seed=7, snapshot_every=0,
                              accelerator="cpu", augment={"crop": 2, "rotation": 10}),
    "custom_shapes": RunConfig(
        dataset="shapes", dataset_options={"n_train": 600, "n_test": 180, "seed": 3, "difficulty": 0.1},
        model="custom",
        model_options={"blocks": 2, "channels": [8, 16], "batchnorm": True, "dropout": 0.2, "hidden_units": 32},
        optimizer="sgd", lr=0.02, momentum=0.9, nesterov=True, weight_decay=1e-4, scheduler="cosine",
        label_smoothing=0.1, batch_size=32, epochs=3, seed=11, snapshot_every=0, accelerator="cpu",
        augment={"hflip": True, "brightness": 0.2, "contrast": 0.2}),
}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, runs.RunRecord]:
    root = tmp_path_factory.mktemp("runs")
    records = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the exported code runs (ENV): float sums in another order end elsewhere
    try:
        for key, config in RUNS.items():
            summary = train(config.replace(name=key), root=root)
            records[key] = next(r for r in runs.list_runs(root) if r.config.name == key)
            assert records[key].state == "finished" and summary["test_acc"] > 0.5  # learning, not at chance
    finally:
        torch.set_num_threads(threads)
    return records


def _accuracies(output: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """((correct, total) after retraining, (correct, total) of the run's checkpoint) from the printed lines."""
    retrained = re.search(r"^Test accuracy: [\d.]+% \((\d+)/(\d+) images\)", output, re.MULTILINE)
    loaded = re.search(r"^Checkpoint test accuracy: [\d.]+% \((\d+)/(\d+) images\)", output, re.MULTILINE)
    assert retrained and loaded, output[-3000:]
    return (int(retrained[1]), int(retrained[2])), (int(loaded[1]), int(loaded[2]))


def _check_reproduced(run: runs.RunRecord, output: str) -> None:
    (retrained, total), (loaded, loaded_total) = _accuracies(output)
    assert total == loaded_total == run.data_info["test_size"]
    assert loaded == export.expected_test_correct(run)  # the checkpoint: exactly the run's test accuracy
    assert abs(retrained - export.expected_test_correct(run)) <= export.tolerance_in_images(run)
    assert "the same" in output and "NOT the same" not in output


@pytest.mark.parametrize("key", list(RUNS))
def test_the_exported_notebook_reproduces_the_run(trained, key, tmp_path):
    run = trained[key]
    written = files.write_files(run, notebook=tmp_path / f"{key}.ipynb")
    assert [p.name for p in written] == [f"{key}.ipynb", f"{run.run_id}.ckpt"]
    notebook = nbformat.read(written[0], as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute(env=ENV)
    output = "\n".join(o.get("text", "") for c in notebook.cells if c.cell_type == "code" for o in c.outputs)
    _check_reproduced(run, output)
    images = [o for c in notebook.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the confusion matrix and the 3×3 prediction grid


@pytest.mark.parametrize("key", list(RUNS))
def test_the_exported_script_reproduces_the_run(trained, key, tmp_path):
    run = trained[key]
    script = tmp_path / f"{key}.py"
    files.write_files(run, script=script)
    if key == "custom_shapes":  # once, the optional Lightning cell too
        script.write_text(script.read_text().replace("RUN_LIGHTNING = False", "RUN_LIGHTNING = True", 1))
    result = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=SCRIPT_ENV, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    _check_reproduced(run, result.stdout)
    if key == "custom_shapes":
        assert re.search(r"test_acc\s+\S+", result.stdout + result.stderr)  # Lightning's test table


def test_the_exported_code_passes_ruff_and_names_what_it_cannot_reproduce(trained, tmp_path):
    run = trained["custom_shapes"]
    files.write_files(run, notebook=tmp_path / "n.ipynb", script=tmp_path / "s.py", checkpoint=False)
    result = subprocess.run([str(RUFF), "check", "--isolated", "--select", "E,F,W", "--line-length", "120",
                             "n.ipynb", "s.py"], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    cells = export.export_cells(run)
    kinds = [c.kind for c in cells]
    assert kinds[0] == "markdown" and all(a != b or a == "code" for a, b in itertools.pairwise(kinds))
    headings = [c.source.splitlines()[0] for c in cells if c.kind == "markdown" and c.source.startswith("## ")]
    assert headings == ["## 1. The data", "## 2. The model", "## 3. Training", "## 4. Evaluation",
                        "## 5. The run's own checkpoint"]
    text = "\n".join(c.source for c in cells)
    assert "vision_core" not in "\n".join(c.source for c in cells if c.kind == "code")  # no dashboard needed
    for expected in ("torch.optim.SGD(parameters, lr=0.02, momentum=0.9, nesterov=True, weight_decay=0.0001)",
                     "CosineAnnealingLR(optimizer, T_max=EPOCHS)", "nn.CrossEntropyLoss(label_smoothing=0.1)",
                     "nn.BatchNorm2d(8)", "nn.Dropout(p=0.2)", "def adjust_contrast", "def flip_where",
                     "MulticlassConfusionMatrix", "weights_only=True", "class LitClassifier(L.LightningModule)"):
        assert expected in text, expected


def test_options_the_code_does_not_reproduce_are_named(trained):
    run = trained["lenet_digits"]
    fast = runs.RunRecord(**{**run.__dict__, "config": run.config.replace(fast=True, snapshot_every=25)})
    notes = export.export_cells(fast)[0].source
    assert "**Not reproduced here**" in notes and "fast" in notes and "every 25 steps" in notes
    assert "Not reproduced" not in export.export_cells(run)[0].source


def test_a_run_that_has_not_finished_is_refused_in_one_sentence(trained, tmp_path, capsys):
    run = trained["lenet_digits"]
    running = runs.RunRecord(**{**run.__dict__, "status": {**run.status, "status": "running"}})
    with pytest.raises(ready.ExportError, match="is running: only a finished or stopped run"):
        export.export_cells(running)
    assert cli.main(["export", "no-such-run", "--notebook", str(tmp_path / "x.ipynb"),
                     "--runs-dir", str(tmp_path)]) == 1
    assert cli.main(["export", run.run_id, "--runs-dir", str(run.path.parent)]) == 2
    assert not list(tmp_path.iterdir())


def test_cli_export_writes_the_notebook_the_script_and_the_checkpoint(trained, tmp_path, capsys):
    run = trained["lenet_digits"]
    code = cli.main(["export", run.run_id, "--notebook", str(tmp_path / "out.ipynb"), "--script",
                     str(tmp_path / "out.py"), "--runs-dir", str(run.path.parent)])
    assert code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["out.ipynb", "out.py", f"{run.run_id}.ckpt"])
    assert nbformat.read(tmp_path / "out.ipynb", as_version=4).cells[0].cell_type == "markdown"
    assert (tmp_path / f"{run.run_id}.ckpt").read_bytes() == run.checkpoint("best").read_bytes()


def test_the_zip_holds_the_checkpoint_only_when_asked(trained):
    import io
    import zipfile

    run = trained["lenet_digits"]
    stem = run.run_id
    with zipfile.ZipFile(io.BytesIO(files.zip_bytes(run, with_checkpoint=True))) as archive:
        assert sorted(archive.namelist()) == sorted(f"{stem}/{stem}{ext}" for ext in (".ipynb", ".py", ".ckpt"))
    with zipfile.ZipFile(io.BytesIO(files.zip_bytes(run, with_checkpoint=False))) as archive:
        assert sorted(archive.namelist()) == sorted(f"{stem}/{stem}{ext}" for ext in (".ipynb", ".py"))


# --------------------------------------------------------------------------- the model, for every zoo model


def _build(name: str) -> tuple[nn.Module, tuple[int, int, int], int]:
    c, h, w = zoo.model_info(name).recipe_input
    classes = 2 if name == "smile_cnn" else 10  # the smile recipe's one logit
    return zoo.build(name, in_channels=c, num_classes=classes, image_size=(h, w)), (c, h, w), classes


@pytest.mark.parametrize("name", zoo.list_models())
def test_the_written_out_model_is_the_zoo_model(name):
    torch.manual_seed(0)
    model, shape, _ = _build(name)
    written = model_source(model, class_name(name), shape, zoo.model_info(name).description, name)
    namespace = {"torch": torch, "nn": nn}
    exec(written.source, namespace)  # noqa: S102 — our own generated code, the point of the test
    torch.manual_seed(0)
    mine = namespace[class_name(name)]()
    assert sum(p.numel() for p in mine.parameters()) == zoo.total_params(model)
    x = torch.randn(3, *shape)
    model.eval()
    mine.eval()
    assert mine(x).shape == model(x).shape
    ours, theirs = mine.state_dict(), model.state_dict()
    assert list(ours) == list(theirs)  # the same names: a run's checkpoint loads as it is
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)  # the same first weights after the same seed
    assert [p.requires_grad for p in mine.parameters()] == [p.requires_grad for p in model.parameters()]
    assert torch.equal(mine(x), model(x))


def test_a_layer_the_writer_does_not_know_is_refused_not_dropped():
    with pytest.raises(UnwritableLayerError, match="cannot write out a LSTM layer"):
        constructor(nn.LSTM(4, 4))


def test_copied_constants_match_the_training_code():
    assert export.WHITENING_SAMPLE == WHITENING_SAMPLE
    namespace: dict = {"torch": torch, "EPOCHS": 9}
    scheduler, _ = export._scheduler_code(RunConfig(scheduler="warmup_linear"))
    exec(scheduler, namespace)  # noqa: S102
    assert [namespace["warmup_linear"](s, 100) for s in range(0, 101, 7)] == [warmup_linear(s, 100)
                                                                           for s in range(0, 101, 7)]


# --------------------------------------------------------------------------- the data, without training


@pytest.mark.parametrize("options", [{}, {"image_size": 16, "val_size": 0.25, "seed": 5, "train_limit": 300},
                                     {"val_size": 0}])
def test_the_data_code_gives_the_dashboards_digits(options):
    config = RunConfig(dataset="digits", dataset_options=options, batch_size=50)
    data = datasets.load("digits", **options)
    info = {"image_size": list(data.image_size), "mean": list(data.mean), "std": list(data.std)}
    namespace = _run_data_code(config, info, data.classes)
    val = data.val if data.val is not None else data.test
    for split, prefix in ((data.train, "train"), (val, "val"), (data.test, "test")):
        assert torch.equal(namespace[f"{prefix}_images"], split.images)
        assert torch.equal(namespace[f"{prefix}_labels"], split.labels)


def test_the_data_code_gives_the_dashboards_shapes_and_normalised_batches():
    options = {"n_train": 120, "n_test": 30, "difficulty": 0.7, "seed": 2}
    config = RunConfig(dataset="shapes", dataset_options=options, batch_size=50, augment={"crop": 3})
    data = datasets.load("shapes", **options)
    info = {"image_size": list(data.image_size), "mean": [0.5, 0.4, 0.3], "std": [0.2, 0.3, 0.4]}
    namespace = _run_data_code(config, info, data.classes)
    assert torch.equal(namespace["train_images"], data.train.images)
    assert torch.equal(namespace["test_images"], data.test.images)
    x = namespace["train_images"][:4].float() / 255
    expected = (x - torch.tensor([0.5, 0.4, 0.3]).view(-1, 1, 1)) / torch.tensor([0.2, 0.3, 0.4]).view(-1, 1, 1)
    assert torch.equal(namespace["normalize"](x), expected)


def _run_data_code(config: RunConfig, info: dict, classes: list[str]) -> dict:
    import math

    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    namespace = {"torch": torch, "F": F, "math": math, "load_digits": load_digits, "DEVICE": "cpu",
                 "SEED": config.seed, "SPLIT_SEED": config.dataset_options.get("seed", 0), "CLASSES": classes,
                 "IMAGE_SIZE": tuple(info["image_size"]), "BATCH_SIZE": config.batch_size}
    cells, _ = data_cells(config, info)
    for cell in cells:
        if cell.kind == "code":
            exec(cell.source, namespace)  # noqa: S102
    return namespace


def test_the_runs_page_check_loads_no_torch():
    # The Runs page asks `ready` on every rerun; torch and nbformat load only when the download is clicked.
    probe = "import sys, vision_core.code_export.ready; print(sorted({'torch', 'nbformat'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.stdout.strip() == "[]"
