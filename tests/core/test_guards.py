"""Classroom limits (vision_core/limits.py) and the memory guards (training/guards.py), checked against real models."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from vision_core.config import RunConfig
from vision_core.limits import ENV_VAR as LIMITS_ENV_VAR
from vision_core.limits import Limits, limit_names, load_limits
from vision_core.models import zoo as models
from vision_core.training import guards
from vision_core.training.guards import GuardError

ROOT = Path(__file__).resolve().parents[2]
# Issue 8's model: 64×64, one block, no pooling, 256 channels, 2048 hidden units (3-channel shapes, 6 classes).
HUGE = RunConfig(dataset="shapes", model="custom", batch_size=64,
                 model_options={"blocks": 1, "convs_per_block": 1, "channels": 256, "pool": None,
                                "hidden_units": 2048})


# --------------------------------------------------------------------------- classroom.toml


def test_no_file_means_the_classroom_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(LIMITS_ENV_VAR, raising=False)
    assert load_limits() == Limits()
    assert Limits().max_parameters == 20_000_000 and Limits().max_jobs_per_person == 2


def test_the_file_from_the_environment_sets_some_keys(tmp_path, monkeypatch):
    file = tmp_path / "limits.toml"
    file.write_text("max_epochs = 50\ngpu_memory_share = 0.5\nmax_batch_size = 256\n")
    monkeypatch.setenv(LIMITS_ENV_VAR, str(file))
    limits = load_limits()
    assert (limits.max_epochs, limits.gpu_memory_share, limits.max_batch_size) == (50, 0.5, 256)
    assert limits.max_parameters == Limits().max_parameters  # the rest keeps its default


def test_classroom_toml_in_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.delenv(LIMITS_ENV_VAR, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "classroom.toml").write_text("max_jobs_per_person = 5\n")
    assert load_limits().max_jobs_per_person == 5


@pytest.mark.parametrize("text, key", [
    ("max_epoch = 10", "max_epoch"),  # a typo is an unknown key
    ("max_epochs = 0", "max_epochs"),
    ("max_epochs = 2.5", "max_epochs"),
    ("max_batch_size = 'big'", "max_batch_size"),
    ("max_parameters = true", "max_parameters"),
    ("gpu_memory_share = 1.5", "gpu_memory_share"),
    ("gpu_memory_share = 0", "gpu_memory_share"),
])
def test_unknown_keys_and_bad_values_name_the_key(tmp_path, text, key):
    file = tmp_path / "classroom.toml"
    file.write_text(text + "\n")
    with pytest.raises(ValueError, match=key):
        load_limits(file)


def test_a_toml_syntax_error_is_a_value_error(tmp_path):
    file = tmp_path / "classroom.toml"
    file.write_text("max_epochs = = 3\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_limits(file)


def test_the_example_file_documents_every_key_with_its_default():
    example = ROOT / "classroom.example.toml"
    assert load_limits(example) == Limits()
    text = example.read_text()
    for name in limit_names():
        assert f"\n{name} = " in text


# --------------------------------------------------------------------------- the estimate


def saved_activation_bytes(model: torch.nn.Module, input_shape, batch: int) -> int:
    """What autograd really keeps for the backward pass of one training batch (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model.train()(torch.randn(batch, *input_shape))
    return sum(seen.values())


@pytest.mark.parametrize("name, options, shape", [
    ("lenet", {}, (1, 32, 32)),
    ("tinyvgg", {"hidden_units": 8}, (1, 28, 28)),
    ("resnet", {"width": 8}, (3, 32, 32)),
    ("mnist_cnn", {}, (1, 28, 28)),
    ("cats_dogs_cnn", {}, (3, 64, 64)),
    ("custom", {"batchnorm": True, "dropout": 0.3, "linear_layers": 2}, (3, 32, 32)),
])
def test_the_estimate_matches_a_real_model(name, options, shape):
    config = RunConfig(model=name, model_options=options, batch_size=16, optimizer="adam")
    est = guards.estimate(config, shape, num_classes=10)
    real = models.build(name, in_channels=shape[0], num_classes=10, image_size=shape[1:], **options)
    assert est.parameters == models.total_params(real)
    assert est.weight_bytes == est.gradient_bytes == 4 * est.parameters  # float32, all trainable
    assert est.optimizer_bytes == 2 * est.weight_bytes  # Adam: two running averages
    saved = saved_activation_bytes(real, shape, 16)
    # Every layer's output (what the estimate counts) is what autograd keeps, give or take the layers that
    # keep their input instead and the outputs no backward needs: within a factor of two, never far below.
    assert 0.75 * saved <= est.activation_bytes <= 2.5 * saved, (est.activation_bytes, saved)
    assert est.total_bytes == est.fixed_bytes + est.activation_bytes


def test_activations_grow_with_the_batch_and_the_optimiser_sets_the_state():
    small = guards.estimate(RunConfig(model="lenet", batch_size=8, optimizer="sgd"), (1, 32, 32), 10)
    big = guards.estimate(RunConfig(model="lenet", batch_size=32, optimizer="sgd", momentum=0.9), (1, 32, 32), 10)
    assert big.activation_bytes == 4 * small.activation_bytes
    assert small.optimizer_bytes == 0 and big.optimizer_bytes == big.weight_bytes
    adamw = guards.estimate(RunConfig(model="lenet", optimizer="adamw"), (1, 32, 32), 10)
    assert adamw.optimizer_bytes == 2 * adamw.weight_bytes


def test_activation_bytes_of_a_tiny_model_by_hand():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    # input 8×1×2×2 (32 floats) + flatten 8×4 (32) + linear 8×2 (16), 4 bytes each
    assert guards.activation_bytes(model, (1, 2, 2), 8) == (32 + 32 + 16) * 4


def test_describe_reads_like_a_sentence():
    est = guards.MemoryEstimate(parameters=10, weight_bytes=8 * 2**30, gradient_bytes=8 * 2**30,
                                optimizer_bytes=16 * 2**30, activation_bytes=512 * 2**20, batch_size=64)
    assert est.describe() == ("≈ 32.5 GB (weights 8.0 GB, gradients 8.0 GB, optimiser state 16.0 GB, "
                              "activations of a batch of 64 512 MB)")
    assert guards.human_bytes(900) == "900 bytes" and guards.human_bytes(1536) == "1.5 KB"


def test_the_meta_model_has_no_storage():
    model = guards.meta_model("lenet", {}, (1, 32, 32), 10)
    assert all(p.device.type == "meta" for p in model.parameters())
    assert models.total_params(model) == 61_706


# --------------------------------------------------------------------------- checks against the limits


def test_a_classroom_model_passes_and_returns_its_estimate():
    est = guards.check(RunConfig(model="lenet", batch_size=64), (1, 32, 32), 10, Limits())
    assert est.parameters == 61_706 and est.batch_size == 64


def test_the_two_billion_parameter_model_is_refused_with_its_estimate():
    with pytest.raises(GuardError) as info:
        guards.check(HUGE, (3, 64, 64), 6, Limits())
    error = info.value
    assert error.limit == "max_parameters" and error.value == 2_147_505_158 and error.allowed == 20_000_000
    assert error.estimate.weight_bytes == 4 * 2_147_505_158
    assert "2,147,505,158 parameters" in str(error) and "20,000,000" in str(error)
    assert "≈ 32" in str(error) and "fc1" in str(error) and "pooling" in str(error)


def test_over_the_memory_limit_says_the_estimate_the_limit_and_a_batch_that_fits():
    config = RunConfig(model="resnet", batch_size=1024)
    est = guards.estimate(config, (3, 64, 64), 10)
    limits = Limits(max_memory_mb=est.total_bytes // 2**20 // 4)
    with pytest.raises(GuardError) as info:
        guards.check(config, (3, 64, 64), 10, limits)
    error = info.value
    assert error.limit == "max_memory_mb" and error.estimate == est and error.allowed == limits.max_memory_bytes
    assert est.describe() in str(error) and "the limit per job is" in str(error)
    batch = int(str(error).split("Try batch size ")[1].split()[0])
    assert batch & (batch - 1) == 0 and batch < 1024  # a power of two that really fits:
    assert guards.check(config.replace(batch_size=batch), (3, 64, 64), 10, limits).total_bytes <= limits.max_memory_bytes


def test_a_model_too_big_for_any_batch_says_so():
    config = RunConfig(model="custom", model_options={"channels": 64, "pool": None, "blocks": 1,
                                                      "hidden_units": 512}, batch_size=2)
    with pytest.raises(GuardError, match="The model alone"):
        guards.check(config, (3, 64, 64), 10, Limits(max_parameters=10**9, max_memory_mb=1024))


@pytest.mark.parametrize("config, shape, limit", [
    (RunConfig(batch_size=2048), (1, 32, 32), "max_batch_size"),
    (RunConfig(epochs=500), (1, 32, 32), "max_epochs"),
    (RunConfig(), (1, 32, 512), "max_image_size"),
])
def test_numbers_over_the_limits_are_refused_before_building(config, shape, limit, monkeypatch):
    monkeypatch.setattr(guards, "meta_model", lambda *a: pytest.fail("built a model for a refused job"))
    with pytest.raises(GuardError) as info:
        guards.check(config, shape, 10, Limits())
    assert info.value.limit == limit and info.value.estimate is None


def test_check_reads_the_teachers_file_by_default(tmp_path, monkeypatch):
    file = tmp_path / "classroom.toml"
    file.write_text("max_epochs = 3\n")
    monkeypatch.setenv(LIMITS_ENV_VAR, str(file))
    with pytest.raises(GuardError, match="limit of 3"):
        guards.check(RunConfig(epochs=4), (1, 32, 32), 10)


def test_a_model_that_cannot_take_the_input_is_a_value_error_not_a_guard_error():
    with pytest.raises(models.ShapeMismatchError):
        guards.check(RunConfig(model="custom", model_options={"blocks": 6}), (1, 28, 28), 10, Limits())


def test_refusing_the_huge_model_allocates_nothing_big():
    # In a fresh process, so the peak resident memory (ru_maxrss) belongs to this check alone. The real model
    # would hold 8 GB of weights; torch's meta kernels themselves cost some 200 MB the first time (warm-up).
    script = textwrap.dedent(f"""
        import resource
        from vision_core.training import guards
        from vision_core.config import RunConfig
        guards.estimate(RunConfig(model="lenet"), (1, 32, 32), 10)  # warm-up: loads the meta kernels
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            guards.check(RunConfig.from_dict({HUGE.to_dict()!r}), (3, 64, 64), 6, guards.Limits())
        except guards.GuardError as error:
            assert error.limit == "max_parameters"
        print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)
    """)
    result = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, text=True, cwd=ROOT,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.split()[-1]) < 100  # MB of peak growth


def test_the_model_half_of_a_check_is_built_once_per_model_and_input(monkeypatch):
    """The Train form checks on every rerun: the meta model is built once per (model, options, input, batch,
    optimiser), and a second check gives the same estimate; a model that does not fit is refused every time."""
    guards._checked_estimate.cache_clear()  # what earlier tests left there
    built = []
    real = guards.meta_model
    monkeypatch.setattr(guards, "meta_model", lambda *args: built.append(args) or real(*args))
    config = RunConfig(model="tinyvgg", model_options={"hidden_units": 7}, batch_size=12)
    first = guards.check(config, (3, 32, 32), 4)
    assert guards.check(config, (3, 32, 32), 4) == first and len(built) == 1
    assert guards.check(config.replace(batch_size=24), (3, 32, 32), 4).activation_bytes > first.activation_bytes
    assert len(built) == 2
    for _ in range(2):
        with pytest.raises(ValueError):
            guards.check(RunConfig(model="lenet"), (1, 4, 4), 10)  # far too small for LeNet's convolutions
    assert len(built) == 4
