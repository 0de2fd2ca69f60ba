"""How fast the data layer is: generating shapes, loading digits, one loader epoch with augmentation.

Run: ``.venv/bin/python benchmarks/dataset_speed.py [--device cuda]``. Prints one line per figure;
never run by the tests.
"""

from __future__ import annotations

import argparse
import time

import torch

from vision_core.data import datasets, procedural
from vision_core.data.loader import BatchLoader


def seconds(fn, repeat: int = 3) -> float:
    """Best of ``repeat`` wall-clock runs (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=50_000, help="synthetic images for the loader epoch")
    args = parser.parse_args()

    for size in (32, 64):
        t = seconds(lambda size=size: procedural.make_shapes(3600, (size, size), 0.3))
        print(f"shapes: 3,600 images at {size}×{size} in {t:.2f} s ({3600 / t:,.0f} images/s)")

    datasets.clear_cache()
    start = time.perf_counter()
    datasets.load("digits")
    print(f"digits: first load {time.perf_counter() - start:.2f} s; "
          f"cached load {seconds(lambda: datasets.load('digits')) * 1e6:.0f} µs")

    # A CIFAR-sized epoch from random tensors: the loader's own cost, without any model.
    n = args.images
    images = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8)
    split = datasets.Split(images, torch.randint(0, 10, (n,)), 10)
    data = datasets.ImageDataset(name="synthetic", classes=[str(i) for i in range(10)], channels=3,
                                 image_size=(32, 32), mean=(0.5,) * 3, std=(0.5,) * 3, train=split, test=split)
    for augment in (None, {"hflip": True, "crop": True}, {name: True for name in ("hflip", "crop", "rotation")}):
        loader = BatchLoader(split, data, 512, shuffle=True, device=args.device, augment=augment)

        def epoch(loader=loader) -> None:
            for _x, _y in loader:
                pass

        t = seconds(epoch)
        print(f"loader on {args.device}, augment={sorted(augment or {})}: {n:,} images in {t:.3f} s "
              f"({n / t:,.0f} images/s)")


if __name__ == "__main__":
    main()
