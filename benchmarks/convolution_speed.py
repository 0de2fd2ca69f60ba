"""How fast the step-through maths is, next to F.conv2d: one step on a 28×28 input, and a whole 224×224 photo.

Run: ``.venv/bin/python benchmarks/convolution_speed.py``. Prints one line per figure (best of several runs,
milliseconds); never run by the tests. Target: both of ours well under 100 ms on a laptop CPU.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from vision_core.data import images
from vision_core.lessons import kernels
from vision_core.lessons.convolution import convolution_steps, convolve


def best_ms(fn, repeat: int = 7) -> float:
    """Best of ``repeat`` wall-clock runs in ms (the machine may be shared)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def main() -> None:
    torch.set_num_threads(max(1, torch.get_num_threads()))
    rng = np.random.default_rng(0)
    digit, sobel = rng.random((28, 28)), kernels.kernel_preset("sobel x")
    steps = convolution_steps(digit, sobel, padding=1)
    middle = len(steps) // 2

    def one_step():
        convolution_steps(digit, sobel, padding=1)[middle]  # build all windows, fetch one step

    digit_t, sobel_t = torch.tensor(digit)[None, None], torch.tensor(sobel)[None, None]
    print(f"(a) 28×28, 3×3 kernel: build steps + fetch one step {best_ms(one_step):7.2f} ms | "
          f"fetch a step from built steps {best_ms(lambda: steps[middle], 50):6.3f} ms | "
          f"F.conv2d whole output {best_ms(lambda: F.conv2d(digit_t, sobel_t, padding=1), 50):6.3f} ms")

    photo = images.to_channels_first(images.resize_for_display(images.sample_photos()["china"], 224))
    photo = np.pad(photo, ((0, 0), (0, 224 - photo.shape[1]), (0, 224 - photo.shape[2])))  # 3×224×224
    kernel = rng.normal(size=(3, 3, 3))
    photo_t, kernel_t = torch.tensor(photo)[None], torch.tensor(kernel)[None]
    ours = convolve(photo, kernel, padding=1)
    theirs = F.conv2d(photo_t, kernel_t, padding=1)[0, 0].numpy()
    assert np.allclose(ours, theirs), "convolve disagrees with F.conv2d"
    print(f"(b) 224×224 RGB, 3×3×3 kernel, whole output: convolve {best_ms(lambda: convolve(photo, kernel, padding=1)):7.2f} ms"
          f" | convolution_steps {best_ms(lambda: convolution_steps(photo, kernel, padding=1)):7.2f} ms"
          f" | F.conv2d (float64) {best_ms(lambda: F.conv2d(photo_t, kernel_t, padding=1)):6.2f} ms"
          f" | F.conv2d (float32) {best_ms(lambda: F.conv2d(photo_t.float(), kernel_t.float(), padding=1)):6.2f} ms")


if __name__ == "__main__":
    main()
