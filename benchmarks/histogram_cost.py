"""What weight and gradient histograms cost a run: training with histogram snapshots on vs off.

    .venv/bin/python benchmarks/histogram_cost.py                          # LeNet on digits, a snapshot every 25 steps
    .venv/bin/python benchmarks/histogram_cost.py --model tinyvgg --every 10 --epochs 3 --repeats 5

Three set-ups train the same run (same seed, same batches): ``none`` (no snapshots), ``filters`` (the time-lapse's
filters and feature maps only) and ``histograms`` (the same, plus every layer's histograms). Timing runs from the
first batch to the last (``on_train_start`` → ``on_train_end``), validation off; each figure is the best of
``--repeats`` interleaved runs, as wall-clock time and as this process's CPU time (the steadier one on a machine
shared with other work). The ratio the issue asks for is histograms-off / histograms-on time (target ≥ 0.95).
"""

from __future__ import annotations

import argparse
import tempfile
import time

import lightning as L
import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.training import engine
from vision_core.training.snapshots import SnapshotCallback


class Timer(L.Callback):
    def on_train_start(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def on_train_end(self, trainer, pl_module) -> None:
        self._sync(pl_module)
        self.wall, self.cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu

    @staticmethod
    def _sync(pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize()


def run_once(config: RunConfig, dataset, mode: str, every: int) -> tuple[float, float, int]:
    timer = Timer()
    with tempfile.TemporaryDirectory() as folder:
        callbacks: list[L.Callback] = [timer]
        if mode != "none":
            callbacks.append(SnapshotCallback(folder, every, dataset, histograms=mode == "histograms"))
        summary = engine.train(config, root=folder, dataset=dataset, extra_callbacks=callbacks,
                               trainer_options={"limit_val_batches": 0, "limit_test_batches": 1})
    return timer.wall, timer.cpu, summary["steps"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="lenet")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--every", type=int, default=25, help="steps between snapshots (the form's default)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--accelerator", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    config = RunConfig(dataset=args.dataset, model=args.model, epochs=args.epochs, batch_size=args.batch_size,
                       snapshot_every=0, accelerator=args.accelerator)
    dataset = datasets.load(args.dataset)
    modes = ("none", "filters", "histograms")
    best = {m: (float("inf"), float("inf")) for m in modes}
    steps = 0
    run_once(config, dataset, "histograms", args.every)  # warm-up: first-call costs (allocator, kernels)
    for _ in range(args.repeats):
        for mode in modes:
            wall, cpu, steps = run_once(config, dataset, mode, args.every)
            best[mode] = (min(best[mode][0], wall), min(best[mode][1], cpu))
    print(f"{args.model} on {args.dataset}, {steps} steps, a snapshot every {args.every} steps, "
          f"best of {args.repeats}")
    for mode in modes:
        wall, cpu = best[mode]
        print(f"  {mode:<10}  wall {wall:7.3f} s ({1000 * wall / steps:.2f} ms/step)   cpu {cpu:7.3f} s")
    for a, b in (("filters", "histograms"), ("none", "histograms")):
        print(f"ratio {a} / {b}: wall {best[a][0] / best[b][0]:.3f}, cpu {best[a][1] / best[b][1]:.3f}")


if __name__ == "__main__":
    main()
