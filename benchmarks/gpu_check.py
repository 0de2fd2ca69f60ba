"""GPU paths, on a machine that has one (CI has none): loader residency, a real training, the recipe time.

    .venv/bin/python benchmarks/gpu_check.py
"""

import tempfile

import torch

from vision_core import datasets, engine
from vision_core.config import RunConfig
from vision_core.loader import BatchLoader

assert torch.cuda.is_available(), "no GPU here"
data = datasets.load("digits")
loader = BatchLoader(data.train, data, 64, shuffle=True, device="cuda", augment={"crop": 2, "rotation": 10})
batches = list(loader)
assert loader.images.is_cuda and all(x.is_cuda and y.is_cuda for x, y in batches)
assert sorted(torch.cat([y for _, y in batches]).tolist()) == sorted(data.train.labels.tolist())
print("loader: every batch built on the GPU, every sample once per epoch")

with tempfile.TemporaryDirectory() as root:
    summary = engine.train(RunConfig(dataset="digits", model="lenet", epochs=8, lr=2e-3, batch_size=32,
                                     accelerator="gpu"), root=root)
print(f"LeNet on digits, GPU: test acc {summary['test_acc']:.4f} in {summary['train_seconds']:.1f} s on "
      f"{summary['device']}")
