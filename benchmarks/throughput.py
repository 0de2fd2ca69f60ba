"""Engine vs a minimal plain PyTorch loop: same model, batches, batch size and number of steps, one process.

    .venv/bin/python benchmarks/throughput.py                       # the tiny model and TinyVGG ratios
    .venv/bin/python benchmarks/throughput.py --model linear --batch-size 32 --steps 2000
    .venv/bin/python benchmarks/throughput.py --recipe [--fast]     # seed-001 TinyVGG recipe time
    .venv/bin/python benchmarks/throughput.py --model airbench --batch-size 1024 --steps 50 --image 3x32x32 --fast

Both sides draw the same batches from the same ``BatchLoader`` (in-memory tensors on the training
device), so the ratio engine / plain is what the engine adds per step: its Fabric loop, the module's
bookkeeping, the live callback, the CSV logger, checkpoints at the epoch ends. Validation is off.
Timing runs from the first batch to the last (``on_train_start`` → ``on_train_end`` for the engine);
the start-up (Fabric, data on the device) is printed separately. Each figure is the best of
``--repeats`` interleaved runs, as wall-clock time and as this process's CPU time: on a machine shared with other work the CPU-time
ratio is the steadier one (compare it with ``--threads 1``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

import lightning as L
import torch
import torch.nn.functional as F

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.data.loader import BatchLoader
from vision_core.models import zoo as models
from vision_core.training import engine
from vision_core.training.lightning_module import make_optimizer, speed_options, trainer_overrides

STEPS_PER_EPOCH = 1000


def synthetic(n_train: int, n_test: int, shape=(1, 28, 28), classes: int = 10, seed: int = 0):
    """An ImageDataset of random uint8 images with the given shape (the recipe's shape, no download)."""
    g = torch.Generator().manual_seed(seed)
    c = shape[0]

    def split(n):
        return datasets.Split(torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g),
                              torch.randint(0, classes, (n,), generator=g), classes)

    return datasets.ImageDataset(name="synthetic", classes=[str(i) for i in range(classes)], channels=c,
                                 image_size=shape[1:], mean=(0.0,) * c, std=(1.0,) * c,
                                 train=split(n_train), test=split(n_test), val=None,
                                 description="random tensors")


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(config: RunConfig, data, steps: int, device: str) -> tuple[float, float]:
    """The minimal loop over the engine's own loader: forward, loss, zero_grad, backward, step.

    Returns (wall seconds, CPU seconds) for ``steps`` steps.
    """
    torch.manual_seed(config.seed)
    model = models.build(config.model, in_channels=data.channels, num_classes=len(data.classes),
                         image_size=data.image_size, **config.model_options).to(device)
    speed = speed_options(config, "gpu" if device == "cuda" else "cpu")
    if speed.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(config, model.parameters(), fused=speed.fused_optimizer)
    forward = torch.compile(model) if speed.compile else model
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=speed.precision == "bf16-mixed")
    loader = BatchLoader(data.train, data, config.batch_size, shuffle=True, device=device, seed=config.seed)
    done = 0
    _sync(device)
    wall, cpu = time.perf_counter(), time.process_time()
    while done < steps:
        for x, y in loader:
            if speed.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                loss = F.cross_entropy(forward(x), y, label_smoothing=config.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done += 1
            if done == steps:
                break
    _sync(device)
    return time.perf_counter() - wall, time.process_time() - cpu


class LoopTimer(L.Callback):
    """Wall and CPU time of the training loop alone (first batch to last), without the start-up."""

    def on_train_start(self, trainer, pl_module) -> None:
        _sync(pl_module.device.type)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def on_train_end(self, trainer, pl_module) -> None:
        _sync(pl_module.device.type)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu


def engine_run(config: RunConfig, data, steps: int, accelerator: str) -> tuple[float, float, dict]:
    """(loop wall seconds, loop CPU seconds, summary) of ``engine.train`` for ``steps`` steps."""
    timer = LoopTimer()
    options = {"limit_val_batches": 0, "max_steps": steps, **trainer_overrides(config, accelerator)}
    with tempfile.TemporaryDirectory() as root:
        summary = engine.train(config, root=root, dataset=data, trainer_options=options, extra_callbacks=[timer])
    if summary["steps"] != steps:
        raise RuntimeError(f"the engine ran {summary['steps']} steps, not {steps}")
    return timer.wall, timer.cpu, summary


def speed_config(args, **fields) -> RunConfig:
    return RunConfig(fast=args.fast, precision=args.precision, channels_last=args.channels_last,
                     compile=args.compile, fused_optimizer=args.fused, snapshot_every=0, **fields)


def compare(args, model: str, batch_size: int, steps: int, shape: tuple[int, int, int]) -> float:
    """Print plain vs engine for one model; return the CPU-time ratio."""
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    accelerator = "gpu" if device == "cuda" else "cpu"
    data = synthetic(batch_size * STEPS_PER_EPOCH, 256, shape=shape)
    config = speed_config(args, dataset="synthetic", model=model, optimizer="sgd", lr=0.01, batch_size=batch_size,
                          epochs=math.ceil(steps / STEPS_PER_EPOCH), accelerator=accelerator)
    plain_loop(config, data, 20, device)  # warm-up (allocator, kernels, compile)
    best = {"plain wall": math.inf, "plain cpu": math.inf, "engine wall": math.inf, "engine cpu": math.inf}
    startup = math.inf
    print(f"\n{model}, input {'×'.join(map(str, shape))}, batch {batch_size}, {steps} steps, {device} "
          f"({torch.get_num_threads()} threads), speed options: {speed_options(config, accelerator)}")
    for r in range(args.repeats):
        pw, pc = plain_loop(config, data, steps, device)
        started = time.perf_counter()
        ew, ec, summary = engine_run(config, data, steps, accelerator)
        startup = min(startup, summary["train_seconds"] - ew)
        for key, value in (("plain wall", pw), ("plain cpu", pc), ("engine wall", ew), ("engine cpu", ec)):
            best[key] = min(best[key], value)
        print(f"  repeat {r + 1}: plain {steps * batch_size / pw:8.0f} samples/s, engine {steps * batch_size / ew:8.0f}"
              f" samples/s (wall ratio {pw / ew:.3f}, CPU-time ratio {pc / ec:.3f}; whole train() "
              f"{time.perf_counter() - started:.1f} s)")
    per_step = {k: v / steps * 1e3 for k, v in best.items()}
    print(f"  best plain : {steps * batch_size / best['plain wall']:8.0f} samples/s  "
          f"({per_step['plain wall']:.3f} ms/step wall, {per_step['plain cpu']:.3f} ms/step CPU)")
    print(f"  best engine: {steps * batch_size / best['engine wall']:8.0f} samples/s  "
          f"({per_step['engine wall']:.3f} ms/step wall, {per_step['engine cpu']:.3f} ms/step CPU); "
          f"start-up and teardown {startup:.2f} s on top")
    cpu_ratio = best["plain cpu"] / best["engine cpu"]
    print(f"  ratio engine/plain: wall {best['plain wall'] / best['engine wall']:.3f}, CPU time {cpu_ratio:.3f}")
    return cpu_ratio


def recipe(args) -> None:
    """The seed-001 FashionMNIST TinyVGG recipe on data of the same shape: 60,000 train / 10,000 test, 3 epochs."""
    data = synthetic(60_000, 10_000)
    config = speed_config(args, dataset="synthetic", model="tinyvgg", model_options={"hidden_units": 10},
                          optimizer="sgd", lr=0.1, batch_size=32, epochs=3, accelerator=args.device)
    accelerator = engine.resolve_accelerator(args.device)
    with tempfile.TemporaryDirectory() as root:
        summary = engine.train(config, root=root, dataset=data, trainer_options=trainer_overrides(config, accelerator))
    print(f"FashionMNIST-shaped TinyVGG recipe (3 epochs, batch 32, SGD 0.1, validation on 10,000 each epoch) on "
          f"{summary['device']}, speed options {speed_options(config, accelerator)}: "
          f"{summary['train_seconds']:.1f} s training ({summary['samples_per_sec']:.0f} samples/s); "
          "the tutorial reports 44.3 s")


def _shape(text: str) -> tuple[int, int, int]:
    try:
        c, h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--image is C×H×W like 1x28x28, got {text!r}") from None
    return c, h, w


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=models.list_models(),
                        help="one model (default: the tiny model at batch 32 and TinyVGG at batch 64)")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--image", type=_shape, default=(1, 28, 28), help="input C×H×W (default 1x28x28)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: PyTorch's choice)")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--recipe", action="store_true")
    parser.add_argument("--fast", action="store_true", help="RunConfig.fast: every speed option the device supports")
    parser.add_argument("--precision", default="32", choices=["32", "bf16-mixed"])
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--fused", action="store_true", help="fused optimiser")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.recipe:
        recipe(args)
    elif args.model:
        compare(args, args.model, args.batch_size or 64, args.steps or 300, args.image)
    else:
        tiny = compare(args, "linear", args.batch_size or 32, args.steps or 2000, args.image)
        vgg = compare(args, "tinyvgg", args.batch_size or 64, args.steps or 300, args.image)
        print(f"\nCPU-time ratios engine/plain: tiny model {tiny:.3f} (target ≥ 0.85), TinyVGG {vgg:.3f} (target ≥ 0.95)")
