"""A frozen encoder's features, computed once per image (and per mirror image) into the decoded
cache, so that training the decoder and head does not run the encoder every epoch.

``<sample cache>/features-<key>/level<k>.npy`` holds N x F x C x h x w float16 (F = 2 with the
mirror images, else 1) for each encoder level the decoder reads; ``key`` hashes the encoder's
weights and the normalisation, so another encoder or other weights never reuse these features.
Like the sample cache, the folder is built under a temporary name and renamed when complete.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import torch
from torch.utils.data import Dataset

from salmap.data.cache import SampleCache
from salmap.data.transforms import Normalize
from salmap.files import atomic_folder
from salmap.models.model import SaliencyModel
from salmap.train.batches import flip_decisions


def first_level(model: SaliencyModel) -> int:
    """The first encoder level the decoder reads (the readout skips the finest two)."""
    return int(getattr(model.decoder, "first_feature", 0))


def feature_key(model: SaliencyModel, normalize: Normalize, flips: int) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {
                "encoder": model.config.encoder,
                "mean": list(normalize.mean.ravel().tolist()),
                "std": list(normalize.std.ravel().tolist()),
                "first": first_level(model),
                "flips": flips,
            },
            sort_keys=True,
        ).encode()
    )
    for name, t in model.encoder.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:24]


@torch.no_grad()
def build_features(
    model: SaliencyModel,
    cache: SampleCache,
    normalize: Normalize,
    flips: int = 2,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
    progress=None,
) -> list[np.ndarray]:
    """The encoder's features of every cached image (``flips`` = 2: also of its mirror image),
    from the levels the decoder reads: a list of read-only N x flips x C x h x w float16 maps.
    Reused when they exist for the same encoder weights and normalisation."""
    folder = cache.folder / f"features-{feature_key(model, normalize, flips)}"
    if not (folder / "meta.json").is_file():
        _write_features(model, cache, normalize, flips, device, batch_size, folder, progress)
    meta = json.loads((folder / "meta.json").read_text())
    return [np.load(folder / f"level{k}.npy", mmap_mode="r") for k in range(meta["levels"])]


def _write_features(model, cache, normalize, flips, device, batch_size, folder, progress):
    encoder, first = model.encoder, first_level(model)
    was_training = encoder.training
    encoder.eval()  # the frozen encoder's BatchNorm statistics, as in training
    try:
        with atomic_folder(folder) as tmp:
            arrays = None
            n = len(cache)
            starts = range(0, n, batch_size)
            for start in progress(starts, total=len(starts)) if progress else starts:
                images = np.asarray(cache.images[start : start + batch_size])
                for f in range(flips):
                    batch = images[:, :, ::-1] if f else images
                    x = torch.from_numpy(
                        np.stack([normalize(np.ascontiguousarray(i)) for i in batch])
                    )
                    feats = encoder(x.to(device))[first:]
                    if arrays is None:
                        arrays = [
                            np.lib.format.open_memmap(
                                tmp / f"level{k}.npy", "w+", np.float16, (n, flips, *t.shape[1:])
                            )
                            for k, t in enumerate(feats)
                        ]
                    for a, t in zip(arrays, feats):
                        a[start : start + len(batch), f] = t.float().cpu().numpy()
            for a in arrays:
                a.flush()
            (tmp / "meta.json").write_text(json.dumps({"levels": len(arrays), "first": first}))
    finally:
        encoder.train(was_training)


class FeatureSet(Dataset):
    """Like :class:`salmap.train.batches.CachedSet` but yields the encoder's features of the
    (possibly mirrored) image instead of the image: (list of C x h x w float32 tensors, target
    map, fixation map). A flip is drawn exactly as CachedSet draws it, so both paths see the
    same flips in the same epochs."""

    def __init__(self, cache: SampleCache, features, first: int, hflip: float = 0.0, seed: int = 0):
        self.cache, self.features, self.first = cache, features, first
        self.hflip, self.seed = hflip, seed
        self.epoch = 0
        if hflip and features[0].shape[1] < 2:
            raise ValueError("flips need the mirror images' features (build_features flips=2)")

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        target, fix = self.cache.maps[i], self.cache.fixations[i]
        flip = bool(flip_decisions(self.seed, self.epoch, [i], self.hflip)[0])
        if flip:
            target, fix = target[:, ::-1], fix[:, ::-1]
        feats = [
            torch.from_numpy(np.asarray(a[i, int(flip)], dtype=np.float32)) for a in self.features
        ]
        return (
            feats,
            torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32))[None],
            torch.from_numpy(np.ascontiguousarray(fix, dtype=np.float32))[None],
        )


def decode_features(model: SaliencyModel, feats: list[torch.Tensor], first: int) -> torch.Tensor:
    """The model's logits from the encoder's features of levels ``first`` on (decoder + head)."""
    return model.head(model.decoder([None] * first + list(feats)))
