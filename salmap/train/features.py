"""A frozen encoder's features, computed once per image (and per mirror image) into the decoded
cache, so that training the decoder and head does not run the encoder every epoch.

``<sample cache>/features-<key>/level<k>.npy`` holds N x F x C x h x w float16 (F = 2 with the
mirror images, else 1) for each encoder level the decoder reads; ``key`` hashes the encoder's
weights and the normalisation, so another encoder or other weights never reuse these features.
Like the sample cache, the folder is built under a temporary name and renamed when complete.

On the CPU the encoder runs on onnxruntime when it (and onnx) is installed: an in-memory export
of the frozen encoder, about 3.7x eager PyTorch on two cores, with features equal to 1e-5 of
their scale (``benchmarks/bench_frozen_features.py`` measures both).
"""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Callable

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


def encoder_levels(model: SaliencyModel, device, runner: str = "auto") -> Callable:
    """A function from a normalised B x 3 x H x W float32 array to the encoder's levels from
    :func:`first_level` on (float32 arrays). ``runner``: "torch", "onnx" (onnxruntime, CPU
    only) or "auto" (onnx on the CPU when onnxruntime and onnx are installed)."""
    encoder, first = model.encoder, first_level(model)
    on_cpu = torch.device(device).type == "cpu"
    if runner == "auto":
        runner = "onnx" if on_cpu and _onnx_available() else "torch"
    if runner == "onnx":
        return _onnx_levels(encoder, first, model.config.input_size)

    @torch.no_grad()
    def run(x: np.ndarray) -> list[np.ndarray]:
        feats = encoder(torch.from_numpy(x).to(device))[first:]
        return [t.float().cpu().numpy() for t in feats]

    return run


def _onnx_available() -> bool:
    from importlib.util import find_spec

    from salmap.inference import onnxruntime_available

    return onnxruntime_available() and find_spec("onnx") is not None


def _onnx_levels(encoder, first: int, size) -> Callable:
    import onnxruntime as ort

    class Levels(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = encoder

        def forward(self, x):
            return tuple(self.encoder(x)[first:])

    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on shape checks that are constant
        torch.onnx.export(
            Levels().cpu().eval(),
            (torch.zeros(1, 3, *size),),
            buf,
            input_names=["image"],
            opset_version=17,
            dynamo=False,
            dynamic_axes={"image": {0: "batch"}},
        )
    session = ort.InferenceSession(buf.getvalue(), providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {"image": np.ascontiguousarray(x, dtype=np.float32)})


def _write_features(model, cache, normalize, flips, device, batch_size, folder, progress):
    encoder = model.encoder
    was_training = encoder.training
    encoder.eval()  # the frozen encoder's BatchNorm statistics, as in training
    try:
        levels = encoder_levels(model, device)
        with atomic_folder(folder) as tmp:
            arrays = None
            n = len(cache)
            starts = range(0, n, batch_size)
            for start in progress(starts, total=len(starts)) if progress else starts:
                images = np.asarray(cache.images[start : start + batch_size])
                for f in range(flips):
                    batch = images[:, :, ::-1] if f else images
                    feats = levels(np.stack([normalize(np.ascontiguousarray(i)) for i in batch]))
                    if arrays is None:
                        arrays = [
                            np.lib.format.open_memmap(
                                tmp / f"level{k}.npy", "w+", np.float16, (n, flips, *t.shape[1:])
                            )
                            for k, t in enumerate(feats)
                        ]
                    for a, t in zip(arrays, feats):
                        a[start : start + len(batch), f] = t
            for a in arrays:
                a.flush()
            meta = {"levels": len(arrays), "first": first_level(model)}
            (tmp / "meta.json").write_text(json.dumps(meta))
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
