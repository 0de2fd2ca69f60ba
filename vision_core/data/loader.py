"""BatchLoader: shuffled, augmented, normalised batches straight from in-memory uint8 tensors.

The split's images move to the training device once; each epoch is one ``torch.randperm`` on
that device, and every batch is a single gather → float → augment → normalise, all batched.
With DDP each rank takes every ``world_size``-th index of the same permutation.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import torch

from vision_core.data.augment import augment_batch, validate_augment
from vision_core.data.datasets import ImageDataset, Split


class BatchLoader:
    """Iterate ``(x, y)`` batches of a split: x float32 (B, C, H, W) normalised, y int64 (B,), on ``device``.

    Each ``iter()`` is one epoch; shuffling and augmentation follow one generator seeded once,
    so a seed gives the same sequence of epochs. Without ``drop_last`` every sample is seen once
    per epoch (with several ranks the last few are repeated so all ranks get equally many).

    Example::

        loader = BatchLoader(data.train, data, 64, shuffle=True, augment={"hflip": True})
        for x, y in loader: ...
    """

    def __init__(self, split: Split, dataset: ImageDataset, batch_size: int, *, shuffle: bool,
                 device: str | torch.device = "cpu", augment: dict[str, Any] | None = None, seed: int = 0,
                 drop_last: bool = False, rank: int = 0, world_size: int = 1) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a whole number ≥ 1, got {batch_size!r}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, world_size), got rank {rank} of world_size {world_size}")
        if len(split) == 0:
            raise ValueError("this split has no images; choose a dataset or val_size that leaves some")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.augment = validate_augment(augment)
        self.device = torch.device(device)
        self.images = split.images.to(self.device)  # (N, C, H, W) uint8, moved once
        self.labels = split.labels.to(self.device)  # (N,) int64
        # One generator for the order (same on every rank, so the shards partition one permutation)
        # and one per rank for augmentation (different ranks see different random views).
        self._order_generator = torch.Generator(device=self.device).manual_seed(seed)
        self._augment_generator = torch.Generator(device=self.device).manual_seed(seed + 7919 * (rank + 1))

    @property
    def samples_per_rank(self) -> int:
        return math.ceil(len(self.labels) / self.world_size)

    def __len__(self) -> int:
        m = self.samples_per_rank
        return m // self.batch_size if self.drop_last else math.ceil(m / self.batch_size)

    def _epoch_indices(self) -> torch.Tensor:
        n = len(self.labels)
        if self.shuffle:
            order = torch.randperm(n, generator=self._order_generator, device=self.device)
        else:
            order = torch.arange(n, device=self.device)
        padding = self.samples_per_rank * self.world_size - n
        if padding:  # as DistributedSampler: repeat the first few so every rank gets equally many
            order = torch.cat([order, order[:padding]])
        return order[self.rank::self.world_size]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        indices = self._epoch_indices()
        for i in range(len(self)):
            index = indices[i * self.batch_size:(i + 1) * self.batch_size]
            # index_select: one contiguous gather (several times faster than images[index] on the CPU).
            x = self.images.index_select(0, index).float().div_(255)  # (B, C, H, W) in [0, 1]
            if self.augment:
                x = augment_batch(x, self.augment, generator=self._augment_generator)
            yield self.dataset.normalize(x), self.labels.index_select(0, index)
