"""Snapshots during training: captured between batches, never disturbing training, loadable safely."""

from __future__ import annotations

import torch

from vision_core.config import RunConfig
from vision_core.training import engine
from vision_core.training.snapshots import capture, load_snapshots

FAST = {"limit_train_batches": 6, "limit_val_batches": 2, "limit_test_batches": 2}


def test_a_run_records_a_time_lapse(tmp_path):
    engine.train(RunConfig(dataset="digits", model="lenet", epochs=2, snapshot_every=2), root=tmp_path,
                 trainer_options=FAST)
    run_path = next(tmp_path.iterdir())
    snaps, probe = load_snapshots(run_path)
    assert [s.step for s in snaps] == [0, 2, 4, 6, 8, 10, 12]
    assert [s.epoch for s in snaps] == [0, 0, 0, 0, 1, 1, 1]  # 6 steps per epoch; the last one is epoch 1's
    assert snaps[0].filters.shape == (6, 1, 5, 5)
    assert not torch.equal(snaps[0].filters, snaps[-1].filters)  # the filters learned something
    assert set(snaps[0].feature_maps) == {"conv1", "pool1", "relu1", "conv2", "pool2", "relu2"}
    assert snaps[0].feature_maps["conv1"].shape == (6, 28, 28)
    assert probe.shape == (1, 32, 32)


def test_snapshots_do_not_change_what_training_computes(tmp_path):
    # Equal to the last bit: on the CPU, whose kernels are deterministic (a GPU's cuDNN need not be).
    config = RunConfig(dataset="shapes", model="custom", epochs=1, seed=3, accelerator="cpu",
                       model_options={"batchnorm": True, "dropout": 0.5, "channels": 8})
    with_snaps = engine.train(config.replace(snapshot_every=1), root=tmp_path / "a", trainer_options=FAST)
    without = engine.train(config.replace(snapshot_every=0), root=tmp_path / "b", trainer_options=FAST)
    assert with_snaps["test_loss"] == without["test_loss"]


def test_capture_restores_training_mode_and_matches_a_manual_forward():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2), torch.nn.ReLU())
    model.train()
    x = torch.rand(1, 1, 6, 6)
    filters, maps = capture(model, x)
    assert model.training
    assert torch.equal(filters, model[0].weight.detach().half())
    model.eval()
    assert torch.allclose(maps["2"].float(), model(x)[0], atol=1e-2)


def test_the_train_end_snapshot_belongs_to_the_last_epoch_trained(tmp_path):
    from types import SimpleNamespace

    from vision_core.data import datasets
    from vision_core.training.snapshots import SnapshotCallback

    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3))
    module = SimpleNamespace(model=model, device=torch.device("cpu"))
    callback = SnapshotCallback(tmp_path, 4, datasets.load("digits"))
    trainer = SimpleNamespace(is_global_zero=True, global_step=0, current_epoch=0)
    callback.on_train_start(trainer, module)
    for step in range(1, 6):  # 5 steps in epoch 0: snapshots at 0 and 4
        trainer.global_step = step
        callback.on_train_batch_end(trainer, module, None, None, step - 1)
    trainer.current_epoch = 1  # what Lightning reports once the last epoch is over
    callback.on_train_end(trainer, module)
    snaps, _ = load_snapshots(tmp_path)
    assert [(s.step, s.epoch) for s in snaps] == [(0, 0), (4, 0), (5, 0)]


def test_a_damaged_or_foreign_snapshots_file_reads_as_no_time_lapse(tmp_path):
    (tmp_path / "snapshots.pt").write_bytes(b"garbage")
    assert load_snapshots(tmp_path) == ([], None)
    torch.save({"something": "else"}, tmp_path / "snapshots.pt")
    assert load_snapshots(tmp_path) == ([], None)
    assert load_snapshots(tmp_path / "missing") == ([], None)
