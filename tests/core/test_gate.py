"""The one gate between what a student sends and any allocation (issue 16.1): data sized from its options alone,
refused with one sentence naming the limit — in the core, on the command line and in a worker alike."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from vision_core import cli
from vision_core.config import RunConfig
from vision_core.data import datasets, procedural
from vision_core.limits import Limits, load_limits
from vision_core.runs import store as runs
from vision_core.training import guards

ROOT = Path(__file__).resolve().parents[2]
# The links: 400,000 generated images at 512×512, and 1,100 at 256×256.
WORST = RunConfig(dataset="shapes", dataset_options={"n_train": 200_000, "n_test": 200_000, "image_size": 512})
THOUSAND = RunConfig(dataset="shapes", dataset_options={"n_train": 1000, "n_test": 100, "image_size": 256})


@pytest.fixture(autouse=True)
def default_limits(tmp_path, monkeypatch):
    """No teacher's file: the classroom defaults apply (here, in the CLI and in the worker's process)."""
    monkeypatch.setenv("VISION_CORE_CLASSROOM", str(tmp_path / "no-classroom.toml"))


@pytest.fixture
def never_generate(monkeypatch):
    """Any generation or load fails the test: the gate must decide from the options alone."""
    def refuse(*args, **kwargs):
        pytest.fail("built data before the gate refused it")

    monkeypatch.setattr(procedural, "render_shapes", refuse)
    monkeypatch.setattr(datasets, "_load_cached", refuse)


# --------------------------------------------------------------------------- sizing from the options


def test_a_plan_sizes_the_data_from_its_options_alone(never_generate):
    plan = datasets.plan("shapes", n_train=200_000, n_test=200_000, image_size=512)
    assert (plan.images, plan.generated, plan.input_shape) == (400_000, 400_000, (3, 512, 512))
    assert plan.nbytes == 400_000 * 3 * 512 * 512
    assert (plan.train, plan.val, plan.test) == (180_000, 20_000, 200_000)  # the recipe's 10 % hold-out
    digits = datasets.plan("digits", image_size=64, train_limit=100)
    assert (digits.images, digits.generated, digits.train, digits.test) == (1797, 0, 100, 359)
    assert datasets.plan("cifar10").nbytes == 60_000 * 3 * 32 * 32  # not on disk: sized all the same


def test_a_plan_refuses_what_load_refuses():
    with pytest.raises(ValueError, match="n_train must be a whole number between 1 and 200000"):
        datasets.plan("shapes", n_train=200_001)
    with pytest.raises(ValueError, match="does not take option"):
        datasets.plan("digits", colour="red")
    with pytest.raises(ValueError, match="image_size"):
        datasets.plan("shapes", image_size=4096)


def test_the_plan_of_an_image_folder_counts_its_files_without_opening_them(tmp_path, monkeypatch):
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    for cls in ("cat", "dog"):
        (tmp_path / "imagefolder" / "pets" / cls).mkdir(parents=True)
        for i in range(5):
            Image.new("RGB", (20, 16), (i, 0, 0)).save(tmp_path / "imagefolder" / "pets" / cls / f"{i}.png")
    monkeypatch.setattr(datasets, "_open_image", lambda path: pytest.fail("decoded an image to size the folder"))
    plan = datasets.plan("imagefolder", folder="pets", image_size=32)
    assert (plan.train, plan.val, plan.test, plan.num_classes) == (7, 1, 2, 2)  # 20 % of each class for testing
    monkeypatch.undo()
    monkeypatch.setenv("VISION_CORE_DATA", str(tmp_path))
    loaded = datasets.load("imagefolder", folder="pets", image_size=32)
    assert (len(loaded.train), len(loaded.val), len(loaded.test)) == (plan.train, plan.val, plan.test)


# --------------------------------------------------------------------------- the gate's refusals


def test_the_worst_link_is_refused_by_its_image_size(never_generate):
    with pytest.raises(guards.GuardError) as refused:
        guards.gate(WORST, Limits())
    assert refused.value.limit == "max_image_size" and refused.value.value == 512
    assert str(refused.value).startswith("This set-up asks for images of 512×512 pixels; the classroom allows 256 "
                                         "pixels per side (max_image_size).")


def test_too_many_generated_images_is_one_sentence_naming_the_limit(never_generate):
    config = WORST.replace(dataset_options={"n_train": 200_000, "n_test": 200_000, "image_size": 64})
    with pytest.raises(guards.GuardError) as refused:
        guards.gate(config, Limits())
    assert str(refused.value).startswith("This set-up asks for 400,000 generated images; the classroom allows "
                                         "20,000 (max_generated_images).")


def test_a_dataset_over_the_memory_limit_is_refused_before_it_is_built(never_generate):
    with pytest.raises(guards.GuardError) as refused:
        guards.gate(THOUSAND, Limits(max_dataset_mb=100))
    assert refused.value.limit == "max_dataset_mb"
    assert "1,100 images of 3×256×256, 206 MB in memory; the classroom allows 100 MB per dataset" in str(refused.value)
    # Resized real data is sized the same way: CIFAR-10 at 256×256 would be 11 GB.
    with pytest.raises(guards.GuardError, match="max_dataset_mb"):
        guards.gate(RunConfig(dataset="cifar10", dataset_options={"image_size": 256}), Limits())


def test_max_image_size_applies_to_resized_folders_and_generated_data(never_generate):
    limits = Limits(max_image_size=32)
    for config in (RunConfig(dataset="shapes", dataset_options={"image_size": 48}),
                   RunConfig(dataset="mnist", dataset_options={"image_size": 64})):
        with pytest.raises(guards.GuardError, match=r"\(max_image_size\)"):
            guards.gate(config, limits)


def test_an_allowed_set_up_passes_with_its_memory_estimate(never_generate):
    config = RunConfig(dataset="shapes", model="lenet")
    estimate = guards.gate(config, Limits())  # sized without generating a shape
    assert estimate == guards.estimate(config, (3, 32, 32), 6) and estimate.parameters == 61666


# --------------------------------------------------------------------------- generation in bounded chunks


def test_a_preview_draws_exactly_the_first_images_of_the_set():
    full = datasets.load("shapes", n_train=120, n_test=12, val_size=0, seed=7, difficulty=0.6)
    preview = datasets.preview("shapes", n_train=120, n_test=12, val_size=0, seed=7, difficulty=0.6, count=16)
    assert torch.equal(preview.images, full.train.images[:16]) and torch.equal(preview.labels, full.train.labels[:16])
    assert preview.class_counts == full.train.class_counts()
    held = datasets.load("shapes", n_train=120, n_test=12, seed=7, train_limit=50)
    counted = datasets.preview("shapes", n_train=120, n_test=12, seed=7, train_limit=50)
    assert (counted.train, counted.val, counted.class_counts) == (50, 12, held.train.class_counts())


def test_the_chunk_size_does_not_change_the_images(monkeypatch):
    whole = procedural.make_shapes(70, (24, 24), 0.8, torch.Generator().manual_seed(1))
    monkeypatch.setattr(procedural, "CHUNK_PIXELS", procedural.NOISE_BLOCK * 24 * 24)  # one block per chunk
    chunked = procedural.make_shapes(70, (24, 24), 0.8, torch.Generator().manual_seed(1))
    assert torch.equal(whole[0], chunked[0]) and torch.equal(whole[1], chunked[1])


def peak_growth_mb(code: str) -> float:
    """Run ``code`` in a fresh Python after importing torch; how much its peak RSS grew, in MB."""
    probe = ("import resource, torch\n"
             "from vision_core.data import procedural\n"
             "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
             f"{code}\n"
             "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.strip().splitlines()[-1])


def test_generating_a_set_takes_little_more_than_the_set_itself():
    # 200 images of 3×256×256: 37.5 MB of uint8. Drawn as one float batch this peaked near 20× that (0.7 GB).
    grown = peak_growth_mb("images, labels = procedural.make_shapes(200, (256, 256), 0.5)")
    assert grown < 37.5 + 150, f"generation grew the process by {grown:.0f} MB"


# --------------------------------------------------------------------------- the CLI and the worker say the same


def gate_message(config: RunConfig) -> str:
    with pytest.raises(guards.GuardError) as refused:
        guards.gate(config, load_limits())
    return str(refused.value)


def test_the_cli_refuses_the_worst_link_in_one_line_with_exit_2(tmp_path, capsys, never_generate):
    code = cli.main(["train", "--dataset", "shapes", "--dataset-option", "n_train=200000",
                     "--dataset-option", "n_test=200000", "--dataset-option", "image_size=512",
                     "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert err == f"vision-core train: error: {gate_message(WORST)}\n"
    assert list(tmp_path.iterdir()) == []  # no run folder


def test_the_cli_refuses_too_many_generated_images_the_same_way(tmp_path, capsys, never_generate):
    code = cli.main(["train", "--dataset", "shapes", "--dataset-option", "n_train=30000", "--runs-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "This set-up asks for 30,600 generated images" in err and "(max_generated_images)" in err
    assert list(tmp_path.iterdir()) == []


def test_a_worker_refuses_the_worst_link_with_the_same_message_before_loading(tmp_path):
    run = runs.create_run(WORST, tmp_path, owner="alice")
    done = subprocess.run([sys.executable, "-m", "vision_core.classroom.worker", run.run_id, "--runs-dir",
                           str(tmp_path)], cwd=ROOT, check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1, done.stderr[-2000:]
    status = json.loads((run.path / "status.json").read_text())
    assert status["status"] == "failed" and status["message"] == gate_message(WORST)
