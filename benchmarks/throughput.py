"""Engine vs a minimal plain PyTorch loop: same model, data, batch size and number of steps, one process.

    .venv/bin/python benchmarks/throughput.py [--steps 300] [--batch-size 64] [--model tinyvgg] [--repeats 3]
    .venv/bin/python benchmarks/throughput.py --recipe   # FashionMNIST TinyVGG recipe (3 epochs, batch 32), GPU

Prints samples/s for each and the ratio engine / plain. The two are interleaved and repeated, and the
best of each is kept, because this machine is noisy. Both sides use the same in-memory tensors on the
training device; the engine's time is the whole ``fit`` (Lightning start-up included), validation off.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
import torch.nn.functional as F

from vision_core import datasets, engine, models
from vision_core.config import RunConfig


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


def plain_loop(config: RunConfig, data, steps: int, device: str) -> float:
    """The minimal loop: tensors already on the device, shuffled indices, forward/backward/step."""
    torch.manual_seed(config.seed)
    model = models.build(config.model, in_channels=data.channels, num_classes=len(data.classes),
                         image_size=data.image_size, **config.model_options).to(device)
    opt = torch.optim.SGD(model.parameters(), lr=config.lr) if config.optimizer == "sgd" else \
        torch.optim.Adam(model.parameters(), lr=config.lr)
    images, labels = data.train.images.to(device), data.train.labels.to(device)
    n, b = len(labels), config.batch_size
    done = 0
    if device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    while done < steps:
        order = torch.randperm(n, device=device)
        for i in range(0, n - b + 1, b):
            idx = order[i:i + b]
            x = data.normalize(images[idx].float() / 255)
            loss = F.cross_entropy(model(x), labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            done += 1
            if done == steps:
                break
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * b / (time.perf_counter() - start)


def engine_run(config: RunConfig, data, steps: int) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as root:
        summary = engine.train(config, root=root, dataset=data,
                               trainer_options={"limit_val_batches": 0, "max_steps": steps})
    return steps * config.batch_size / summary["train_seconds"], summary


def compare(args) -> None:
    device = "cuda" if torch.cuda.is_available() and args.device != "cpu" else "cpu"
    steps_per_epoch = 1000
    data = synthetic(args.batch_size * steps_per_epoch, 256)
    config = RunConfig(dataset="synthetic", model=args.model, optimizer="sgd", lr=0.01,
                       batch_size=args.batch_size, epochs=1, snapshot_every=0,
                       accelerator="gpu" if device == "cuda" else "cpu")
    torch.set_num_threads(torch.get_num_threads())
    plain_best, engine_best = 0.0, 0.0
    plain_loop(config, data, 20, device)  # warm-up (allocator, kernels)
    for r in range(args.repeats):
        plain = plain_loop(config, data, args.steps, device)
        eng, _ = engine_run(config, data, args.steps)
        plain_best, engine_best = max(plain_best, plain), max(engine_best, eng)
        print(f"repeat {r + 1}: plain {plain:8.0f} samples/s   engine {eng:8.0f} samples/s   ratio {eng / plain:.3f}")
    print(f"\n{args.model}, input 1×28×28, batch {args.batch_size}, {args.steps} steps, {device} "
          f"({torch.get_num_threads()} threads)")
    print(f"plain PyTorch loop: {plain_best:8.0f} samples/s")
    print(f"vision_core engine: {engine_best:8.0f} samples/s")
    print(f"ratio engine/plain: {engine_best / plain_best:.3f}  (target ≥ 0.9)")


def recipe(args) -> None:
    """The FashionMNIST TinyVGG recipe on data of the same shape: 60,000 train / 10,000 test, 3 epochs."""
    data = synthetic(60_000, 10_000)
    config = RunConfig(dataset="synthetic", model="tinyvgg", model_options={"hidden_units": 10}, optimizer="sgd",
                       lr=0.1, batch_size=32, epochs=3, snapshot_every=0, accelerator=args.device)
    with tempfile.TemporaryDirectory() as root:
        summary = engine.train(config, root=root, dataset=data)
    print(f"FashionMNIST-shaped TinyVGG recipe (3 epochs, batch 32, SGD 0.1) on {summary['device']}: "
          f"{summary['train_seconds']:.1f} s training ({summary['samples_per_sec']:.0f} samples/s); "
          "the tutorial reports 44.3 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--model", default="tinyvgg")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "gpu"])
    parser.add_argument("--recipe", action="store_true")
    args = parser.parse_args()
    recipe(args) if args.recipe else compare(args)
