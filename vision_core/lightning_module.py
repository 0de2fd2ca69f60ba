"""The LightningModule and LightningDataModule every run uses (CLI and dashboard alike)."""

from __future__ import annotations

import lightning as L
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import Accuracy

from vision_core import datasets
from vision_core.config import RunConfig
from vision_core.loader import BatchLoader

STAGES = ("train", "val", "test")


def is_binary_logit(model: nn.Module) -> bool:
    """A model whose last Linear gives one number: trained with BCE-with-logits (the smile recipe)."""
    last = [m for m in model.modules() if isinstance(m, nn.Linear)]
    return bool(last) and last[-1].out_features == 1


class ClassifierModule(L.LightningModule):
    """Wraps a zoo model: loss, optimiser, and accuracy per split (``train_acc``, ``val_acc``, ``test_acc``)."""

    def __init__(self, model: nn.Module, config: RunConfig, num_classes: int) -> None:
        super().__init__()
        self.model = model
        self.config = config
        self.binary = is_binary_logit(model)
        # Saved inside every checkpoint, so a checkpoint says what made it.
        self.save_hyperparameters({"config": config.to_dict(), "num_classes": num_classes})
        task = {"task": "binary"} if self.binary else {"task": "multiclass", "num_classes": num_classes}
        # ModuleDict keys must not shadow nn.Module attributes ("train" would), hence the prefix.
        self.accuracy = nn.ModuleDict({f"acc_{stage}": Accuracy(**task) for stage in STAGES})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _common_step(self, batch, stage: str):
        x, y = batch  # (B, C, H, W), (B,)
        logits = self.model(x)
        if self.binary:
            logits = logits.squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logits, y.float())
            preds = (logits > 0).long()
        else:
            loss = F.cross_entropy(logits, y)
            preds = logits.argmax(dim=1)
        self.accuracy[f"acc_{stage}"].update(preds, y)
        return loss, (preds == y).sum()

    def training_step(self, batch, batch_idx):
        loss, correct = self._common_step(batch, "train")
        self.log("train_loss", loss, on_step=True, on_epoch=True, prog_bar=True)
        self.log("train_acc", self.accuracy["acc_train"], on_step=False, on_epoch=True, prog_bar=True)
        return {"loss": loss, "correct": correct}

    def validation_step(self, batch, batch_idx):
        loss, _ = self._common_step(batch, "val")
        self.log("val_loss", loss, prog_bar=True)
        self.log("val_acc", self.accuracy["acc_val"], prog_bar=True)

    def test_step(self, batch, batch_idx):
        loss, _ = self._common_step(batch, "test")
        self.log("test_loss", loss)
        self.log("test_acc", self.accuracy["acc_test"])

    def on_train_epoch_start(self) -> None:
        if self.trainer.optimizers:
            self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], on_step=False, on_epoch=True)

    def configure_optimizers(self):
        c = self.config
        if c.optimizer == "sgd":
            optimizer = torch.optim.SGD(self.parameters(), lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)
        elif c.optimizer == "adam":
            optimizer = torch.optim.Adam(self.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        else:
            optimizer = torch.optim.AdamW(self.parameters(), lr=c.lr, weight_decay=c.weight_decay)
        if c.scheduler == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=c.epochs)
        elif c.scheduler == "step":
            scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=max(c.epochs // 3, 1), gamma=0.1)
        else:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "epoch"}}


class VisionDataModule(L.LightningDataModule):
    """Batches straight from in-memory tensors on the training device (no per-sample work)."""

    def __init__(self, config: RunConfig, dataset: datasets.ImageDataset | None = None) -> None:
        super().__init__()
        self.config = config
        self.dataset = dataset

    def prepare_data(self) -> None:
        # Download happens here, once, when the machine is online and the user asked for it.
        if self.dataset is None:
            datasets.load(self.config.dataset, **self.config.dataset_options)

    def setup(self, stage: str | None = None) -> None:
        if self.dataset is None:
            self.dataset = datasets.load(self.config.dataset, **self.config.dataset_options)

    def _loader(self, split, *, train: bool) -> BatchLoader:
        trainer = self.trainer
        return BatchLoader(
            split,
            self.dataset,
            self.config.batch_size,
            shuffle=train,
            device=trainer.strategy.root_device if trainer else "cpu",
            augment=self.config.augment if train else None,
            seed=self.config.seed,
            rank=trainer.global_rank if trainer else 0,
            world_size=trainer.world_size if trainer else 1,
        )

    def train_dataloader(self) -> BatchLoader:
        return self._loader(self.dataset.train, train=True)

    def val_dataloader(self) -> BatchLoader:
        # Recipes without a validation split (FashionMNIST) validate on the test set, as the tutorial does.
        val = self.dataset.val if self.dataset.val is not None else self.dataset.test
        return self._loader(val, train=False)

    def test_dataloader(self) -> BatchLoader:
        return self._loader(self.dataset.test, train=False)
