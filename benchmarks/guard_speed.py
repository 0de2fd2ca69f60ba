"""How fast the guards refuse issue 8's 2-billion-parameter model, and how much memory that costs.

The model: custom template on 3×64×64 shapes, one block, no pooling, 256 channels, 2048 hidden units
(2,147,505,158 parameters: 8 GB of weights if it were built for real). The target is under 1 s and no big
allocation. Prints the cold time (the first meta build loads torch's meta kernels once per process), the warm
times (best of 5) of the refusal and of the Train form's preview (meta build + layer summary), and the peak
resident-memory growth (ru_maxrss) over the warm-up.

    .venv/bin/python benchmarks/guard_speed.py
"""

from __future__ import annotations

import resource
import time

from vision_core.config import RunConfig
from vision_core.limits import Limits
from vision_core.models import zoo as models
from vision_core.training import guards

HUGE = RunConfig(dataset="shapes", model="custom", batch_size=4096,
                 model_options={"blocks": 1, "convs_per_block": 1, "channels": 256, "pool": None,
                                "hidden_units": 2048})
SHAPE, CLASSES = (3, 64, 64), 6


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KB


def refuse(config: RunConfig) -> str:
    try:
        guards.check(config, SHAPE, CLASSES, Limits())
    except guards.GuardError as error:
        return error.limit
    raise AssertionError("the huge model was not refused")


def preview() -> int:
    model = guards.meta_model(HUGE.model, HUGE.model_options, SHAPE, CLASSES)
    return sum(row.params for row in models.summary(model, SHAPE))


def best(fn, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    before = peak_mb()
    start = time.perf_counter()
    first = refuse(HUGE.replace(batch_size=64))  # batch 64 passes the batch limit: the parameter limit refuses
    cold = time.perf_counter() - start
    print(f"cold refusal (first meta build in this process): {cold:.2f} s, refused by {first}")
    print(f"warm refusal, batch 64 (meta build + meta forward): {best(lambda: refuse(HUGE.replace(batch_size=64))):.3f} s")
    print(f"warm refusal, batch 4096 (refused on the batch size, no model): {best(lambda: refuse(HUGE)) * 1e3:.3f} ms")
    print(f"warm preview (meta build + layer summary, {preview():,} parameters): {best(preview):.3f} s")
    print(f"peak resident memory growth: {peak_mb() - before:.0f} MB (the real weights would be "
          f"{4 * 2_147_505_158 / 2**30:.1f} GB)")


if __name__ == "__main__":
    main()
