"""``salmap train``: the training loop, short enough to read in one sitting.

One command for one CPU, one GPU or many (launch with ``torchrun`` for several processes: the
gradients are averaged by DistributedDataParallel, gloo on CPU and NCCL on CUDA). Every epoch
logs train/validation loss and SSIM (in the model's input frame, the seed's figures) and the
validation CC, NSS and KLD as ``salmap evaluate`` computes them (at each image's resolution, see
:mod:`salmap.train.validation`) to ``metrics.csv`` and TensorBoard, and redraws ``curves.png``;
``steps.csv`` holds the training loss every ``log_every`` steps. ``checkpoints/last.pt`` is
replaced atomically (every ``save_every`` epochs), so ``--resume`` continues from the last saved
epoch with nothing lost or repeated (shuffling and flips are seeded by epoch, so the resumed run
matches an unbroken one).

The step's speed (none of it changes the model or the optimiser's semantics; each switchable in
the config): bf16 autocast and channels_last on CUDA, the decoded split held in the device's
memory with flips and normalisation done there (:mod:`salmap.train.batches`), a fused
optimiser step, optional ``torch.compile``, and no wait for the device inside an epoch but every
``log_every`` steps (losses are accumulated on the device).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import platform
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, Dataset
from torch.utils.data.distributed import DistributedSampler
from tqdm import tqdm

from salmap import leakage
from salmap.data import dataset_tag, open_dataset
from salmap.data.cache import build_cache
from salmap.data.transforms import Normalize
from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes
from salmap.losses import CombinedLoss
from salmap.models.io import save_model
from salmap.models.model import SaliencyModel
from salmap.train.batches import CachedSet, DeviceBatches, LoaderBatches, fits_on_device
from salmap.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from salmap.train.config import DataConfig, TrainConfig, check_resumable, save_config
from salmap.train.features import FeatureSet, build_features, decode_features, first_level
from salmap.train.validation import FRAME_METRICS, FrameScorer
from salmap.viz import plot_training_curves

COLUMNS = [
    "epoch",
    "train_loss",
    "train_ssim",
    "val_loss",
    "val_ssim",
    "val_cc",
    "val_nss",
    "val_kld",
    "lr",
    "seconds",
    "images_per_s",
]


# Each validation set's figures (metrics.csv has val_<tag>_<metric> for each of several sets)
VAL_METRICS = ("loss", "ssim", *FRAME_METRICS)

STEP_COLUMNS = ["epoch", "step", "images", "train_loss"]


def _csv_text(rows: list[dict], columns: list[str], header: bool = True) -> bytes:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    if header:
        w.writeheader()
    w.writerows(
        {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()} for r in rows
    )
    return buf.getvalue().encode()


def _append_csv(path: Path, rows: list[dict], columns: list[str]) -> None:
    new = not path.exists()
    with open(path, "ab") as f:
        f.write(_csv_text(rows, columns, header=new))


def hardware(device: torch.device) -> str:
    """The training device in words, e.g. 'NVIDIA H100 80GB HBM3' or 'CPU (x86_64, 2 threads)'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


class TrainingError(SalmapError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


class UnionSet(ConcatDataset):
    """Several datasets' training sets as one; :attr:`epoch` is passed on to each of them."""

    @property
    def epoch(self) -> int:
        return self.datasets[0].epoch

    @epoch.setter
    def epoch(self, value: int) -> None:
        for d in self.datasets:
            d.epoch = value


def open_sources(data: DataConfig) -> dict:
    """The datasets of ``data.path`` (one folder or several), keyed by a short unique tag: the
    format's name (``nus-scene``, ``osie``), or the folder's name for the folder format."""
    sources = data.sources()
    if not sources:
        raise SalmapError("no dataset: pass --data PATH (or set data.path in the config)")
    datasets = {}
    for path, fmt in sources:
        ds = open_dataset(path, fmt, data.sigma)
        base = dataset_tag(ds)
        tag, k = base, 2
        while tag in datasets:
            tag, k = f"{base}-{k}", k + 1
        datasets[tag] = ds
    return datasets


def split_json(parts: dict) -> str:
    """The ids of each split: ``{"train": [...], "val": [...]}`` for one dataset; for several,
    the same with ids written ``<tag>/<id>``, and each one's own lists under ``"datasets"``
    (what ``salmap evaluate`` reads, see :meth:`salmap.data.SplitRule.from_ids_file`)."""
    names = ("train", "val")
    if len(parts) == 1:
        (p,) = parts.values()
        return json.dumps({name: p[name].ids for name in names}, indent=1)
    listing = {name: [f"{t}/{i}" for t, p in parts.items() for i in p[name].ids] for name in names}
    listing["datasets"] = {t: {name: p[name].ids for name in names} for t, p in parts.items()}
    return json.dumps(listing, indent=1)


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    def sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return [float(v) for v in values]
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return t.tolist()


def setup_distributed(device: str) -> Distributed:
    world = int(os.environ.get("WORLD_SIZE", 1))
    cuda = torch.cuda.is_available() and device != "cpu"
    if world > 1:
        local = int(os.environ.get("LOCAL_RANK", 0))
        dev = torch.device(f"cuda:{local}") if cuda else torch.device("cpu")
        if cuda:
            torch.cuda.set_device(dev)
        if not dist.is_initialized():
            # rank 0 may spend a long time building the cache while the others wait
            dist.init_process_group("nccl" if cuda else "gloo", timeout=timedelta(hours=3))
        return Distributed(dist.get_rank(), world, dev)
    if device == "auto":
        device = "cuda" if cuda else "cpu"
    return Distributed(0, 1, torch.device(device))


def make_optimizer(model: SaliencyModel, cfg, fused: bool = False) -> torch.optim.Optimizer:
    """The configured optimiser; ``fused`` runs each step as one kernel (same update)."""
    groups = model.parameter_groups()
    enc_lr = cfg.lr if cfg.encoder_lr is None else cfg.encoder_lr
    if enc_lr == 0:
        for p in groups["encoder"]:
            p.requires_grad_(False)
        params = [{"params": groups["decoder"], "lr": cfg.lr}]
    else:
        params = [
            {"params": groups["encoder"], "lr": enc_lr},
            {"params": groups["decoder"], "lr": cfg.lr},
        ]
    kernel = {"fused": True} if fused else {}
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kernel
        )
    if cfg.name in ("adam", "adamw"):
        opt = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
        return opt(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **kernel)
    raise SalmapError(f"unknown optimiser {cfg.name!r}; valid: sgd, adam, adamw")


def make_scheduler(opt, cfg, epochs: int):
    if cfg.scheduler == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    raise SalmapError(f"unknown scheduler {cfg.scheduler!r}; valid: none, cosine")


def ssim_of(maps: torch.Tensor, target: torch.Tensor, output: str) -> torch.Tensor:
    """Per-image SSIM (data range 1) between activated maps and targets, as torchmetrics'
    ``structural_similarity_index_measure`` (Gaussian window of sigma 1.5, 11 taps, reflected
    borders; tested equal); softmax maps are first scaled to a maximum of 1 like the targets."""
    if output == "softmax":
        maps = maps / maps.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return ssim(maps.float(), target.float())


def ssim(x: torch.Tensor, y: torch.Tensor, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM of each of B x 1 x H x W maps in [0, 1] against its target: B values. The
    Gaussian window is applied as two 1-D depthwise passes (about 5x torchmetrics' 2-D kernel on
    a CPU: the training loop logs it every step)."""
    taps = torch.arange(-5, 6, dtype=x.dtype, device=x.device)
    g = torch.exp(-0.5 * (taps / 1.5) ** 2)
    g = g / g.sum()
    stack = torch.cat([x, y, x * x, y * y, x * y])[:, 0][None]  # 1 x 5B x H x W: one map a channel
    n = stack.shape[1]
    stack = torch.nn.functional.pad(stack, (5, 5, 5, 5), mode="reflect")
    stack = torch.nn.functional.conv2d(stack, g.view(1, 1, 1, -1).expand(n, 1, 1, 11), groups=n)
    stack = torch.nn.functional.conv2d(stack, g.view(1, 1, -1, 1).expand(n, 1, 11, 1), groups=n)
    mx, my, xx, yy, xy = stack[0].split(len(x))
    c1, c2 = k1**2, k2**2
    var_x = (xx - mx * mx).clamp_min(0)
    var_y = (yy - my * my).clamp_min(0)
    cov = xy - mx * my
    value = ((2 * mx * my + c1) * (2 * cov + c2)) / (
        (mx * mx + my * my + c1) * (var_x + var_y + c2)
    )
    return value.flatten(1).mean(1)


COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass
class Speed:
    """The config's speed switches resolved for the device ("auto" decided)."""

    bf16: bool
    channels_last: bool
    data_on_device: bool | str  # or "auto": decided per split by fits_on_device
    fused: bool
    compile: str

    @classmethod
    def resolve(cls, cfg: TrainConfig, device: torch.device) -> Speed:
        cuda = device.type == "cuda"

        def switch(value, name) -> bool:
            if value == "auto":
                return cuda
            if isinstance(value, bool):
                return value
            raise SalmapError(f"{name} must be true, false or auto, got {value!r}")

        if cfg.amp not in ("auto", "bf16", "none"):
            raise SalmapError(f"amp must be auto, bf16 or none, got {cfg.amp!r}")
        if cfg.compile not in COMPILE_MODES:
            raise SalmapError(
                f"compile must be one of {', '.join(COMPILE_MODES)}, got {cfg.compile!r}"
            )
        if cfg.log_every < 1:
            raise SalmapError(f"log_every must be at least 1, got {cfg.log_every}")
        return cls(
            bf16=cfg.amp == "bf16" or (cfg.amp == "auto" and cuda),
            channels_last=switch(cfg.channels_last, "channels_last"),
            data_on_device=cfg.data_on_device
            if cfg.data_on_device == "auto"
            else switch(cfg.data_on_device, "data_on_device"),
            fused=switch(cfg.fused_optimizer, "fused_optimizer"),
            compile=cfg.compile,
        )


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False):
        self.cfg, self.out = cfg, Path(cfg.out)
        self.ddp = setup_distributed(cfg.device)
        self.last = self.out / "checkpoints" / "last.pt"
        if not resume and self.last.exists():
            raise SalmapError(
                f"{self.out} already holds a run: pass --resume to continue it, or choose another --out"
            )
        if not cfg.data.path:
            raise SalmapError("no dataset: pass --data PATH (or set data.path in the config)")
        self.speed = Speed.resolve(cfg, self.ddp.device)
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model = SaliencyModel(cfg.model).to(self.ddp.device)
        if self.speed.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss = CombinedLoss(cfg.loss)
        self.loss.check_output(cfg.model.output)
        self.opt = make_optimizer(self.model, cfg.optim, self.speed.fused)
        self.sched = make_scheduler(self.opt, cfg.optim, cfg.epochs)
        self.start_epoch, self.best, self.stale = 0, math.inf, 0
        if resume:
            self._restore(load_checkpoint(self.last))
        self.net = self.model
        if self.ddp.world > 1:
            ids = [self.ddp.device.index] if self.ddp.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self._data()
        # a batch of images goes through the whole model; their encoder's features (a list of
        # maps, see salmap.train.features) through the decoder and head only
        self.forward = self.net
        if self.features:
            first = first_level(self.model)
            self.forward = lambda feats: decode_features(self.model, feats, first)
        if self.speed.compile != "none":
            self.forward = torch.compile(self.forward, mode=self.speed.compile, dynamic=False)

    # -- data -----------------------------------------------------------------------------
    def _data(self):
        """One training set (the union of every dataset's training split) and one validation
        set per dataset (``val``, or ``val_<tag>`` each when there are several)."""
        cfg, ddp = self.cfg, self.ddp
        repeats = cfg.data.repeats()  # checked before any data is read
        datasets = open_sources(cfg.data)
        # what the saved models' recipes record: the formats read, guessed ones included, so
        # that `salmap evaluate` knows which data a model learnt from
        formats = [ds.format for ds in datasets.values()]
        self.formats = formats[0] if len(formats) == 1 else formats
        parts = {
            tag: {
                name: ds.split(name, cfg.data.val_fraction, cfg.data.split_seed)
                for name in ("train", "val")
            }
            for tag, ds in datasets.items()
        }
        if not any(len(p["train"]) for p in parts.values()):
            raise SalmapError(f"{cfg.data.path}: no training images")
        self.trained_images = leakage.record(p["train"] for p in parts.values())
        if ddp.main:
            self.out.mkdir(parents=True, exist_ok=True)
            for ds in datasets.values():
                for p in ds.problems[:20]:
                    tqdm.write(f"warning: {p}")
            atomic_write_bytes(self.out / "split.json", split_json(parts).encode())
        self.normalize = Normalize.from_config(cfg.model)
        self.features = self._use_features()
        several = len(datasets) > 1
        self.val_names = []
        self.columns = list(COLUMNS)
        self.batches, self.frames = {}, {}
        train_sets = []
        for (tag, p), times in zip(parts.items(), repeats):
            if len(p["train"]):  # seen ``times`` times an epoch (data.repeat)
                name = f"{tag} train" if several else "train"
                train_sets += [self._cached_set(name, p["train"], cfg.data.hflip)] * times
        self._add_set("train", train_sets[0] if len(train_sets) == 1 else UnionSet(train_sets))
        for tag, p in parts.items():
            if len(p["val"]) == 0:
                continue
            name = f"val_{tag}" if several else "val"
            self._add_set(name, self._cached_set(f"{tag} val" if several else "val", p["val"]))
            self.val_names.append(name)
            if cfg.eval_every:
                self.frames[name] = FrameScorer(
                    p["val"], cfg.model.input_size, cfg.model.aspect, cfg.eval_longer_side
                )
            if several:
                self.columns += [f"{name}_{m}" for m in VAL_METRICS]

    def _cached_set(self, what: str, part, hflip: float = 0.0):
        """The decoded cache of ``part`` (built by rank 0, read by the others), as images or, with
        a frozen encoder, as the encoder's features (see :meth:`_use_features`)."""
        cfg, ddp = self.cfg, self.ddp
        if ddp.main:
            cache = build_cache(
                part,
                cfg.model.input_size,
                cfg.model.aspect,
                cfg.data.cache_dir,
                workers=max(1, cfg.data.workers),
                progress=self._bar(f"caching {what}"),
            )
        ddp.barrier()
        if not ddp.main:
            cache = build_cache(part, cfg.model.input_size, cfg.model.aspect, cfg.data.cache_dir)
        if self.loss.needs_fixations and not cache.has_fixations:
            raise SalmapError(f"the nss loss needs fixations, and {part.root} has none")
        if not self.features:
            return CachedSet(cache, self.normalize, hflip, cfg.seed)
        feats = build_features(
            self.model,
            cache,
            self.normalize,
            flips=2 if hflip else 1,
            device=self.ddp.device,
            batch_size=self.cfg.batch_size,
            progress=self._bar(f"encoder features of {what}", unit="batch"),
        )
        return FeatureSet(cache, feats, first_level(self.model), hflip, cfg.seed)

    def _use_features(self) -> bool:
        """Train from features computed once when the encoder is frozen (one process only:
        under DDP the wrapped model must run whole, so images are fed as before)."""
        return (
            self.cfg.data.cache_features and self.cfg.optim.encoder_lr == 0 and self.ddp.world == 1
        )

    def _add_set(self, name: str, data: Dataset):
        sampler = DistributedSampler(
            data,
            self.ddp.world,
            self.ddp.rank,
            shuffle=name == "train",
            seed=self.cfg.seed,
            drop_last=False,
        )
        self.batches[name] = self._batch_source(data, sampler)

    def _batch_source(self, data, sampler):
        """The split held on the device when asked (or, with "auto", when it fits), else a
        DataLoader over the cache. Only one data set's images go to the device; the encoder's
        features (:class:`FeatureSet`) and a union of data sets are always read by the loader."""
        on_device = type(data) is CachedSet and self.speed.data_on_device
        if on_device == "auto":
            on_device = fits_on_device(data.cache, self.ddp.device)
        if on_device:
            return DeviceBatches(data, sampler, self.cfg.batch_size, self.ddp.device)
        workers = self.cfg.data.workers
        return LoaderBatches(data, sampler, self.cfg.batch_size, workers, self.ddp.device)

    def _bar(self, desc, unit="img"):
        return lambda it, total=None: tqdm(
            it, total=total, desc=desc, unit=unit, leave=False, disable=not self.ddp.main
        )

    # -- one pass ---------------------------------------------------------------------------
    def _autocast(self):
        if self.speed.bf16:
            return torch.autocast(self.ddp.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def step(self, x, target, fix, train: bool):
        """One batch: forward (and, training, backward and the optimiser's step); returns the
        loss and the activated maps, both still on the device."""
        if self.speed.channels_last:  # a no-op on the device path
            if isinstance(x, list):  # the encoder's features, one map per level
                x = [t.contiguous(memory_format=torch.channels_last) for t in x]
            else:
                x = x.contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(train), self._autocast():
            logits = self.forward(x)
        loss, _ = self.loss(logits, target, fix)
        if train:
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        with torch.no_grad():
            maps = self.model.activate(logits.detach().float())
        return loss.detach(), maps

    def run_epoch(self, name: str, epoch: int, frame: bool = False) -> dict:
        """One pass over a split: the mean loss and SSIM (and, with ``frame``, validation CC,
        NSS and KLD in evaluate's frame). The host reads the device's running sums only every
        ``log_every`` steps, and checks then that no loss was NaN or infinite."""
        train = name == "train"
        with_ssim = not train or self.cfg.train_ssim
        self.net.train(train)
        if self.cfg.optim.encoder_lr == 0:
            self.model.encoder.eval()  # a frozen encoder keeps its BatchNorm statistics
        source, dev = self.batches[name], self.ddp.device
        losses = torch.zeros(len(source), device=dev)  # per-step loss, read every log_every
        ssim_sum = torch.zeros((), device=dev, dtype=torch.float64)
        sizes, read, t0 = [], 0, time.perf_counter()
        bar = tqdm(
            total=len(source),
            desc=f"epoch {epoch + 1}/{self.cfg.epochs} {name}",
            unit="batch",
            leave=False,
            disable=not self.ddp.main,
        )
        for step, (indices, (x, target, fix)) in enumerate(source.epoch(epoch)):
            loss, maps = self.step(x, target, fix, train)
            with torch.no_grad():
                losses[step] = loss
                if with_ssim:
                    ssim_sum += ssim_of(maps, target, self.cfg.model.output).sum()
            if frame:
                self.frames[name].submit(indices, maps[:, 0].cpu().numpy())
            sizes.append(len(indices))
            bar.update(1)
            if (step + 1) % self.cfg.log_every == 0 or step + 1 == len(source):
                read = self._read_losses(losses, sizes, read, step, name, epoch, bar, t0)
        bar.close()
        seconds = time.perf_counter() - t0
        n = float(sum(sizes))
        weighted = float((losses[: len(sizes)].double() * torch.tensor(sizes, device=dev)).sum())
        total = self.ddp.sum([weighted, float(ssim_sum), n])
        n_all = total[2]
        ssim_mean = total[1] / n_all if with_ssim else math.nan
        out = {f"{name}_loss": total[0] / n_all, f"{name}_ssim": ssim_mean}
        if train:
            out.update(seconds=seconds, images_per_s=n_all / seconds)
            return out
        counts = dict.fromkeys(VAL_METRICS, n_all)  # images each figure is the mean over
        if frame:
            sums, scored = self.frames[name].collect()
            both = self.ddp.sum([*sums, *scored])
            k = len(FRAME_METRICS)
            for j, metric in enumerate(FRAME_METRICS):
                out[f"{name}_{metric}"] = both[j] / both[k + j] if both[k + j] else math.nan
                counts[metric] = both[k + j]
        else:
            for metric in FRAME_METRICS:
                counts[metric] = 0
        out[f"{name}_counts"] = counts
        return out

    def _read_losses(self, losses, sizes, read, step, name, epoch, bar, t0) -> int:
        """Read the losses of steps ``read`` to ``step`` from the device (the only wait inside
        an epoch): stop on a non-finite one, show the running figures, note a steps.csv row."""
        window = losses[read : step + 1].tolist()
        bad = [read + i for i, v in enumerate(window) if not math.isfinite(v)]
        if self.ddp.sum([float(len(bad))])[0]:  # every rank stops together
            where = f"{name} step {bad[0] + 1}" if bad else f"{name} (another process)"
            raise TrainingError(
                f"non-finite loss at epoch {epoch + 1}, {where}; stopped. The last good "
                f"checkpoint is {self.last if self.last.exists() else 'none yet'}"
            )
        n_window = sum(sizes[read : step + 1])
        mean = sum(v * b for v, b in zip(window, sizes[read : step + 1])) / n_window
        rate = sum(sizes) * self.ddp.world / (time.perf_counter() - t0)
        bar.set_postfix(loss=f"{mean:.4f}", img_s=f"{rate:.1f}")
        if name == "train":
            self.step_rows.append(
                {"epoch": epoch + 1, "step": step + 1, "images": sum(sizes), "train_loss": mean}
            )
        return step + 1

    def _frame_due(self, epoch: int) -> bool:
        """Whether validation is scored in evaluate's frame after ``epoch`` (0-based): every
        ``eval_every`` epochs, the first, the last and the checkpoint epochs."""
        every, e = self.cfg.eval_every, epoch + 1
        if not self.frames or not every:
            return False
        last = e == self.cfg.epochs
        return e % every == 0 or e == 1 or last or e in self.cfg.checkpoint_epochs

    def validate(self, epoch: int) -> dict:
        """Every validation set's metrics and, over their union, ``val_loss``, ``val_ssim`` (means
        over images) and, when due (see :meth:`_frame_due`), ``val_cc``, ``val_nss`` and
        ``val_kld`` (means over the images each could be computed for: NSS needs fixations)."""
        if not self.val_names:
            return {}
        frame = self._frame_due(epoch)
        rows = [self.run_epoch(name, epoch, frame=frame) for name in self.val_names]
        if self.val_names == ["val"]:
            rows[0].pop("val_counts")
            return rows[0]
        out, sums, counts = {}, dict.fromkeys(VAL_METRICS, 0.0), dict.fromkeys(VAL_METRICS, 0)
        for name, row in zip(self.val_names, rows):
            for m, n in row.pop(f"{name}_counts").items():
                if n:
                    sums[m] += row[f"{name}_{m}"] * n
                    counts[m] += n
            out.update(row)
        for m in VAL_METRICS:
            if counts[m]:
                out[f"val_{m}"] = sums[m] / counts[m]
            elif frame or m in ("loss", "ssim"):
                out[f"val_{m}"] = math.nan
        return out

    # -- bookkeeping ------------------------------------------------------------------------
    def _state(self, epoch: int) -> dict:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.opt.state_dict(),
            "scheduler": self.sched.state_dict(),
            "epoch": epoch,
            "best": self.best,
            "stale": self.stale,
            "rng": rng_state(),
            "config": self.cfg.to_dict(),
        }

    def _restore(self, state: dict):
        check_resumable(state["config"], self.cfg.to_dict(), self.last)
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.sched.load_state_dict(state["scheduler"])
        self.start_epoch, self.best, self.stale = state["epoch"], state["best"], state["stale"]
        set_rng_state(state["rng"])

    def _trim_log(self):
        """Drop rows of epochs after the checkpoint (logged just before a crash) from the CSVs."""
        for name, columns in (("metrics.csv", self.columns), ("steps.csv", STEP_COLUMNS)):
            path = self.out / name
            if not path.exists():
                continue
            with open(path, newline="") as f:
                rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= self.start_epoch]
            atomic_write_bytes(path, _csv_text(rows, columns))

    def _log(self, row: dict, writer, redraw: bool):
        _append_csv(self.out / "metrics.csv", [row], self.columns)
        _append_csv(self.out / "steps.csv", self.step_rows, STEP_COLUMNS)
        self.step_rows = []
        if redraw:
            plot_training_curves(self.out / "metrics.csv", self.out / "curves.png")
        if writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, float) and math.isfinite(v):
                    writer.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
            writer.flush()

    def _save(self, name: str):
        recipe = {k: v for k, v in self.cfg.to_dict().items() if k != "model"}
        recipe["data"]["format"] = self.formats
        recipe[leakage.KEY] = self.trained_images  # so evaluate knows them in any folder
        save_model(self.model, self.out / "models" / name, training=recipe)

    def fit(self) -> Path:
        cfg, ddp = self.cfg, self.ddp
        writer, self.step_rows, self.epochs_done = None, [], self.start_epoch
        if ddp.main:
            save_config(cfg, self.out / "config.yaml")
            self._trim_log()
            self._record_session(done=False)
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(str(self.out / "tb"))
        try:
            for epoch in range(self.start_epoch, cfg.epochs):
                row = {"epoch": epoch + 1, "lr": self.opt.param_groups[-1]["lr"]}
                row.update(self.run_epoch("train", epoch))
                with torch.no_grad():
                    row.update(self.validate(epoch))
                self.sched.step()
                monitored = row.get("val_loss", row["train_loss"])
                improved = monitored < self.best
                self.best, self.stale = (monitored, 0) if improved else (self.best, self.stale + 1)
                stop = bool(cfg.early_stopping and self.stale >= cfg.early_stopping)
                e = epoch + 1
                keep = e in cfg.checkpoint_epochs
                save = stop or keep or e == cfg.epochs or e % max(1, cfg.save_every) == 0
                if ddp.main:
                    self._log(row, writer, redraw=save)
                    if improved:
                        self._save("best")
                    if keep:
                        self._save(f"epoch_{e:03d}")
                    if save:
                        save_checkpoint(self.last, self._state(e))
                    self.epochs_done = e
                    tqdm.write(
                        " ".join(
                            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in row.items()
                        )
                    )
                ddp.barrier()
                if stop:
                    if ddp.main:
                        tqdm.write(f"early stop: no better validation loss for {self.stale} epochs")
                    break
            if ddp.main:
                self._save("final")
                plot_training_curves(self.out / "metrics.csv", self.out / "curves.png")
                self._record_session(done=True)
            self._check_ranks_agree()
        finally:
            if writer is not None:
                writer.close()
            for frame in self.frames.values():
                frame.close()
        if ddp.main and cfg.report:
            from salmap.report import write_report

            write_report(self.out)
        return self.out

    def _record_session(self, done: bool):
        """``run.json``: for each session of this run (a start, or a --resume), the hardware,
        the speed settings, the epochs and the wall time, for ``salmap report``."""
        path = self.out / "run.json"
        sessions = json.loads(path.read_text())["sessions"] if path.exists() else []
        now = time.time()
        if not done:
            sessions.append(
                {
                    "started": now,
                    "seconds": 0.0,
                    "from_epoch": self.start_epoch,
                    "to_epoch": self.start_epoch,
                    "hardware": hardware(self.ddp.device),
                    "processes": self.ddp.world,
                    "torch": torch.__version__,
                    "speed": dataclasses.asdict(self.speed)
                    | {k: type(v).__name__ for k, v in self.batches.items()},
                }
            )
        else:
            sessions[-1]["seconds"] = now - sessions[-1]["started"]
            sessions[-1]["to_epoch"] = self.epochs_done
        atomic_write_bytes(path, json.dumps({"sessions": sessions}, indent=1).encode())

    def _check_ranks_agree(self):
        """Under DDP, compare every rank's weight checksum (recorded in ddp_ranks.json): they must
        be identical, else the run fails."""
        if self.ddp.world == 1:
            return
        flat = torch.cat(
            [
                p.detach().double().flatten().cpu()
                for p in self.model.state_dict().values()
                if p.is_floating_point()
            ]
        )
        mine = torch.tensor(
            [flat.sum().item(), (flat * torch.arange(len(flat), dtype=torch.float64)).sum().item()],
            device=self.ddp.device,
            dtype=torch.float64,
        )
        gathered = [torch.zeros_like(mine) for _ in range(self.ddp.world)]
        dist.all_gather(gathered, mine)
        sums = [g.tolist() for g in gathered]
        if self.ddp.main:
            atomic_write_bytes(
                self.out / "ddp_ranks.json", json.dumps({"checksums": sums}).encode()
            )
        if any(s != sums[0] for s in sums):
            raise TrainingError(f"the ranks ended with different weights (checksums {sums})")


def train(cfg: TrainConfig, resume: bool = False) -> Path:
    """Train as ``cfg`` says; returns the run folder."""
    try:
        run = Trainer(cfg, resume).fit()
        if dist.is_initialized():
            dist.barrier()  # every rank done before any tears the group down (a teardown race)
        return run
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
