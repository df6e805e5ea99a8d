"""Where a training step's batches come from: a DataLoader over the decoded cache (the plain
path), or the whole decoded split held in the device's memory (the fast path).

Both give the same batches in the same order: the sample order is the epoch's
DistributedSampler order, and each sample's flip is drawn by :func:`flip_decisions` from
(seed, epoch, index), so a run on either path sees the same images, maps and fixations. A batch
is ``(x, target, fix)``: B x 3 x H x W normalised float32, B x 1 x H x W map in [0, 1],
B x 1 x H x W fixated pixels (1) as float32, all on the training device.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler

from salmap.data.cache import SampleCache
from salmap.data.transforms import Normalize

# The share of the device's free memory the decoded split may take before it stays on the host.
DEVICE_SHARE = 0.25


def flip_decisions(seed: int, epoch: int, indices, p: float) -> np.ndarray:
    """Whether each sample of ``indices`` is mirrored this epoch (probability ``p``), drawn
    from a generator seeded by (seed, epoch, index): independent of workers, batch and resume."""
    if not p:
        return np.zeros(len(indices), dtype=bool)
    return np.array([np.random.default_rng([seed, epoch, int(i)]).random() < p for i in indices])


class CachedSet(Dataset):
    """Samples from a :class:`SampleCache`: normalised image, target map, fixation map.

    Set :attr:`epoch` before each epoch (flips depend on it, see :func:`flip_decisions`)."""

    def __init__(self, cache: SampleCache, normalize: Normalize, hflip: float = 0.0, seed: int = 0):
        self.cache, self.normalize, self.hflip, self.seed = cache, normalize, hflip, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        image, target, fix = self.cache.images[i], self.cache.maps[i], self.cache.fixations[i]
        if flip_decisions(self.seed, self.epoch, [i], self.hflip)[0]:
            image, target, fix = image[:, ::-1], target[:, ::-1], fix[:, ::-1]
        return (
            torch.from_numpy(self.normalize(image)),
            torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32))[None],
            torch.from_numpy(np.ascontiguousarray(fix, dtype=np.float32))[None],
        )


class LoaderBatches:
    """Batches read from the cache by a DataLoader and copied to the device at each step.
    :meth:`epoch` yields ``(indices, (x, target, fix))``, the indices into the split. ``data`` is
    a :class:`CachedSet`, a :class:`salmap.train.features.FeatureSet` (``x`` is then a list of
    the encoder's feature maps, one per level) or a union of them (with an ``epoch``)."""

    on_device = False

    def __init__(
        self, data: Dataset, sampler: DistributedSampler, batch_size: int, workers, device
    ):
        self.data, self.sampler, self.batch_size = data, sampler, batch_size
        self.workers, self.device = workers, device

    def __len__(self) -> int:  # batches per epoch
        return -(-len(self.sampler) // self.batch_size)

    def epoch(self, epoch: int):
        self.data.epoch = epoch
        self.sampler.set_epoch(epoch)
        loader = DataLoader(
            self.data,
            batch_size=self.batch_size,
            sampler=self.sampler,
            num_workers=self.workers,
            pin_memory=self.device.type == "cuda",
            prefetch_factor=4 if self.workers else None,
        )
        order = list(self.sampler)
        for k, batch in enumerate(loader):
            indices = order[k * self.batch_size : (k + 1) * self.batch_size]
            yield indices, tuple(_to(t, self.device) for t in batch)


def _to(t, device):
    """A batch's tensor, or list of tensors (a FeatureSet's encoder features), on ``device``."""
    if isinstance(t, list):
        return [u.to(device, non_blocking=True) for u in t]
    return t.to(device, non_blocking=True)


class DeviceBatches:
    """The decoded split held on the device (images uint8, maps float16, fixations uint8);
    a step gathers its samples, mirrors those drawn for a flip and normalises them there, so
    nothing crosses from the host but one index and one flip vector per epoch.

    Images are kept N x H x W x 3, so a batch comes out channels_last without a copy."""

    on_device = True

    def __init__(self, data: CachedSet, sampler: DistributedSampler, batch_size: int, device):
        self.data, self.sampler, self.batch_size, self.device = data, sampler, batch_size, device
        cache = data.cache
        # read once from the memory-mapped cache (a copy: the maps are read-only)
        self.images = torch.from_numpy(np.array(cache.images)).to(device)
        self.maps = torch.from_numpy(np.array(cache.maps)).to(device)
        self.fixations = torch.from_numpy(np.array(cache.fixations)).to(device)
        norm = data.normalize
        self.mean = torch.from_numpy(norm.mean).to(device).reshape(1, 3, 1, 1)
        self.std = torch.from_numpy(norm.std).to(device).reshape(1, 3, 1, 1)

    @staticmethod
    def nbytes(cache: SampleCache) -> int:
        return sum(a.nbytes for a in (cache.images, cache.maps, cache.fixations))

    def __len__(self) -> int:  # batches per epoch
        return -(-len(self.sampler) // self.batch_size)

    def epoch(self, epoch: int):
        self.sampler.set_epoch(epoch)
        order = list(self.sampler)
        flips = flip_decisions(self.data.seed, epoch, order, self.data.hflip)
        on_device = torch.tensor(order, device=self.device)
        flips = torch.from_numpy(flips).to(self.device)
        for start in range(0, len(order), self.batch_size):
            part = slice(start, start + self.batch_size)
            yield order[part], self.batch(on_device[part], flips[part])

    def batch(self, idx: torch.Tensor, flip: torch.Tensor):
        image = self.images[idx].permute(0, 3, 1, 2)  # B x 3 x H x W, channels_last in memory
        target, fix = self.maps[idx][:, None], self.fixations[idx][:, None]
        mirror = flip.reshape(-1, 1, 1, 1)
        image = torch.where(mirror, image.flip(-1), image)
        target = torch.where(mirror, target.flip(-1), target)
        fix = torch.where(mirror, fix.flip(-1), fix)
        x = (image.float() / 255.0 - self.mean) / self.std
        return x, target.float(), fix.float()


def fits_on_device(cache: SampleCache, device: torch.device) -> bool:
    """Whether the decoded split takes at most :data:`DEVICE_SHARE` of a GPU's free memory.
    Never on the CPU: the memory-mapped cache and the loader's workers serve it as well there,
    without reading a large data set into RAM."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return DeviceBatches.nbytes(cache) <= DEVICE_SHARE * free
