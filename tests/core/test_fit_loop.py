"""The Fabric training loop on its own: step limits, early stopping, checkpoints, running sums."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.training.fit_loop import FOLD_BYTES, FOLD_EVERY, FabricTrainer, RunningSums, _limit
from vision_core.training.lightning_module import ClassifierModule, VisionDataModule

CONFIG = RunConfig(dataset="digits", model="linear", batch_size=32, epochs=10, snapshot_every=0)


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


def module_for(config: RunConfig, data, cls=ClassifierModule) -> ClassifierModule:
    L.seed_everything(config.seed, verbose=False)
    model = models.build(config.model, in_channels=data.channels, num_classes=len(data.classes),
                         image_size=data.image_size)
    return cls(model, config, len(data.classes))


class FlatValidation(ClassifierModule):
    """Validation loss 1.0 whatever the weights: it never improves after the first epoch."""

    def eval_step(self, batch, forward):
        logits = forward(batch[0])
        return torch.tensor(1.0), logits


class Epochs(L.Callback):
    def __init__(self) -> None:
        self.ended: list[int] = []

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.ended.append(trainer.current_epoch)


@pytest.mark.parametrize("patience", [1, 3])
def test_early_stopping_waits_patience_epochs_without_a_lower_val_loss(digits, tmp_path, patience):
    epochs = Epochs()
    trainer = FabricTrainer(accelerator="cpu", max_epochs=10, limit_train_batches=2, limit_val_batches=1,
                            callbacks=[epochs], checkpoint_dir=tmp_path, early_stopping_patience=patience)
    trainer.fit(module_for(CONFIG, digits, FlatValidation), VisionDataModule(CONFIG, digits))
    assert epochs.ended == list(range(1 + patience))  # the first epoch sets the best, then `patience` more
    assert torch.load(tmp_path / "best.ckpt", weights_only=True)["epoch"] == 0  # saved when it was best
    assert torch.load(tmp_path / "last.ckpt", weights_only=True)["epoch"] == patience


def test_max_steps_ends_training_mid_epoch_with_the_partial_epochs_numbers(digits):
    trainer = FabricTrainer(accelerator="cpu", max_epochs=10, max_steps=7, limit_val_batches=0)
    trainer.fit(module_for(CONFIG, digits), VisionDataModule(CONFIG, digits))
    assert trainer.global_step == 7 and trainer.current_epoch == 1
    assert 0.0 <= float(trainer.callback_metrics["train_acc"]) <= 1.0


def test_checkpoints_are_lightning_checkpoints_of_the_module(digits, tmp_path):
    module = module_for(CONFIG, digits)
    trainer = FabricTrainer(accelerator="cpu", max_epochs=1, limit_train_batches=3, limit_val_batches=1)
    trainer.fit(module, VisionDataModule(CONFIG, digits))
    trainer.save_checkpoint(tmp_path / "x.ckpt")
    data = torch.load(tmp_path / "x.ckpt", weights_only=True)  # nothing but plain data: loads without pickle code
    assert data["global_step"] == 3 and data["hyper_parameters"]["config"]["model"] == "linear"
    fresh = models.build("linear", in_channels=1, num_classes=10, image_size=(32, 32))
    loaded = ClassifierModule.load_from_checkpoint(tmp_path / "x.ckpt", model=fresh, config=CONFIG)
    for name, tensor in module.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], tensor)


@pytest.mark.parametrize("limit, available, expected", [
    (None, 10, 10), (3, 10, 3), (30, 10, 10), (0.5, 10, 5), (1.0, 10, 10), (0.01, 10, 1), (0, 10, 0), (0.0, 10, 0),
])
def test_batch_limits_mean_what_they_mean_for_lightnings_trainer(limit, available, expected):
    assert _limit(limit, available) == expected


@pytest.mark.parametrize("binary", [False, True])
def test_running_sums_are_the_sample_weighted_totals_across_folds(binary):
    g = torch.Generator().manual_seed(0)
    model = torch.nn.Linear(4, 1 if binary else 5)
    module = ClassifierModule(model, CONFIG, 2 if binary else 5)
    sums, losses, corrects, sizes = RunningSums(module.correct_mask), [], [], []
    for i in range(2 * FOLD_EVERY + 17):  # folds twice on the way, once more when read
        n = 32 if i % 50 else 7
        logits = torch.randn(n, 1 if binary else 5, generator=g)
        y = torch.randint(0, 2 if binary else 5, (n,), generator=g)
        loss = torch.rand((), generator=g)
        sums.add(loss, logits, y)
        losses.append(float(loss) * n)
        preds = (logits[:, 0] > 0).long() if binary else logits.argmax(1)  # counted here, independently
        corrects.append(int((preds == y).sum()))
        sizes.append(n)
    total = sums.fold()
    assert sums.count == sum(sizes)
    assert float(total[0]) == pytest.approx(sum(losses), rel=1e-5)
    assert float(total[1]) == sum(corrects)


def test_big_logits_fold_early_so_little_memory_waits():
    sums = RunningSums(lambda logits, y: logits.argmax(1) == y)
    logits = torch.zeros(256, 1000)  # 1 MB a step
    for _ in range(20):
        sums.add(torch.tensor(1.0), logits, torch.zeros(256, dtype=torch.long))
    assert sums.pending_bytes < FOLD_BYTES and len(sums.pending) < 20
    assert float(sums.fold()[1]) == 20 * 256
