"""The engine hands a run's speed options to Lightning's Trainer (and a caller's own settings win)."""

from __future__ import annotations

import lightning as L

from vision_core.config import RunConfig
from vision_core.training import engine


class Seen(L.Callback):
    def on_train_start(self, trainer, pl_module):
        self.precision = trainer.precision


def test_the_runs_precision_reaches_the_trainer(tmp_path):
    seen = Seen()
    config = RunConfig(dataset="digits", model="linear", epochs=1, precision="bf16-mixed", snapshot_every=0)
    engine.train(config, root=tmp_path, extra_callbacks=[seen], trainer_options={"limit_train_batches": 2,
                                                                                 "limit_val_batches": 1})
    assert seen.precision == "bf16-mixed"
    seen = Seen()
    engine.train(config, root=tmp_path, extra_callbacks=[seen],
                 trainer_options={"limit_train_batches": 2, "limit_val_batches": 1, "precision": "32-true"})
    assert seen.precision == "32-true"
