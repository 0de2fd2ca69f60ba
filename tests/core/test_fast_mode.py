"""ClassifierModule on the CPU: its per-epoch numbers, its schedulers, each speed option, the airbench recipe.

Every speed option has to train the same model as the plain path: the same loss curve within a
tolerance that fits the option (a different kernel is not bit-identical; bfloat16 keeps ~3 digits),
or a clean fallback with a message where the device cannot do it.
"""

from __future__ import annotations

import lightning as L
import pytest
import torch
import torch.nn.functional as F

from vision_core import cli
from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.models import zoo as models
from vision_core.runs import store as runs
from vision_core.training import lightning_module, presets
from vision_core.training.fit_loop import FabricTrainer
from vision_core.training.lightning_module import (
    ClassifierModule,
    VisionDataModule,
    speed_options,
    trainer_overrides,
    warmup_linear,
)

LIMITS = {"limit_train_batches": 6, "limit_val_batches": 3, "limit_test_batches": 3}


@pytest.fixture(scope="module")
def digits():
    return datasets.load("digits")


class Recorder(L.Callback):
    """Each training step's loss, its correct count (counted here from its logits), batch size and lr."""

    def __init__(self) -> None:
        self.losses, self.correct, self.sizes, self.lrs = [], [], [], []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.lrs.append(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.losses.append(float(outputs["loss"]))
        self.correct.append(int((outputs["logits"].argmax(1) == batch[1]).sum()))  # counted here, independently
        self.sizes.append(len(batch[1]))


def config(**changes) -> RunConfig:
    return RunConfig(dataset="digits", model="lenet", optimizer="sgd", lr=0.05, momentum=0.9, batch_size=32,
                     epochs=1, snapshot_every=0).replace(**changes)


def fit(cfg: RunConfig, data, **trainer_kwargs):
    """Train with the engine's loop alone (no logger, no checkpoints) and the run's trainer_overrides."""
    L.seed_everything(cfg.seed, verbose=False)
    model = models.build(cfg.model, in_channels=data.channels, num_classes=len(data.classes),
                         image_size=data.image_size, **cfg.model_options)
    module = ClassifierModule(model, cfg, len(data.classes))
    recorder = Recorder()
    options = {**LIMITS, **trainer_overrides(cfg, "cpu"), **trainer_kwargs}
    trainer = FabricTrainer(accelerator="cpu", max_epochs=cfg.epochs, callbacks=[recorder], **options)
    trainer.fit(module, datamodule=VisionDataModule(cfg, data))
    return module, trainer, recorder


@pytest.fixture(scope="module")
def baseline(digits):
    """LeNet, SGD with momentum, 6 steps, no speed option: the curve every option is compared with."""
    return fit(config(), digits)


def evaluate(module, data, split, batches: int, batch_size: int = 32):
    """(mean loss, accuracy) of the first ``batches`` batches of ``split``, computed here from scratch."""
    images = data.normalize(split.images[:batches * batch_size].float() / 255)
    labels = split.labels[:batches * batch_size]
    with torch.no_grad():
        logits = module.model.eval()(images)
    return F.cross_entropy(logits, labels).item(), (logits.argmax(1) == labels).float().mean().item()


# --- the per-epoch numbers ---------------------------------------------------------------------------------------


def test_epoch_loss_and_accuracy_are_the_sample_weighted_means_of_the_steps(baseline):
    _, trainer, rec = baseline
    sizes = torch.tensor(rec.sizes, dtype=torch.float64)
    expected_loss = float((torch.tensor(rec.losses, dtype=torch.float64) * sizes).sum() / sizes.sum())
    expected_acc = sum(rec.correct) / sum(rec.sizes)
    assert len(rec.losses) == 6
    assert float(trainer.callback_metrics["train_loss_epoch"]) == pytest.approx(expected_loss, rel=1e-5)
    assert float(trainer.callback_metrics["train_acc"]) == pytest.approx(expected_acc, abs=1e-6)


def test_validation_numbers_match_a_direct_evaluation(baseline, digits):
    module, trainer, _ = baseline
    loss, acc = evaluate(module, digits, digits.val, batches=3)
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(loss, rel=1e-5)
    assert float(trainer.callback_metrics["val_acc"]) == pytest.approx(acc, abs=1e-6)


def test_test_numbers_match_a_direct_evaluation(baseline, digits):
    module, trainer, _ = baseline
    results = trainer.test(module, datamodule=VisionDataModule(module.config, digits), verbose=False)[0]
    loss, acc = evaluate(module, digits, digits.test, batches=3)
    assert results["test_loss"] == pytest.approx(loss, rel=1e-5)
    assert results["test_acc"] == pytest.approx(acc, abs=1e-6)


def test_a_one_logit_model_counts_correct_answers_by_the_sign_of_the_logit():
    g = torch.Generator().manual_seed(0)
    split = datasets.Split(torch.randint(0, 256, (96, 3, 16, 16), dtype=torch.uint8, generator=g),
                           torch.randint(0, 2, (96,), generator=g), 2)
    data = datasets.ImageDataset(name="pairs", classes=["no", "yes"], channels=3, image_size=(16, 16),
                                 mean=(0.5,) * 3, std=(0.25,) * 3, train=split, test=split, val=split)
    module, trainer, _ = fit(config(model="smile_cnn", optimizer="adam", lr=1e-3, momentum=0.0), data)
    images = data.normalize(split.images[:96].float() / 255)
    with torch.no_grad():
        logits = module.model.eval()(images).squeeze(1)
    assert module.binary
    assert float(trainer.callback_metrics["val_loss"]) == pytest.approx(
        F.binary_cross_entropy_with_logits(logits, split.labels.float()).item(), rel=1e-5)
    assert float(trainer.callback_metrics["val_acc"]) == pytest.approx(
        ((logits > 0).long() == split.labels).float().mean().item(), abs=1e-6)


def test_label_smoothing_and_nesterov_reach_the_loss_and_the_optimizer(digits):
    module, trainer, rec = fit(config(label_smoothing=0.2, nesterov=True), digits, limit_train_batches=1)
    assert trainer.optimizers[0].param_groups[0]["nesterov"] is True
    L.seed_everything(42, verbose=False)
    fresh = models.build("lenet", in_channels=1, num_classes=10, image_size=(32, 32))
    x, y = next(iter(VisionDataModule(module.config, digits)._loader(digits.train, train=True)))
    expected = F.cross_entropy(fresh(x), y, label_smoothing=0.2).item()
    assert rec.losses[0] == pytest.approx(expected, rel=1e-5)  # the first step's loss, before any update


# --- schedulers stepped by the loop -------------------------------------------------------------------------------


def test_epoch_schedulers_still_step_once_per_epoch(digits):
    _, _, rec = fit(config(scheduler="step", epochs=3), digits, limit_train_batches=2, limit_val_batches=1)
    assert rec.lrs == pytest.approx([0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005])


def test_warmup_linear_steps_the_lr_every_batch(digits):
    _, _, rec = fit(config(scheduler="warmup_linear", epochs=2), digits, limit_val_batches=1)
    assert rec.lrs == pytest.approx([0.05 * warmup_linear(step, 12) for step in range(12)])


def test_warmup_linear_is_airbenchs_triangle():
    assert warmup_linear(0, 100) == pytest.approx(0.2)
    assert warmup_linear(23, 100) == pytest.approx(1.0)
    assert warmup_linear(100, 100) == pytest.approx(0.07)
    assert warmup_linear(11, 100) == pytest.approx(0.2 + 0.8 * 11 / 23)
    assert warmup_linear(60, 100) == pytest.approx(1 - 0.93 * 37 / 77)


# --- resolving the speed options ----------------------------------------------------------------------------------


def test_fast_on_the_cpu_turns_on_only_the_fused_optimizer():
    options = speed_options(RunConfig(fast=True), "cpu")
    assert (options.precision, options.channels_last, options.compile, options.fused_optimizer,
            options.cudnn_benchmark) == ("32", False, False, True, False)
    assert trainer_overrides(RunConfig(fast=True), "cpu") == {"precision": "32"}


def test_fast_on_a_gpu_turns_on_bf16_channels_last_fused_and_cudnn_autotuning(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    options = speed_options(RunConfig(fast=True), "gpu")
    assert (options.precision, options.channels_last, options.fused_optimizer, options.cudnn_benchmark) == (
        "bf16-mixed", True, True, True)
    assert not options.compile  # its long first step is never implied
    assert trainer_overrides(RunConfig(fast=True), "gpu") == {"precision": "bf16-mixed", "benchmark": True}
    assert speed_options(RunConfig(), "gpu") == lightning_module.SpeedOptions()  # nothing asked, nothing on


def test_bf16_on_a_gpu_without_it_falls_back_to_float32_and_says_so(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    asked = speed_options(RunConfig(precision="bf16-mixed"), "gpu")
    assert asked.precision == "32" and "bfloat16" in asked.notes[0]
    assert speed_options(RunConfig(fast=True), "gpu").precision == "32"  # fast takes what the GPU has, quietly


def test_compile_without_a_compiler_is_off_with_a_reason(monkeypatch):
    monkeypatch.setattr(lightning_module.shutil, "which", lambda name: None)
    options = speed_options(RunConfig(compile=True), "cpu")
    assert not options.compile
    assert "C++ compiler" in options.notes[0]
    monkeypatch.setattr(lightning_module.importlib.util, "find_spec", lambda name: None)
    assert "Triton" in lightning_module.compile_unsupported("gpu")


@pytest.mark.parametrize("changes, message", [
    ({"precision": "16"}, "precision must be one of"),
    ({"fast": "yes"}, "fast must be true or false"),
    ({"compile": 1}, "compile must be true or false"),
    ({"nesterov": True}, "nesterov needs the sgd optimizer with momentum"),
    ({"label_smoothing": 1.0}, "label_smoothing must be in"),
])
def test_bad_speed_settings_are_refused_by_name(changes, message):
    with pytest.raises(ValueError, match=message):
        RunConfig(**changes)


def test_speed_settings_survive_the_run_folder_round_trip():
    cfg = RunConfig(fast=True, precision="bf16-mixed", channels_last=True, compile=True, fused_optimizer=True,
                    optimizer="sgd", momentum=0.9, nesterov=True, label_smoothing=0.1, scheduler="warmup_linear")
    assert RunConfig.from_dict(cfg.to_dict()) == cfg
    old_folder = {k: v for k, v in cfg.to_dict().items() if k not in ("fast", "precision", "compile")}
    assert RunConfig.from_dict(old_folder).precision == "32"  # folders from before these fields still load


def test_cli_takes_the_speed_flags_and_refuses_a_bad_precision(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["train", "--fast", "--precision", "bf16-mixed", "--channels-last", "--no-compile",
                              "--fused-optimizer", "--label-smoothing", "0.2"])
    cfg = cli.config_from_args(args)
    assert (cfg.fast, cfg.precision, cfg.channels_last, cfg.compile, cfg.fused_optimizer, cfg.label_smoothing) == (
        True, "bf16-mixed", True, False, True, 0.2)
    assert cli.config_from_args(parser.parse_args(["train", "--preset", "airbench_cifar10"])).fast is True
    with pytest.raises(SystemExit) as exc:
        parser.parse_args(["train", "--precision", "fp8"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


# --- each speed option trains the same model ----------------------------------------------------------------------


def test_fused_sgd_follows_the_same_curve(digits, baseline):
    _, trainer, rec = fit(config(fused_optimizer=True), digits)
    assert trainer.optimizers[0].defaults["fused"] is True
    torch.testing.assert_close(rec.losses, baseline[2].losses, rtol=1e-4, atol=1e-5)


def test_fused_adam_follows_the_same_curve(digits):
    adam = config(optimizer="adam", lr=1e-3, momentum=0.0)
    _, _, plain = fit(adam, digits)
    _, trainer, fused = fit(adam.replace(fused_optimizer=True), digits)
    assert trainer.optimizers[0].defaults["fused"] is True
    torch.testing.assert_close(fused.losses, plain.losses, rtol=1e-4, atol=1e-5)


def test_channels_last_follows_the_same_curve_and_keeps_checkpoint_keys(digits, baseline, tmp_path):
    module, trainer, rec = fit(config(channels_last=True), digits)
    assert module.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(rec.losses, baseline[2].losses, rtol=1e-4, atol=1e-5)
    trainer.save_checkpoint(tmp_path / "cl.ckpt")
    weights = runs.load_state_dict(tmp_path / "cl.ckpt")
    assert set(weights) == set(baseline[0].model.state_dict())


def test_bf16_autocast_runs_the_convolutions_in_bfloat16_and_stays_close(digits, baseline):
    seen = []
    cfg = config(precision="bf16-mixed")
    L.seed_everything(cfg.seed, verbose=False)
    model = models.build("lenet", in_channels=1, num_classes=10, image_size=(32, 32))
    model.conv1.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    module = ClassifierModule(model, cfg, 10)
    recorder = Recorder()
    trainer = FabricTrainer(accelerator="cpu", max_epochs=1, callbacks=[recorder], **LIMITS,
                            **trainer_overrides(cfg, "cpu"))
    trainer.fit(module, datamodule=VisionDataModule(cfg, digits))
    assert trainer.precision == "bf16-mixed"
    assert seen[0] == torch.bfloat16
    assert model.conv1.weight.dtype == torch.float32  # the weights stay float32
    torch.testing.assert_close(recorder.losses, baseline[2].losses, rtol=0.03, atol=0.03)


def test_compile_follows_the_same_curve_and_keeps_checkpoint_keys(digits, baseline, monkeypatch, tmp_path):
    # aot_eager traces forward and backward like inductor does, without generating C++ (minutes on this CPU).
    real_compile, compiled_calls = torch.compile, []

    def traced(model, **kwargs):
        compiled = real_compile(model, backend="aot_eager", **kwargs)

        def call(x):
            compiled_calls.append(x.shape[0])
            return compiled(x)
        return call

    monkeypatch.setattr(torch, "compile", traced)
    monkeypatch.setattr(lightning_module, "compile_unsupported", lambda accelerator: None)
    module, trainer, rec = fit(config(compile=True), digits)
    assert len(compiled_calls) == 6 and module.speed_notes == []
    torch.testing.assert_close(rec.losses, baseline[2].losses, rtol=1e-4, atol=1e-5)
    trainer.save_checkpoint(tmp_path / "compiled.ckpt")
    assert set(runs.load_state_dict(tmp_path / "compiled.ckpt")) == set(baseline[0].model.state_dict())


def test_a_compiler_that_fails_falls_back_to_eager_with_a_message(digits, baseline, monkeypatch):
    def broken(model, **kwargs):
        def call(x):
            raise RuntimeError("backend compiler failed: no working C++ toolchain")
        return call

    monkeypatch.setattr(torch, "compile", broken)
    monkeypatch.setattr(lightning_module, "compile_unsupported", lambda accelerator: None)
    with pytest.warns(RuntimeWarning, match="torch.compile failed"):
        module, _, rec = fit(config(compile=True), digits)
    assert "no working C++ toolchain" in module.speed_notes[0]
    torch.testing.assert_close(rec.losses, baseline[2].losses)  # the failed step was redone, nothing else changed


def test_a_fused_optimizer_the_device_lacks_falls_back_with_a_message(digits, baseline, monkeypatch):
    real = lightning_module.make_optimizer

    def no_fused(cfg, params, fused=False):
        if fused:
            raise RuntimeError("`fused=True` requires all the params to be on a supported device")
        return real(cfg, params)

    monkeypatch.setattr(lightning_module, "make_optimizer", no_fused)
    with pytest.warns(RuntimeWarning, match="fused optimiser is off"):
        _, trainer, rec = fit(config(fused_optimizer=True), digits)
    assert not trainer.optimizers[0].defaults.get("fused")
    torch.testing.assert_close(rec.losses, baseline[2].losses)


def test_checkpoints_load_back_into_the_lightning_module(digits, baseline, tmp_path):
    module, trainer, _ = baseline
    trainer.save_checkpoint(tmp_path / "last.ckpt")
    fresh = models.build("lenet", in_channels=1, num_classes=10, image_size=(32, 32))
    loaded = ClassifierModule.load_from_checkpoint(tmp_path / "last.ckpt", model=fresh, config=module.config)
    for name, tensor in module.model.state_dict().items():
        torch.testing.assert_close(loaded.model.state_dict()[name], tensor)


# --- the CIFAR-10 speed recipe --------------------------------------------------------------------------------------


def test_airbench_has_the_published_layers_and_parameter_count():
    model = models.build("airbench", in_channels=3, num_classes=10, image_size=32)
    # whitening 24·3·2·2 + 24 = 312; convs 24·64·9 + 64·64·9 + 64·256·9 + 3·256·256·9 = 1,967,616;
    # BatchNorm scale and shift 2·(64 + 64 + 4·256) = 2,304; Linear 256·10 (no bias) = 2,560
    assert models.total_params(model) == 312 + 1_967_616 + 2_304 + 2_560 == 1_972_792
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    assert frozen == 24 * 3 * 2 * 2 + 2 * 64 + 4 * 256  # the whitening filters and the BatchNorm scales
    rows = models.summary(model, (3, 32, 32))
    shapes = {row.name: row.output_shape for row in rows}
    assert shapes["conv1"] == (24, 31, 31) and shapes["pool1"] == (64, 15, 15)
    assert shapes["pool2"] == (256, 7, 7) and shapes["pool3"] == (256, 3, 3) and shapes["pool4"] == (256, 1, 1)
    assert model(torch.rand(4, 3, 32, 32)).shape == (4, 10)
    assert models.total_params(models.build("airbench", in_channels=3, num_classes=10, image_size=32,
                                            width=32)) < 1_000_000


def test_airbench_logits_are_the_linear_output_divided_by_nine():
    model = models.build("airbench", in_channels=1, num_classes=6, image_size=28).eval()
    x = torch.rand(3, 1, 28, 28)
    features = model[:-2](x)  # everything before fc1 and the scale
    torch.testing.assert_close(model(x), F.linear(features, model.fc1.weight) / 9)


def test_whitening_decorrelates_the_patches_to_unit_variance():
    g = torch.Generator().manual_seed(0)
    mix = torch.tensor([[1.0, 0.0, 0.0], [0.8, 0.6, 0.0], [0.3, 0.3, 0.9]])  # correlated colour channels
    base = torch.randn(400, 3, 12, 12, generator=g)
    images = torch.einsum("dc,nchw->ndhw", mix, base + 0.5 * base.roll(1, dims=3))  # and correlated neighbours
    model = models.build("airbench", in_channels=3, num_classes=10, image_size=12)
    model.init_from_data(images)
    out = F.conv2d(images, model.conv1.weight)  # (N, 24, 11, 11), without the bias
    first = out.permute(0, 2, 3, 1).reshape(-1, 24)[:, :12]
    moment = first.T @ first / len(first)
    torch.testing.assert_close(moment, torch.eye(12), atol=0.02, rtol=0)
    torch.testing.assert_close(model.conv1.weight[12:], -model.conv1.weight[:12])


def test_airbench_recipe_falls_back_to_shapes_and_trains_whitened(monkeypatch):
    preset = presets.get_preset("airbench_cifar10")
    assert preset.config.dataset == "cifar10" and preset.fallback_dataset == "shapes"
    cfg = presets.with_fallback(preset).replace(batch_size=64, epochs=1, snapshot_every=0)  # CPU-sized
    assert (cfg.model, cfg.nesterov, cfg.label_smoothing, cfg.scheduler) == ("airbench", True, 0.2, "warmup_linear")
    data = datasets.load(cfg.dataset, **cfg.dataset_options)
    module, trainer, rec = fit(cfg, data, limit_train_batches=3, limit_val_batches=1)
    expected = models.whitening_weights(data.normalize(data.train.images[:5000].float() / 255))
    torch.testing.assert_close(module.model.conv1.weight, expected)  # whitened before the first step, then frozen
    assert len(rec.losses) == 3 and all(torch.isfinite(torch.tensor(rec.losses)))
    assert trainer.optimizers[0].defaults["fused"] is True  # the preset's fast mode, on the CPU
