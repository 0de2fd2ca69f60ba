"""A challenge run's score: the accuracy of its checkpoint on the challenge's held-out images.

One function, ``score``, for the worker (right after the run's test, before its status says finished) and for
``vision-core score RUN_ID --challenge NAME``: the same images (``datasets.HeldOut`` from the challenge's recorded
seed and size), the same checkpoint (the best, as the run's own test), the same float32 CPU arithmetic, so the
command line prints the leaderboard's number on any machine.

Example: ``score(runs.load_run(run_id), challenges.load_challenge("small-nets"))["accuracy"]``.
"""

from __future__ import annotations

import time
from typing import Any

import torch

from vision_core.config import RunConfig
from vision_core.data import datasets
from vision_core.runs import challenges
from vision_core.runs import store as runs

BATCH = 256  # images per forward pass: a bounded batch whatever the held-out size


def challenge_of(config: RunConfig, root=None) -> challenges.Challenge | None:
    """The challenge a run is for (None for a run outside any); ChallengeError when it names none that can be read."""
    return challenges.load_challenge(config.challenge, root) if config.challenge else None


def held_out(challenge: challenges.Challenge | None) -> datasets.HeldOut | None:
    """What ``datasets.load`` leaves out of the training pool for this challenge (None: nothing)."""
    return datasets.HeldOut(challenge.held_out, challenge.seed) if challenge is not None else None


def load_data(config: RunConfig, challenge: challenges.Challenge | None) -> datasets.ImageDataset:
    """The run's dataset, without the challenge's held-out images in train or val (they are ``.held_out``)."""
    return datasets.load(config.dataset, held_out=held_out(challenge), **config.dataset_options)


@torch.no_grad()
def accuracy_on(model: torch.nn.Module, dataset: datasets.ImageDataset, split: datasets.Split) -> tuple[int, int]:
    """(correct, images) of ``model`` (eval mode, CPU) on ``split``, in batches of BATCH."""
    correct = 0
    for start in range(0, len(split), BATCH):
        images = dataset.normalize(split.images[start:start + BATCH].float() / 255)  # (B, C, H, W)
        predicted = model(images).argmax(dim=1)  # (B,)
        correct += int((predicted == split.labels[start:start + BATCH]).sum())
    return correct, len(split)


def score(run: runs.RunRecord, challenge: challenges.Challenge, finished_at: float | None = None) -> dict[str, Any]:
    """The run's held-out accuracy, as ``score.json`` holds it. Raises ChallengeError for a run of another
    challenge, RunError for a run without a checkpoint or a model that cannot be rebuilt."""
    if run.config.challenge != challenge.name:
        raise challenges.ChallengeError(f"Run {run.run_id} is not a run for the challenge {challenge.name!r} "
                                        f"({'it is for ' + repr(run.config.challenge) if run.config.challenge else 'it is for none'}).")
    which = "best" if run.checkpoint("best") is not None else "last"
    model = runs.load_model(run, which)  # float32, on the CPU, eval mode
    data = load_data(run.config, challenge)
    correct, images = accuracy_on(model, data, data.held_out)
    return {"challenge": challenge.name, "accuracy": correct / images, "correct": correct, "images": images,
            "seed": challenge.seed, "checkpoint": which, "scored_at": time.time(),
            "finished_at": time.time() if finished_at is None else finished_at}
