"""GPU paths, on a machine that has one (CI has none): loader residency, a real training, the speed options.

    .venv/bin/python benchmarks/gpu_check.py            # checks and figures, a few minutes
    .venv/bin/python benchmarks/gpu_check.py --quick    # the checks only

Prints, for docs/PERFORMANCE.md and the README: engine ÷ plain loop on the GPU (tiny model batch 32,
TinyVGG batch 64), the seed-001 TinyVGG recipe time plain and in fast mode, and the CIFAR-10 speed
recipe (airbench network, 10 epochs of 50,000 CIFAR-shaped images, batch 1024) in fast mode, with and
without torch.compile.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.data.loader import BatchLoader
from vision_core.training import engine, presets
from vision_core.training.lightning_module import speed_options, trainer_overrides

sys.path.insert(0, str(Path(__file__).parent))
import throughput  # the sibling benchmark: synthetic data, plain loop, engine run

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--quick", action="store_true", help="only the checks, no timings")
args = parser.parse_args()
assert torch.cuda.is_available(), "no GPU here"
print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, bf16: {torch.cuda.is_bf16_supported()}")

data = datasets.load("digits")
loader = BatchLoader(data.train, data, 64, shuffle=True, device="cuda", augment={"crop": 2, "rotation": 10})
batches = list(loader)
assert loader.images.is_cuda and all(x.is_cuda and y.is_cuda for x, y in batches)
assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(data.train.labels.tolist())
print("loader: every batch built on the GPU, every sample once per epoch")


def train(config: RunConfig, dataset=None, **options):
    with tempfile.TemporaryDirectory() as root:
        return engine.train(config, root=root, dataset=dataset,
                            trainer_options={**trainer_overrides(config, "gpu"), **options})


lenet = RunConfig(dataset="digits", model="lenet", epochs=8, lr=2e-3, batch_size=32, accelerator="gpu")
for label, config in (("plain", lenet), ("fast", lenet.replace(fast=True))):
    summary = train(config)
    print(f"LeNet on digits, GPU, {label} ({speed_options(config, 'gpu')}): test acc {summary['test_acc']:.4f} "
          f"in {summary['train_seconds']:.1f} s")
    assert summary["test_acc"] >= 0.95, summary

# torch.compile for real (inductor + Triton): same accuracy, and no fallback message.
compiled = lenet.replace(compile=True, epochs=3)
started = time.perf_counter()
summary = train(compiled)
print(f"LeNet, compile=True: test acc {summary['test_acc']:.4f}, {summary['train_seconds']:.1f} s "
      f"(compile included; whole run {time.perf_counter() - started:.1f} s)")
if args.quick:
    sys.exit(0)

# Engine ÷ plain loop on the GPU, plain and fast.
for fast in (False, True):
    ns = argparse.Namespace(fast=fast, precision="32", channels_last=False, compile=False, fused=False, device="gpu",
                            repeats=3)
    tiny = throughput.compare(ns, "linear", 32, 2000, (1, 28, 28))
    vgg = throughput.compare(ns, "tinyvgg", 64, 300, (1, 28, 28))
    print(f"GPU {'fast' if fast else 'plain'}: CPU-time ratios tiny {tiny:.3f}, TinyVGG {vgg:.3f} (wall ratios above)")

# The seed-001 TinyVGG recipe: 3 epochs, batch 32, 60,000 FashionMNIST-shaped images (target ≤ 5 s).
fashion = throughput.synthetic(60_000, 10_000)
recipe = RunConfig(dataset="synthetic", model="tinyvgg", model_options={"hidden_units": 10}, optimizer="sgd", lr=0.1,
                   batch_size=32, epochs=3, snapshot_every=0, accelerator="gpu")
for label, config in (("plain", recipe), ("fast", recipe.replace(fast=True))):
    summary = train(config, fashion)
    print(f"TinyVGG recipe, {label}: {summary['train_seconds']:.1f} s training (the tutorial reports 44.3 s)")

# The CIFAR-10 speed recipe on CIFAR-shaped random images (airbench94: 3.29 s on an A100 for ~10 epochs).
cifar = throughput.synthetic(50_000, 10_000, shape=(3, 32, 32))
speed = presets.get_preset("airbench_cifar10").config.replace(dataset="synthetic", dataset_options={},
                                                              snapshot_every=0, accelerator="gpu")
for label, config in (("fast", speed), ("fast + compile", speed.replace(compile=True))):
    summary = train(config, cifar)
    print(f"airbench recipe, {label}: {summary['train_seconds']:.1f} s for 10 epochs "
          f"({summary['samples_per_sec']:.0f} samples/s)")
