"""A finished or stopped run as notebook cells, in the tutorials' order: data, model, training (plain PyTorch, then
the same with Lightning), evaluation, and the run's own checkpoint checked against its test accuracy.

Every setting of the run is either written into the code or named in the notebook's notes: nothing is dropped
silently. Example: ``export_cells(runs.load_run(run_id))``.
"""

from __future__ import annotations

import math
from typing import Any

from vision_core.code_export.data_code import data_cells, uses
from vision_core.code_export.model_code import class_name, model_source
from vision_core.code_export.ready import ExportError, checkpoint_kind, checkpoint_name, why_not_exportable
from vision_core.code_export.text import Cell, code, markdown
from vision_core.config import RunConfig
from vision_core.data import augment, datasets
from vision_core.models import zoo
from vision_core.runs.store import RunRecord

# Retraining on the same kind of device as the run lands this close to its test accuracy (the notebook says why).
RETRAIN_TOLERANCE = 0.02
WHITENING_SAMPLE = 5000  # training images airbench's whitening sees (vision_core.training's WHITENING_SAMPLE)

# The imports the notebook's code may use, each taken only when the code uses its name.
_IMPORTS = [("import copy", "copy."), ("import math", "math."), ("from pathlib import Path", "Path("), ("", ""),
            ("import lightning as L", "L."), ("import matplotlib.pyplot as plt", "plt."), ("import torch", "torch."),
            ("import torch.nn.functional as F", "F."), ("import torchvision", "torchvision."),
            ("from sklearn.datasets import load_digits", "load_digits("), ("from torch import nn", "nn."),
            ("from torchmetrics.classification import MulticlassConfusionMatrix", "MulticlassConfusionMatrix("),
            ("from torchvision import transforms", "transforms.")]
_SPEED_FLAGS = ("fast", "channels_last", "compile", "fused_optimizer")


# --------------------------------------------------------------------------- pieces


def _settings_table(config: RunConfig, run: RunRecord) -> str:
    rows = [("dataset", f"`{config.dataset}` {_options(config.dataset_options)}".strip()),
            ("model", f"`{config.model}` {_options(config.model_options)}".strip()),
            ("optimizer", f"{config.optimizer}, lr {config.lr:g}, weight decay {config.weight_decay:g}"
                          + (f", momentum {config.momentum:g}" if config.optimizer == "sgd" else "")
                          + (", Nesterov" if config.nesterov else "")),
            ("schedule", config.scheduler), ("label smoothing", f"{config.label_smoothing:g}"),
            ("batch size, epochs, seed", f"{config.batch_size}, {config.epochs}, {config.seed}"),
            ("augmentation", ", ".join(f"{k} {v:g}" for k, v in augment.validate_augment(config.augment).items())
             or "none"),
            ("early stopping", f"patience {config.early_stopping_patience}" if config.early_stopping_patience
             else "off")]
    summary = run.summary or {}
    result = (f"{run.state}: test accuracy {summary['test_acc']:.2%} after "
              f"{summary.get('epochs_completed', '?')} epoch(s) on {summary.get('device', '?')}")
    rows.append(("result", result))
    return "| setting | the run |\n|---|---|\n" + "\n".join(f"| {k} | {_cell_text(v)} |" for k, v in rows)


def _cell_text(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _options(options: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v!r}" for k, v in sorted(options.items())) + ")" if options else ""


def _notes(config: RunConfig, run: RunRecord, binary: bool) -> list[str]:
    """What the notebook does not reproduce, each in one sentence (an option is never silently dropped)."""
    notes = []
    speed = [flag for flag in _SPEED_FLAGS if getattr(config, flag)]
    if config.precision != "32":
        speed.append(f"precision {config.precision}")
    if speed:
        notes.append(f"The run used the speed option(s) {', '.join(speed)}: they change how fast it trained, not "
                     "what it learned (bfloat16 and fused kernels round a little differently). This notebook "
                     "trains in plain float32.")
    if config.snapshot_every:
        notes.append(f"The dashboard's time-lapse (filters and feature maps every {config.snapshot_every} steps) "
                     "watches training without changing it: left out.")
    if binary and config.label_smoothing:
        notes.append(f"Label smoothing {config.label_smoothing:g} does nothing with one logit (binary "
                     "cross-entropy), in the dashboard as here.")
    summary = run.summary or {}
    if run.state == "stopped":
        notes.append(f"The run was stopped by hand after {summary.get('epochs_completed', '?')} of its "
                     f"{config.epochs} epochs and tested with the weights at the stop. This notebook trains all "
                     f"{config.epochs} epochs, so its accuracy will differ; the checkpoint check still gives the "
                     "run's.")
    return notes


def _loss_code(config: RunConfig, binary: bool) -> str:
    if binary:
        return ('bce = nn.BCEWithLogitsLoss()\n\n\n'
                'def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:\n'
                '    """One logit per image (two classes): binary cross-entropy with the sigmoid built in."""\n'
                '    return bce(logits.squeeze(1), y.float())\n\n\n'
                'def predict(logits: torch.Tensor) -> torch.Tensor:\n'
                '    """Class 1 where the logit is positive (a sigmoid above 0.5), else class 0."""\n'
                '    return (logits.squeeze(1) > 0).long()\n')
    smoothing = f"label_smoothing={config.label_smoothing!r}" if config.label_smoothing else ""
    comment = "  # the true class gets 1 − ε, the rest share ε" if smoothing else ""
    return (f"loss_fn = nn.CrossEntropyLoss({smoothing}){comment}\n\n\n"
            'def predict(logits: torch.Tensor) -> torch.Tensor:\n'
            '    """The predicted class of each image: the one with the largest logit."""\n'
            '    return logits.argmax(dim=1)\n')


def _optimizer_code(config: RunConfig) -> str:
    if config.optimizer == "sgd":
        call = (f"torch.optim.SGD(parameters, lr={config.lr!r}, momentum={config.momentum!r}, "
                f"nesterov={config.nesterov!r}, weight_decay={config.weight_decay!r})")
    else:
        call = (f"torch.optim.{'Adam' if config.optimizer == 'adam' else 'AdamW'}(parameters, lr={config.lr!r}, "
                f"weight_decay={config.weight_decay!r})")
    return ("def make_optimizer(parameters) -> torch.optim.Optimizer:\n"
            f"    return {call}\n")


def _scheduler_code(config: RunConfig) -> tuple[str, str]:
    """(code defining make_scheduler, "epoch" or "step": when it steps)."""
    head = "def make_scheduler(optimizer: torch.optim.Optimizer):\n"
    if config.scheduler == "cosine":
        return (head + '    """Cosine annealing from lr down to 0 over the epochs (one step per epoch)."""\n'
                "    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=EPOCHS)\n", "epoch")
    if config.scheduler == "step":
        every = max(config.epochs // 3, 1)
        return (head + f'    """lr × 0.1 every {every} epoch(s): a third of the run."""\n'
                f"    return torch.optim.lr_scheduler.StepLR(optimizer, step_size={every}, gamma=0.1)\n", "epoch")
    if config.scheduler == "warmup_linear":
        return ('def warmup_linear(step: int, total_steps: int) -> float:\n'
                '    """The lr factor at `step`: 0.2 → 1 over the first 23 % of the steps, then down to 0.07 '
                '(airbench)."""\n'
                '    peak = max(int(0.23 * total_steps), 1)\n'
                '    if step < peak:\n'
                '        return 0.2 + 0.8 * step / peak\n'
                '    return 1.0 - 0.93 * min((step - peak) / max(total_steps - peak, 1), 1.0)\n\n\n'
                + head + '    """The warm-up triangle, one step per batch."""\n'
                '    total_steps = max(EPOCHS * len(train_batches), 1)\n'
                '    return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: warmup_linear(step, total_steps))\n',
                "step")
    return head + '    """The run kept the learning rate constant."""\n    return None\n', "epoch"


_EVALUATE = '''
def evaluate(model: nn.Module, batches: Batches) -> tuple[float, float]:
    """Mean loss and accuracy over every image of `batches` (eval mode: no dropout, BatchNorm's running stats)."""
    model.eval()
    total_loss, correct, count = 0.0, 0, 0
    with torch.inference_mode():
        for x, y in batches:
            logits = model(x)
            total_loss += loss_fn(logits, y).item() * len(y)
            correct += (predict(logits) == y).sum().item()
            count += len(y)
    return total_loss / count, correct / count
'''


def _training_code(config: RunConfig, schedule_every: str) -> str:
    step_schedule = "        scheduler.step()  # the schedule moves once per batch\n" if (
        schedule_every == "step" and config.scheduler != "none") else ""
    epoch_schedule = "    scheduler.step()  # the schedule moves once per epoch\n" if (
        schedule_every == "epoch" and config.scheduler != "none") else ""
    stop = ""
    if config.early_stopping_patience:
        stop = ("    if epochs_since_best >= PATIENCE or not math.isfinite(val_loss):\n"
                '        print(f"Early stop: no lower validation loss for {PATIENCE} epoch(s).")\n'
                "        break\n")
    return (
        "model = new_model()  # a fresh start (same first weights), so this cell can be run again\n"
        "optimizer = make_optimizer(model.parameters())\n"
        "scheduler = make_scheduler(optimizer)\n"
        "best_val_loss, best_epoch, best_weights, epochs_since_best = math.inf, 0, None, 0\n"
        "for epoch in range(1, EPOCHS + 1):\n"
        "    model.train()\n"
        '    lr = optimizer.param_groups[0]["lr"]\n'
        "    train_loss, train_correct, seen = 0.0, 0, 0\n"
        "    for x, y in train_batches:\n"
        "        optimizer.zero_grad(set_to_none=True)\n"
        "        logits = model(x)  # (B, outputs)\n"
        "        loss = loss_fn(logits, y)\n"
        "        loss.backward()\n"
        "        optimizer.step()\n"
        + step_schedule +
        "        train_loss += loss.item() * len(y)\n"
        "        train_correct += (predict(logits) == y).sum().item()\n"
        "        seen += len(y)\n"
        "    val_loss, val_acc = evaluate(model, val_batches)\n"
        '    print(f"Epoch {epoch}/{EPOCHS} | lr {lr:.3g} | "\n'
        '          f"train loss {train_loss / seen:.4f}, acc {train_correct / seen:.2%} | "\n'
        '          f"validation loss {val_loss:.4f}, acc {val_acc:.2%}")\n'
        "    if val_loss < best_val_loss:  # keep the best epoch's weights, as the dashboard's best.ckpt does\n"
        "        best_val_loss, best_epoch, epochs_since_best = val_loss, epoch, 0\n"
        "        best_weights = copy.deepcopy(model.state_dict())\n"
        "    else:\n"
        "        epochs_since_best += 1\n"
        + epoch_schedule + stop +
        "\n"
        "if best_weights is not None:\n"
        "    model.load_state_dict(best_weights)\n"
        '    print(f"Kept the weights of epoch {best_epoch} (lowest validation loss, {best_val_loss:.4f}).")\n'
    )


_LIGHTNING = '''
RUN_LIGHTNING = False  # True: train a fresh model once more, with Lightning's Trainer running the loop


class LitClassifier(L.LightningModule):
    """The same network, loss, optimiser and schedule as above; Lightning runs the loop, logs and checkpoints."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    def _common_step(self, batch, stage: str) -> torch.Tensor:
        x, y = batch
        logits = self(x)
        loss = loss_fn(logits, y)
        self.log(f"{stage}_loss", loss, prog_bar=True, batch_size=len(y))
        self.log(f"{stage}_acc", (predict(logits) == y).float().mean(), prog_bar=True, batch_size=len(y))
        return loss

    def training_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self._common_step(batch, "train")

    def validation_step(self, batch, batch_idx: int) -> None:
        self._common_step(batch, "val")

    def test_step(self, batch, batch_idx: int) -> None:
        self._common_step(batch, "test")

    def configure_optimizers(self):
        optimizer = make_optimizer(self.parameters())
        scheduler = make_scheduler(optimizer)
        if scheduler is None:
            return optimizer
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": SCHEDULE_EVERY}}


if RUN_LIGHTNING:
    callbacks = [L.pytorch.callbacks.ModelCheckpoint(monitor="val_loss")]  # keeps the best epoch's weights
    if PATIENCE:
        callbacks.append(L.pytorch.callbacks.EarlyStopping(monitor="val_loss", patience=PATIENCE))
    trainer = L.Trainer(max_epochs=EPOCHS, accelerator="gpu" if DEVICE == "cuda" else "cpu", devices=1,
                        callbacks=callbacks, logger=False, default_root_dir="lightning", num_sanity_val_steps=0)
    trainer.fit(LitClassifier(new_model()), train_dataloaders=train_batches, val_dataloaders=val_batches)
    trainer.test(ckpt_path="best", dataloaders=test_batches)
'''

_EVALUATION = '''
# Predictions for every test image, with the kept (best) weights.
model.eval()
predictions, targets = [], []
with torch.inference_mode():
    for x, y in test_batches:
        predictions.append(predict(model(x)).cpu())
        targets.append(y.cpu())
predictions, targets = torch.cat(predictions), torch.cat(targets)
correct = int((predictions == targets).sum())
test_acc = correct / len(targets)
print(f"Test accuracy: {test_acc:.2%} ({correct}/{len(targets)} images)")
print(f"The dashboard's run: {RUN_TEST_ACC:.2%}. Difference: {abs(test_acc - RUN_TEST_ACC):.2%} "
      f"(expected within {RETRAIN_TOLERANCE * 100:g} percentage points on the run's kind of device)")

# The confusion matrix: rows are the true classes, columns the predicted ones.
confusion = MulticlassConfusionMatrix(num_classes=len(CLASSES))
confusion.update(predictions, targets)
print(confusion.compute())
fig, ax = confusion.plot(labels=CLASSES)
ax.set_title("Confusion matrix (test set)")
plt.show()
'''

_GRID = '''
# Nine test images picked at random, with the model's guess: green when right, red when wrong.
picks = torch.randperm(len(test_labels), generator=torch.Generator().manual_seed(SEED))[:9]
model.eval()
with torch.inference_mode():
    guesses = predict(model(normalize(test_images[picks].float().div(255).to(DEVICE)))).cpu()
fig, axes = plt.subplots(3, 3, figsize=(7, 7))
for ax, index, guess in zip(axes.flat, picks.tolist(), guesses.tolist()):
    image = test_images[index].permute(1, 2, 0).squeeze(-1)  # (H, W, C), or (H, W) for one channel
    truth = int(test_labels[index])
    ax.imshow(image, cmap="gray")  # the colour map only matters for one-channel images
    ax.set_title(f"Pred: {CLASSES[guess]} | Truth: {CLASSES[truth]}", fontsize=9,
                 color="green" if guess == truth else "red")
    ax.axis("off")
plt.tight_layout()
plt.show()
'''

_CHECKPOINT = '''
CHECKPOINT = Path(${path})  # the run's ${kind}.ckpt, saved next to this notebook
RUN_TEST_CORRECT = ${correct}  # the run's test accuracy as a number of images: ${correct}/${total}

if CHECKPOINT.is_file():
    # weights_only=True: only tensors and plain values are read, so a checkpoint file cannot run code.
    checkpoint = torch.load(CHECKPOINT, map_location=DEVICE, weights_only=True)
    # Lightning saved the network as the attribute `model` of its module: drop that prefix from the names.
    weights = {name.removeprefix("model."): value for name, value in checkpoint["state_dict"].items()}
    trained = ${cls}().to(DEVICE)
    trained.load_state_dict(weights)  # every name and shape must match: the class above is the run's network
    _, checkpoint_acc = evaluate(trained, test_batches)
    checkpoint_correct = round(checkpoint_acc * len(test_labels))
    print(f"Checkpoint test accuracy: {checkpoint_acc:.2%} ({checkpoint_correct}/{len(test_labels)} images)")
    same = "the same" if checkpoint_correct == RUN_TEST_CORRECT else "NOT the same: is it this run's checkpoint?"
    print(f"The run's: {RUN_TEST_ACC:.2%} ({RUN_TEST_CORRECT}/{len(test_labels)} images): {same}")
else:
    # ${missing}
    print(f"{CHECKPOINT} is not here: copy the run's ${kind}.ckpt next to this notebook under that name.")
'''


# --------------------------------------------------------------------------- the notebook


def _list_literal(name: str, values: list) -> str:
    """``NAME = [...]`` on one line, or one value per line when that would be too long."""
    line = f"{name} = {values!r}\n"
    if len(line) <= 110:
        return line
    return f"{name} = [\n" + "".join(f"    {v!r},\n" for v in values) + "]\n"


def _imports(sources: list[str]) -> str:
    everything = "\n".join(sources)
    lines, group = [], []
    for line, name in _IMPORTS:
        if not line:  # the end of the standard library's group
            lines += group + ([""] if group else [])
            group = []
        elif uses(everything, name):
            group.append(line)
    return "\n".join(lines + group)


def export_cells(run: RunRecord) -> list[Cell]:
    """The notebook of ``run``, cell by cell. Raises ExportError when the run cannot be exported (yet).

    Example: ``[cell.kind for cell in export_cells(run)][:2] == ["markdown", "code"]``.
    """
    problem = why_not_exportable(run)
    if problem:
        raise ExportError(problem)
    config, info, summary = run.config, run.data_info, run.summary or {}
    input_shape = (int(info["channels"]), *(int(s) for s in info["image_size"]))
    classes = [str(c) for c in info["classes"]]
    model_info = zoo.model_info(config.model)
    try:
        built = zoo.build(config.model, in_channels=input_shape[0], num_classes=len(classes),
                          image_size=input_shape[1:], **config.model_options)
    except (ValueError, TypeError) as exc:
        raise ExportError(f"Run {run.run_id} cannot rebuild its model: {exc}") from None
    name = class_name(config.model)
    written = model_source(built, name, input_shape, model_info.description, f"`{config.model}`")
    binary = zoo.num_outputs(built) == 1
    data, data_notes = data_cells(config, info)
    notes = data_notes + _notes(config, run, binary)
    scheduler, schedule_every = _scheduler_code(config)
    test_size = int(info.get("test_size") or 0)
    run_correct = round(float(summary["test_acc"]) * test_size)
    kind = checkpoint_kind(run)

    settings = (f"SEED = {config.seed}  # the run's seed: the first weights, the shuffles and the augmentations\n"
                f"SPLIT_SEED = {int(config.dataset_options.get('seed', 0))}  # the data's seed: which images are "
                "held out for validation\n"
                f"IMAGE_SIZE = {tuple(input_shape[1:])!r}  # (H, W) of the run's images\n"
                + _list_literal("CLASSES", classes) +
                f"BATCH_SIZE = {config.batch_size}\n"
                f"EPOCHS = {config.epochs}\n"
                f"PATIENCE = {config.early_stopping_patience}  # early stopping: epochs without a lower validation "
                "loss (0 = off)\n"
                'DEVICE = "cuda" if torch.cuda.is_available() else "cpu"\n'
                f"RUN_TEST_ACC = {float(summary['test_acc']):.6f}  # what the dashboard's run scored on the test set\n"
                f"RETRAIN_TOLERANCE = {RETRAIN_TOLERANCE}  # how close retraining here lands (see the top)\n"
                "print(f\"PyTorch {torch.__version__} on {DEVICE}\")\n")
    init = (f"    model.init_from_data(normalize(train_images[:{WHITENING_SAMPLE}].float() / 255))"
            f"  # whiten conv1 from {WHITENING_SAMPLE:,} training images\n") if written.has_init_from_data else ""
    model_code = (written.source + "\n\n"
                  f"def new_model() -> {name}:\n"
                  f'    """A fresh {name} with the run\'s first weights: the dashboard seeds, then builds the model."""\n'
                  "    torch.manual_seed(SEED)\n"
                  f"    model = {name}()\n" + init +
                  "    return model.to(DEVICE)\n\n\n"
                  "model = new_model()\n"
                  "print(model)\n"
                  'print(f"{sum(p.numel() for p in model.parameters()):,} parameters")\n')
    training = (_loss_code(config, binary) + "\n\n" + _optimizer_code(config) + "\n\n" + scheduler + "\n\n"
                f'SCHEDULE_EVERY = "{schedule_every}"\n\n' + _EVALUATE.strip() + "\n\n\n"
                + _training_code(config, schedule_every))
    missing = ("The Runs page's code download includes it for the run's owner; `vision-core export` writes it.")
    checkpoint = (_CHECKPOINT.replace("${path}", repr(checkpoint_name(run))).replace("${kind}", kind)
                  .replace("${correct}", str(run_correct)).replace("${total}", str(test_size))
                  .replace("${cls}", name).replace("${missing}", missing))

    dataset_title = datasets.dataset_info(config.dataset).title
    about = (f"Run `{run.run_id}` of the CNN Lab dashboard, written out in plain PyTorch to read, run and change. "
             "From top to bottom: the same data (split, normalisation, augmentation), the network as a plain "
             "`nn.Module`, the training loop (then, optionally, the same with Lightning), the evaluation, and the "
             "run's own checkpoint checked against its test accuracy.")
    needs = ("**Needs** `pip install torch torchvision torchmetrics lightning matplotlib scikit-learn`; "
             "not the dashboard.")
    how_close = (f"**How close to the run?** Retraining here starts from the same weights (same seed) and sees the "
                 f"same batches in the same order, so on the kind of device the run used "
                 f"({summary.get('device', '?')}) it lands within {RETRAIN_TOLERANCE * 100:g} percentage points of the "
                 "run's test accuracy, "
                 "usually on it. It can differ because floating-point sums in convolutions are rounded differently "
                 "on another device, PyTorch version or number of threads, a GPU shuffles with its own random "
                 "generator, and small differences grow over the epochs. The checkpoint check at the end has no "
                 "tolerance: it must give exactly the run's number of correct test images.")
    intro = [f"# {run.label}: {model_info.title} on {dataset_title}", about, _settings_table(config, run), needs,
             how_close]
    if notes:
        intro.append("**Not reproduced here**\n" + "\n".join(f"- {note}" for note in notes))
    sources = [settings, *(c.source for c in data if c.kind == "code"), model_code, training, _LIGHTNING,
               _EVALUATION, _GRID, checkpoint]
    params = zoo.total_params(built)
    return [
        markdown("\n\n".join(intro)),
        code(_imports(sources) + "\n\n" + settings),
        *data,
        markdown(f"## 2. The model\n{model_info.title}: {model_info.description} Written out layer by layer "
                 f"({params:,} parameters); `print(model)` lists the same layers as the dashboard's Inside page."),
        code(model_code),
        markdown("## 3. Training\nThe loss, the optimiser and its schedule, then the loop: for every batch "
                 "forward, loss, backward, step; after every epoch the validation loss and accuracy. The weights of "
                 "the epoch with the lowest validation loss are kept, as the dashboard keeps its `best.ckpt`."),
        code(training),
        markdown("### The same with Lightning (optional)\nA `LightningModule` holds the step and the optimiser; "
                 "Lightning's `Trainer` runs the loop, the checkpoints and the early stopping. Set "
                 "`RUN_LIGHTNING = True` to train once more this way."),
        code(_LIGHTNING),
        markdown("## 4. Evaluation\nTest accuracy and the confusion matrix (torchmetrics): which classes the "
                 "model mixes up."),
        code(_EVALUATION),
        markdown("A 3×3 grid of test images with the model's predictions, as in learnpytorch's chapter 03."),
        code(_GRID),
        markdown(f"## 5. The run's own checkpoint\nLoad the dashboard's `{kind}.ckpt` into the class written out "
                 "above and test it: it must give the run's test accuracy exactly (the same images, the same "
                 "weights)."),
        code(checkpoint),
    ]


def expected_test_correct(run: RunRecord) -> int:
    """The run's test accuracy as a number of test images (what the checkpoint cell must print)."""
    return round(float((run.summary or {})["test_acc"]) * int((run.data_info or {})["test_size"]))


def tolerance_in_images(run: RunRecord) -> int:
    """RETRAIN_TOLERANCE as a number of test images (rounded up)."""
    return math.ceil(RETRAIN_TOLERANCE * int((run.data_info or {})["test_size"]))
