"""The training loop every run uses: Lightning Fabric sets up devices, precision and DDP; the epochs run here.

Why not ``L.Trainer``: on a small model its loop costs more than the model itself. On the 2-core CPU
the Trainer adds ~0.6 ms of hooks, profiler contexts and bookkeeping to every step, and a tiny model's
whole step is ~0.4 ms; on a GPU a small CNN's step is shorter still. Fabric gives the same devices,
strategies (DDP, several nodes) and precisions for ~0.07 ms (docs/PERFORMANCE.md).

What the rest of the tool reads stays Lightning's:

- ``metrics.csv`` is written by Lightning's ``CSVLogger`` with the Trainer's rows and step numbers
  (a ``train_loss_step`` row every ``log_every_n_steps`` steps; per epoch a validation row and a
  training row with the epoch's ``lr``; a test row at the end);
- checkpoints are Lightning checkpoints (``ClassifierModule.load_from_checkpoint`` loads them);
- callbacks are ``L.Callback`` objects, called with the Trainer's hook names and arguments. The
  ``trainer`` they receive is this loop: it has the attributes they read (``global_step``,
  ``current_epoch``, ``should_stop``, ``optimizers``, ``callback_metrics``, ``logger``…).

Example::

    trainer = FabricTrainer(accelerator="cpu", max_epochs=3, callbacks=[LiveCallback(state, control)])
    trainer.fit(module, datamodule=VisionDataModule(config, dataset))
    trainer.test(module, datamodule=...)[0]["test_acc"]
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.fabric.strategies import SingleDeviceStrategy

from vision_core.training.lightning_module import EPOCH_NAMES, ClassifierModule, VisionDataModule

FOLD_EVERY = 256  # steps whose loss and logits wait on the device before they are added to the sums
FOLD_BYTES = 16 * 2**20  # … or fewer steps, when their logits take this much memory


class RestoreError(RuntimeError):
    """A checkpoint that cannot be continued from; the message is for the student."""


def _limit(limit: float | None, available: int) -> int:
    """Lightning's ``limit_*_batches``: None → all, an int → that many, a float in (0, 1] → that fraction."""
    if limit is None:
        return available
    if isinstance(limit, float) and limit <= 1.0:
        return min(available, max(1, int(available * limit))) if limit > 0 else 0
    return min(available, int(limit))


class RunningSums:
    """Σ loss·batch, Σ correct and the sample count of one stage, kept on the device until read.

    ``add`` only keeps the step's loss and logits; every ``FOLD_EVERY`` steps (or ``FOLD_BYTES`` of
    logits) a handful of tensor operations fold them all in: one concatenation, one ``correct_mask``
    for every step's predictions. Counting the correct answers step by step (argmax, compare, sum) was
    10 % of a tiny model's step; a host sync per step would stall a GPU.
    """

    def __init__(self, correct_mask) -> None:
        self.correct_mask = correct_mask  # (logits, y) → (N,) bool, as ClassifierModule.correct_mask
        self.pending: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []  # (loss, logits, y)
        self.pending_bytes = 0
        self.sums: torch.Tensor | None = None  # tensor([Σ loss·batch, Σ correct])
        self.count = 0

    def add(self, loss: torch.Tensor, logits: torch.Tensor, y: torch.Tensor) -> None:
        self.pending.append((loss, logits, y))
        self.count += y.shape[0]
        self.pending_bytes += logits.numel() * logits.element_size()
        if len(self.pending) >= FOLD_EVERY or self.pending_bytes >= FOLD_BYTES:
            self.fold()

    def fold(self) -> torch.Tensor | None:
        """The sums so far (None before the first step)."""
        if self.pending:
            losses = torch.stack([loss for loss, _, _ in self.pending]).float()
            sizes = torch.tensor([y.shape[0] for _, _, y in self.pending], dtype=losses.dtype).to(losses.device)
            correct = self.correct_mask(torch.cat([logits for _, logits, _ in self.pending]),
                                        torch.cat([y for _, _, y in self.pending])).sum()
            step = torch.stack(((losses * sizes).sum(), correct.float()))
            self.sums = step if self.sums is None else self.sums + step
            self.pending, self.pending_bytes = [], 0
        return self.sums


class FabricTrainer:
    """Fit, validate and test a ``ClassifierModule`` on the batches of a ``VisionDataModule``.

    Keyword arguments follow ``L.Trainer`` where they mean the same thing (``accelerator``, ``devices``,
    ``strategy``, ``num_nodes``, ``precision``, ``benchmark``, ``max_epochs``, ``max_steps``,
    ``limit_*_batches``, ``log_every_n_steps``, ``logger``, ``callbacks``). ``log_every_n_steps="auto"``
    writes the step curve every 5 steps, or about 100 times an epoch when epochs are longer.
    ``checkpoint_dir`` gets ``last.ckpt`` after every epoch and, with validation, ``best.ckpt`` (lowest
    ``val_loss``); ``early_stopping_patience`` stops after that many epochs without a lower ``val_loss``.
    """

    sanity_checking = False  # callbacks written for the Trainer ask; this loop has no sanity check

    def __init__(self, *, accelerator: str = "auto", devices: Any = "auto", strategy: str = "auto",
                 num_nodes: int = 1, precision: str = "32-true", benchmark: bool | None = None,
                 max_epochs: int = 1, max_steps: int = -1, limit_train_batches: float | None = None,
                 limit_val_batches: float | None = None, limit_test_batches: float | None = None,
                 log_every_n_steps: int | str = "auto", logger=None, callbacks: list[L.Callback] | None = None,
                 checkpoint_dir: str | Path | None = None, early_stopping_patience: int = 0,
                 progress_bar: bool = False) -> None:
        self.fabric = L.Fabric(accelerator=accelerator, devices=devices, strategy=strategy, num_nodes=num_nodes,
                               precision=precision)
        if benchmark is not None:
            torch.backends.cudnn.benchmark = benchmark  # fixed input shapes: cuDNN picks its fastest kernels once
        # DDP: the other processes start here, each running the same command (as the Trainer does).
        self.fabric.launch()
        self.max_epochs, self.max_steps = max_epochs, max_steps
        self.limits = {"train": limit_train_batches, "val": limit_val_batches, "test": limit_test_batches}
        self._log_every = log_every_n_steps
        self.log_every_n_steps = 1  # set by fit: a number, or with "auto" about 100 rows per epoch (≥ every 5 steps)
        self.logger = logger or None
        self.loggers = [self.logger] if self.logger is not None else []
        self.callbacks = list(callbacks or [])
        self.checkpoint_dir = Path(checkpoint_dir) if checkpoint_dir is not None else None
        self.early_stopping_patience = early_stopping_patience
        self.progress_bar = progress_bar
        # What callbacks and the engine read, with the Trainer's names.
        self.current_epoch = 0
        self.global_step = 0
        self.should_stop = False
        self.optimizers: list[torch.optim.Optimizer] = []
        self.lr_schedulers: list = []
        self.callback_metrics: dict[str, torch.Tensor] = {}
        self.num_training_batches = 0
        self.num_val_batches: list[int] = []
        self.num_test_batches: list[int] = []
        self.estimated_stepping_batches = 0
        self.datamodule: VisionDataModule | None = None
        self._module: ClassifierModule | None = None
        self._wrapped = None  # the module as Fabric set it up (precision, DDP): training goes through it
        self._optimizer = None  # the optimiser as Fabric set it up
        self._scheduler_interval = "epoch"
        self._sums: dict[str, RunningSums] = {}  # per stage: "train", "val", "test"
        self._epoch_lr: float | None = None  # the lr the epoch started with (its metrics.csv row says it)
        self._train_means: dict[str, torch.Tensor] | None = None
        self._bar = None  # the epoch's progress bar (the CLI's), or None
        self._best_val_loss = math.inf
        self._epochs_without_improvement = 0
        self._epochs_done = 0  # epochs whose end has passed (a stopped epoch ends early): where a continue starts
        self.resumed_epoch = 0  # the epoch a continued run started at (its checkpoint's)

    # --- the Trainer's read-only attributes ------------------------------------------------------------------

    @property
    def strategy(self):
        return self.fabric.strategy  # .root_device, as the Trainer's

    @property
    def precision(self) -> str:
        return self.fabric.strategy.precision.precision

    @property
    def world_size(self) -> int:
        return self.fabric.world_size

    @property
    def global_rank(self) -> int:
        return self.fabric.global_rank

    @property
    def is_global_zero(self) -> bool:
        return self.fabric.is_global_zero

    # --- set-up ----------------------------------------------------------------------------------------------

    def _attach(self, module: ClassifierModule, datamodule: VisionDataModule) -> None:
        """Data and module on the device (once: ``test`` after ``fit`` reuses them)."""
        datamodule.trainer = self
        if self.datamodule is not datamodule:
            if self.fabric.local_rank == 0:
                datamodule.prepare_data()
            self.fabric.barrier()
            datamodule.setup("fit")
            self.datamodule = datamodule
        if self._module is module:
            return
        module.prepare(self.strategy.root_device.type)
        self._module = module
        self._wrapped = self.fabric.setup_module(module)

    def _setup_optimizer(self, module: ClassifierModule, batches_per_epoch: int) -> None:
        total = self.max_epochs * batches_per_epoch
        self.estimated_stepping_batches = min(total, self.max_steps) if self.max_steps > 0 else total
        optimizer, scheduler, interval = module.make_optimizer(self.estimated_stepping_batches)
        self.optimizers = [optimizer]
        self.lr_schedulers = [scheduler] if scheduler is not None else []
        self._scheduler_interval = interval
        self._optimizer = self.fabric.setup_optimizers(optimizer)

    def _hooks(self, name: str) -> list:
        base = getattr(L.Callback, name)
        return [getattr(cb, name) for cb in self.callbacks if getattr(type(cb), name, base) is not base]

    def _call(self, name: str, *args) -> None:
        for hook in self._hooks(name):
            hook(self, self._module, *args)

    # --- running sums: one device tensor per stage, read once per epoch ---------------------------------------

    def _epoch_means(self, stage: str) -> dict[str, torch.Tensor] | None:
        """The stage's sample-weighted mean loss and accuracy over every rank (None when it saw nothing)."""
        running = self._sums.pop(stage, None) or RunningSums(self._module.correct_mask)
        sums, n = running.fold(), running.count
        if self.world_size > 1:  # every rank takes part, even one that saw no batch
            totals = torch.cat((sums if sums is not None else torch.zeros(2, device=self.strategy.root_device),
                                torch.tensor([float(n)], device=self.strategy.root_device)))
            totals = self.fabric.all_reduce(totals, reduce_op="sum")
            sums, n = totals[:2], int(totals[2].item())
        if sums is None or n == 0:
            return None
        means = (sums / n).detach()
        loss_name, acc_name = EPOCH_NAMES[stage]
        metrics = {loss_name: means[0], acc_name: means[1]}
        self.callback_metrics.update(metrics)
        return metrics

    def _log(self, metrics: dict[str, Any], step: int) -> None:
        if self.logger is not None and self.is_global_zero:
            self.logger.log_metrics({**{k: float(v) for k, v in metrics.items()}, "epoch": self.current_epoch},
                                    step=step)

    # --- fit ---------------------------------------------------------------------------------------------------

    def fit(self, module: ClassifierModule, datamodule: VisionDataModule, ckpt_path: str | Path | None = None
            ) -> None:
        """Train for ``max_epochs``; with ``ckpt_path`` (a checkpoint this loop saved) continue where it ended."""
        self._attach(module, datamodule)
        train_loader = datamodule.train_dataloader()
        self.num_training_batches = _limit(self.limits["train"], len(train_loader))
        if self._log_every == "auto":
            self.log_every_n_steps = max(5, self.num_training_batches // 100)
        else:
            self.log_every_n_steps = max(int(self._log_every), 1)
        has_val = self.limits["val"] != 0
        val_loader = datamodule.val_dataloader() if has_val else None
        self.num_val_batches = [_limit(self.limits["val"], len(val_loader))] if has_val else []
        self._setup_optimizer(module, self.num_training_batches)
        if ckpt_path is not None:
            self._restore(ckpt_path)
        if self.logger is not None and self.is_global_zero:
            self.logger.log_hyperparams(dict(module.hparams))
        if self.global_step == 0:
            module.init_from_data(datamodule.dataset)
        self._call("on_fit_start")
        self._call("on_train_start")
        try:
            while self.current_epoch < self.max_epochs and not self.should_stop and not self._max_steps_reached():
                self._train_epoch(train_loader)
                if val_loader is not None and not self.should_stop:
                    self._validate(val_loader)
                self._end_epoch()
        finally:
            if self.logger is not None and self.is_global_zero:
                self.logger.save()
        self._call("on_train_end")
        self._call("on_fit_end")

    def _restore(self, ckpt_path: str | Path) -> None:
        """Weights, optimiser and schedule states, epoch and step counts of a checkpoint (``weights_only``: it is
        a file from a run folder). The epoch after the last one that ended comes next; steps go on counting."""
        self.fabric.barrier()
        try:
            state = torch.load(ckpt_path, map_location=self.strategy.root_device, weights_only=True)
            self._module.load_state_dict(state["state_dict"])
            for optimizer, saved in zip(self.optimizers, state.get("optimizer_states") or []):
                optimizer.load_state_dict(saved)
            for scheduler, saved in zip(self.lr_schedulers, state.get("lr_schedulers") or []):
                scheduler.load_state_dict(saved)
            epoch = int(state.get("epochs_done", state["epoch"]))
            step = int(state["global_step"])
            best = float(state.get("best_val_loss", math.inf))  # best.ckpt is replaced only by a better one
            patience = int(state.get("epochs_without_improvement", 0))
        except Exception as exc:  # noqa: BLE001 — a file from a run folder fails in many ways; each is one sentence
            raise RestoreError(f"The last checkpoint cannot be continued from ({type(exc).__name__}): it may be "
                               "damaged or made by another version. Start a new run instead.") from None
        if epoch < 0 or step < 0:
            raise RestoreError(f"The last checkpoint says epoch {epoch}, step {step}: it cannot be continued from.")
        self.current_epoch = self._epochs_done = self.resumed_epoch = epoch
        self.global_step = step
        self._best_val_loss, self._epochs_without_improvement = best, patience

    def _needs_wrapper(self) -> bool:
        """Whether steps must go through Fabric's module wrapper: DDP's gradient sync, autocast."""
        return self.world_size > 1 or self.precision != "32-true" or \
            not isinstance(self.strategy, SingleDeviceStrategy)

    def _max_steps_reached(self) -> bool:
        return 0 < self.max_steps <= self.global_step

    def _train_epoch(self, loader) -> None:
        module, optimizer, wrapped = self._module, self._optimizer, self._wrapped
        wrapped.train()
        sums = self._sums["train"] = RunningSums(module.correct_mask)
        self._epoch_lr = optimizer.param_groups[0]["lr"]
        self._call("on_train_epoch_start")
        starts, ends = self._hooks("on_train_batch_start"), self._hooks("on_train_batch_end")
        schedule_per_step = self._scheduler_interval == "step" and self.lr_schedulers
        if self._needs_wrapper():
            forward, backward = wrapped, self.fabric.backward
        else:  # one device in float32: Fabric's wrappers would only add their checks (~15 % of a tiny model's step)
            forward, backward, optimizer = module.forward, torch.Tensor.backward, self.optimizers[0]
        max_steps = self.max_steps if self.max_steps > 0 else math.inf
        bar = self._bar = self._progress(self.num_training_batches)
        for batch_idx, batch in enumerate(loader):
            if batch_idx >= self.num_training_batches:
                break
            for hook in starts:
                hook(self, module, batch, batch_idx)
            if self.should_stop:
                break
            optimizer.zero_grad(set_to_none=True)
            loss, logits = module.train_step(batch, forward, backward)
            optimizer.step()
            if schedule_per_step:
                self.lr_schedulers[0].step()
            self.global_step += 1
            sums.add(loss, logits, batch[1])
            outputs = {"loss": loss, "logits": logits}  # callbacks count correct answers with module.correct_mask
            for hook in ends:
                hook(self, module, outputs, batch, batch_idx)
            if self.global_step % self.log_every_n_steps == 0 or self.should_stop:
                self._log({"train_loss_step": loss}, step=self.global_step - 1)  # the one host sync, every N steps
            if bar is not None:
                bar.update(1)
            if self.should_stop or self.global_step >= max_steps:
                break
        self._train_means = self._epoch_means("train")

    def _progress(self, total: int):
        if not (self.progress_bar and self.is_global_zero):
            return None
        from tqdm import tqdm

        return tqdm(total=total, desc=f"Epoch {self.current_epoch + 1}/{self.max_epochs}", leave=True)

    def _validate(self, loader) -> None:
        self._call("on_validation_epoch_start")
        self._run_eval("val", loader, self.num_val_batches[0])
        self._call("on_validation_epoch_end")
        val_loss = self.callback_metrics.get("val_loss")
        if val_loss is None:
            return
        val_loss = float(val_loss)
        improved = val_loss < self._best_val_loss
        if improved:
            self._best_val_loss = val_loss
            self._epochs_without_improvement = 0
            if self.checkpoint_dir is not None:
                self.save_checkpoint(self.checkpoint_dir / "best.ckpt")
        else:
            self._epochs_without_improvement += 1
        if self.early_stopping_patience and (
                self._epochs_without_improvement >= self.early_stopping_patience or not math.isfinite(val_loss)):
            self.should_stop = True

    def _end_epoch(self) -> None:
        if self._train_means is not None:  # an epoch stopped before its first batch is still to do
            self._epochs_done = self.current_epoch + 1
        if self._train_means is not None:
            self._log({"lr": self._epoch_lr, **self._train_means}, step=self.global_step - 1)
        self._call("on_train_epoch_end")
        if self._bar is not None:  # the CLI's bar ends with the epoch's numbers
            self._bar.set_postfix({k: f"{float(v):.4f}" for k, v in self.callback_metrics.items()})
            self._bar.close()
            self._bar = None
        if self.lr_schedulers and self._scheduler_interval == "epoch":
            self.lr_schedulers[0].step()
        if self.checkpoint_dir is not None:
            self.save_checkpoint(self.checkpoint_dir / "last.ckpt")
        if self.logger is not None and self.is_global_zero:
            self.logger.save()  # metrics.csv holds every finished epoch (the logger also saves every N steps)
        self.current_epoch += 1

    # --- evaluation --------------------------------------------------------------------------------------------

    def _run_eval(self, stage: str, loader, batches: int) -> dict[str, torch.Tensor] | None:
        wrapped = self._wrapped
        was_training = wrapped.training
        wrapped.eval()
        sums = self._sums[stage] = RunningSums(self._module.correct_mask)
        with torch.no_grad():
            for batch_idx, batch in enumerate(loader):
                if batch_idx >= batches:
                    break
                loss, logits = self._module.eval_step(batch, wrapped)
                sums.add(loss, logits, batch[1])
        means = self._epoch_means(stage)
        if means is not None:
            self._log(means, step=self.global_step - 1 if stage == "val" else self.global_step)
        wrapped.train(was_training)
        return means

    def test(self, module: ClassifierModule, datamodule: VisionDataModule, ckpt_path: str | Path | None = None,
             verbose: bool = False) -> list[dict[str, float]]:
        """Test the module (with the weights of ``ckpt_path`` when given); ``[{"test_loss":…, "test_acc":…}]``."""
        self._attach(module, datamodule)
        if ckpt_path is not None:
            self.fabric.barrier()  # rank 0 wrote it
            state = torch.load(ckpt_path, map_location=self.strategy.root_device, weights_only=True)
            module.load_state_dict(state["state_dict"])
        loader = datamodule.test_dataloader()
        self.num_test_batches = [_limit(self.limits["test"], len(loader))]
        means = self._run_eval("test", loader, self.num_test_batches[0])
        if self.logger is not None and self.is_global_zero:
            self.logger.save()
        return [{k: float(v) for k, v in means.items()}] if means else []

    # --- checkpoints -------------------------------------------------------------------------------------------

    def save_checkpoint(self, path: str | Path) -> None:
        """A Lightning checkpoint of the module (weights, hyper-parameters, optimiser and scheduler states)."""
        module = self._module
        checkpoint = {
            "epoch": self.current_epoch,
            "global_step": self.global_step,
            "epochs_done": self._epochs_done,
            "best_val_loss": self._best_val_loss,
            "epochs_without_improvement": self._epochs_without_improvement,
            "pytorch-lightning_version": L.__version__,
            "state_dict": module.state_dict(),
            "optimizer_states": [o.state_dict() for o in self.optimizers],
            "lr_schedulers": [s.state_dict() for s in self.lr_schedulers],
            "callbacks": {},
            "hparams_name": None,
            "hyper_parameters": dict(module.hparams),
        }
        if self.is_global_zero:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp")
            torch.save(checkpoint, tmp)
            tmp.replace(path)  # a page never reads half a checkpoint
        self.fabric.barrier()
