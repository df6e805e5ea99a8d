"""``salmap train``: the training loop, short enough to read in one sitting.

One command for one CPU, one GPU or many (launch with ``torchrun`` for several processes: the
gradients are averaged by DistributedDataParallel, gloo on CPU and NCCL on CUDA). Every epoch
logs train/validation loss and SSIM (and validation CC and NSS) to ``metrics.csv`` and
TensorBoard and redraws ``curves.png``; ``checkpoints/last.pt`` is replaced atomically at the end
of every epoch, so ``--resume`` continues from the last completed epoch with nothing lost or
repeated (shuffling and flips are seeded by epoch, so the resumed run matches an unbroken one).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import ConcatDataset, DataLoader, Dataset
from torch.utils.data.distributed import DistributedSampler
from torchmetrics.functional.image import structural_similarity_index_measure as ssim_fn
from tqdm import tqdm

from salmap.data import open_dataset
from salmap.data.cache import SampleCache, build_cache
from salmap.data.transforms import Normalize
from salmap.errors import SalmapError
from salmap.files import atomic_write_bytes
from salmap.losses import CombinedLoss, cc_per_map, nss_per_map
from salmap.models.io import save_model
from salmap.models.model import SaliencyModel
from salmap.train.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from salmap.train.config import DataConfig, TrainConfig, check_resumable, save_config
from salmap.train.features import FeatureSet, build_features, decode_features, first_level

COLUMNS = [
    "epoch",
    "train_loss",
    "train_ssim",
    "val_loss",
    "val_ssim",
    "val_cc",
    "val_nss",
    "lr",
    "seconds",
    "images_per_s",
]


class TrainingError(SalmapError):
    """Training cannot go on (e.g. the loss became NaN); the last good checkpoint is kept."""


class CachedSet(Dataset):
    """Samples from a :class:`SampleCache`: normalised image, target map, fixation map.

    Flips are drawn from a generator seeded by (seed, epoch, index), so they do not depend on
    worker processes or on where a run was resumed. Set :attr:`epoch` before each epoch.
    """

    def __init__(self, cache: SampleCache, normalize: Normalize, hflip: float = 0.0, seed: int = 0):
        self.cache, self.normalize, self.hflip, self.seed = cache, normalize, hflip, seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.cache)

    def __getitem__(self, i: int):
        image, target, fix = self.cache.images[i], self.cache.maps[i], self.cache.fixations[i]
        if self.hflip and np.random.default_rng([self.seed, self.epoch, i]).random() < self.hflip:
            image, target, fix = image[:, ::-1], target[:, ::-1], fix[:, ::-1]
        return (
            torch.from_numpy(self.normalize(image)),
            torch.from_numpy(np.ascontiguousarray(target, dtype=np.float32))[None],
            torch.from_numpy(np.ascontiguousarray(fix, dtype=np.float32))[None],
        )


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
        base = Path(ds.root).name if ds.format == "folder" else ds.format
        tag, k = base, 2
        while tag in datasets:
            tag, k = f"{base}-{k}", k + 1
        datasets[tag] = ds
    return datasets


def split_json(parts: dict) -> str:
    """The ids of each split: ``{"train": [...], "val": [...]}`` for one dataset; for several,
    the same with ids written ``<tag>/<id>``."""
    several = len(parts) > 1
    return json.dumps(
        {
            name: [f"{tag}/{i}" if several else i for tag, p in parts.items() for i in p[name].ids]
            for name in ("train", "val")
        },
        indent=1,
    )


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


def make_optimizer(model: SaliencyModel, cfg) -> torch.optim.Optimizer:
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
    if cfg.name == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.name in ("adam", "adamw"):
        opt = torch.optim.AdamW if cfg.name == "adamw" else torch.optim.Adam
        return opt(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise SalmapError(f"unknown optimiser {cfg.name!r}; valid: sgd, adam, adamw")


def make_scheduler(opt, cfg, epochs: int):
    if cfg.scheduler == "none":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0)
    if cfg.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    raise SalmapError(f"unknown scheduler {cfg.scheduler!r}; valid: none, cosine")


def ssim_of(maps: torch.Tensor, target: torch.Tensor, output: str) -> torch.Tensor:
    """Per-image SSIM (torchmetrics, data range 1) between activated maps and targets;
    softmax maps are first scaled to a maximum of 1 like the targets."""
    if output == "softmax":
        maps = maps / maps.amax(dim=(2, 3), keepdim=True).clamp_min(1e-12)
    return ssim_fn(maps.float(), target.float(), data_range=1.0, reduction="none")


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool = False):
        self.cfg, self.out = cfg, Path(cfg.out)
        self.ddp = setup_distributed(cfg.device)
        self.last = self.out / "checkpoints" / "last.pt"
        if not resume and self.last.exists():
            raise SalmapError(
                f"{self.out} already holds a run: pass --resume to continue it, or choose another --out"
            )
        if cfg.data.path is None:
            raise SalmapError("no dataset: pass --data PATH (or set data.path in the config)")
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        self.model = SaliencyModel(cfg.model).to(self.ddp.device)
        if cfg.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss = CombinedLoss(cfg.loss)
        self.loss.check_output(cfg.model.output)
        self.opt = make_optimizer(self.model, cfg.optim)
        self.sched = make_scheduler(self.opt, cfg.optim, cfg.epochs)
        self.bf16 = cfg.amp == "bf16" or (cfg.amp == "auto" and self.ddp.device.type == "cuda")
        self.start_epoch, self.best, self.stale = 0, math.inf, 0
        if resume:
            self._restore(load_checkpoint(self.last))
        self.net = self.model
        if self.ddp.world > 1:
            ids = [self.ddp.device.index] if self.ddp.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        self._data()

    # -- data -----------------------------------------------------------------------------
    def _data(self):
        """One training set (the union of every dataset's training split) and one validation
        set per dataset (``val``, or ``val_<tag>`` each when there are several)."""
        cfg, ddp = self.cfg, self.ddp
        datasets = open_sources(cfg.data)
        parts = {
            tag: {
                name: ds.split(name, cfg.data.val_fraction, cfg.data.split_seed)
                for name in ("train", "val")
            }
            for tag, ds in datasets.items()
        }
        if not any(len(p["train"]) for p in parts.values()):
            raise SalmapError(f"{cfg.data.path}: no training images")
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
        self.sets, self.samplers = {}, {}
        train_sets = [
            self._cached_set(f"{tag} train" if several else "train", p["train"], cfg.data.hflip)
            for tag, p in parts.items()
            if len(p["train"])
        ]
        self._add_set("train", train_sets[0] if len(train_sets) == 1 else UnionSet(train_sets))
        for tag, p in parts.items():
            if len(p["val"]) == 0:
                continue
            name = f"val_{tag}" if several else "val"
            self._add_set(name, self._cached_set(f"{tag} val" if several else "val", p["val"]))
            self.val_names.append(name)
            if several:
                self.columns += [f"{name}_{m}" for m in ("loss", "ssim", "cc", "nss")]

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
        self.sets[name] = data
        self.samplers[name] = DistributedSampler(
            data,
            self.ddp.world,
            self.ddp.rank,
            shuffle=name == "train",
            seed=self.cfg.seed,
            drop_last=False,
        )

    def _forward(self, x) -> torch.Tensor:
        """Logits of a batch of images, or of their encoder features (a list, one per level)."""
        if isinstance(x, list):
            return decode_features(self.model, x, first_level(self.model))
        return self.net(x)

    def _loader(self, name: str, epoch: int) -> DataLoader:
        self.sets[name].epoch = epoch
        self.samplers[name].set_epoch(epoch)
        workers = self.cfg.data.workers
        return DataLoader(
            self.sets[name],
            batch_size=self.cfg.batch_size,
            sampler=self.samplers[name],
            num_workers=workers,
            pin_memory=self.ddp.device.type == "cuda",
            persistent_workers=False,
            prefetch_factor=4 if workers else None,
        )

    def _bar(self, desc, unit="img"):
        return lambda it, total=None: tqdm(
            it, total=total, desc=desc, unit=unit, leave=False, disable=not self.ddp.main
        )

    # -- one pass ---------------------------------------------------------------------------
    def _autocast(self):
        if self.bf16:
            return torch.autocast(self.ddp.device.type, dtype=torch.bfloat16)
        return nullcontext()

    def run_epoch(self, name: str, epoch: int) -> dict:
        train = name == "train"
        self.net.train(train)
        if self.cfg.optim.encoder_lr == 0:
            self.model.encoder.eval()  # a frozen encoder keeps its BatchNorm statistics
        sums = np.zeros(5)  # loss * n, ssim sum, cc sum, nss sum, nss count
        n, t0 = 0, time.perf_counter()
        bar = tqdm(
            self._loader(name, epoch),
            desc=f"epoch {epoch + 1}/{self.cfg.epochs} {name}",
            unit="batch",
            leave=False,
            disable=not self.ddp.main,
        )
        for step, (x, target, fix) in enumerate(bar):
            target, fix = (t.to(self.ddp.device, non_blocking=True) for t in (target, fix))
            if isinstance(x, list):  # encoder features
                x = [t.to(self.ddp.device, non_blocking=True) for t in x]
            else:
                x = x.to(self.ddp.device, non_blocking=True)
                if self.cfg.channels_last:
                    x = x.to(memory_format=torch.channels_last)
            with torch.set_grad_enabled(train), self._autocast():
                logits = self._forward(x)
            loss, _ = self.loss(logits, target, fix)
            bad = self.ddp.sum([float(not torch.isfinite(loss))])[0]  # every rank stops together
            if bad:
                raise TrainingError(
                    f"non-finite loss ({loss.item()}) at epoch {epoch + 1}, {name} step {step + 1}; "
                    f"stopped. The last good checkpoint is {self.last if self.last.exists() else 'none yet'}"
                )
            if train:
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                self.opt.step()
            with torch.no_grad():
                maps = self.model.activate(logits.detach().float())
                b = target.shape[0]
                sums[0] += loss.item() * b
                sums[1] += ssim_of(maps, target, self.cfg.model.output).sum().item()
                if not train:
                    sums[2] += cc_per_map(maps, target).sum().item()
                    nss = nss_per_map(maps, fix)
                    sums[3] += nss.nan_to_num(0.0).sum().item()
                    sums[4] += (~nss.isnan()).sum().item()
            n += b
            rate = n * self.ddp.world / (time.perf_counter() - t0)
            bar.set_postfix(loss=f"{sums[0] / n:.4f}", img_s=f"{rate:.1f}")
        total = self.ddp.sum([*sums, n])
        n_all, seconds = total[5], time.perf_counter() - t0
        out = {f"{name}_loss": total[0] / n_all, f"{name}_ssim": total[1] / n_all}
        if not train:
            out[f"{name}_cc"] = total[2] / n_all
            out[f"{name}_nss"] = total[3] / max(total[4], 1)
            out[f"{name}_counts"] = (n_all, total[4])  # images, images with fixations
        else:
            out.update(seconds=seconds, images_per_s=n_all / seconds)
        return out

    def validate(self, epoch: int) -> dict:
        """Every validation set's metrics and, over their union, ``val_loss``, ``val_ssim``,
        ``val_cc`` and ``val_nss`` (means over images; NSS over images with fixations)."""
        rows = [self.run_epoch(name, epoch) for name in self.val_names]
        if self.val_names == ["val"]:
            rows[0].pop("val_counts")
            return rows[0]
        out, sums, counts = {}, dict.fromkeys(("loss", "ssim", "cc", "nss"), 0.0), [0, 0]
        for name, row in zip(self.val_names, rows):
            n, n_fix = row.pop(f"{name}_counts")
            for m in sums:
                sums[m] += row[f"{name}_{m}"] * (n_fix if m == "nss" else n)
            counts = [counts[0] + n, counts[1] + n_fix]
            out.update(row)
        if counts[0]:
            for m, v in sums.items():
                out[f"val_{m}"] = v / max(counts[1] if m == "nss" else counts[0], 1)
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
        """Drop rows of epochs after the checkpoint (logged just before a crash) from the CSV."""
        path = self.out / "metrics.csv"
        if not path.exists():
            return
        with open(path, newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) <= self.start_epoch]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.columns, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
        atomic_write_bytes(path, buf.getvalue().encode())

    def _log(self, row: dict, writer):
        path = self.out / "metrics.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=self.columns, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        from salmap.viz import plot_training_curves

        plot_training_curves(path, self.out / "curves.png")
        if writer is not None:
            for k, v in row.items():
                if k != "epoch" and isinstance(v, float):
                    writer.add_scalar(k.replace("_", "/", 1), v, row["epoch"])
            writer.flush()

    def _save(self, name: str):
        recipe = {k: v for k, v in self.cfg.to_dict().items() if k != "model"}
        save_model(self.model, self.out / "models" / name, training=recipe)

    def fit(self) -> Path:
        cfg, ddp = self.cfg, self.ddp
        writer = None
        if ddp.main:
            save_config(cfg, self.out / "config.yaml")
            self._trim_log()
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
                if ddp.main:
                    self._log(row, writer)
                    if improved:
                        self._save("best")
                    if epoch + 1 in cfg.checkpoint_epochs:
                        self._save(f"epoch_{epoch + 1:03d}")
                    save_checkpoint(self.last, self._state(epoch + 1))
                    tqdm.write(
                        " ".join(
                            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in row.items()
                        )
                    )
                ddp.barrier()
                if cfg.early_stopping and self.stale >= cfg.early_stopping:
                    if ddp.main:
                        tqdm.write(f"early stop: no better validation loss for {self.stale} epochs")
                    break
            if ddp.main:
                self._save("final")
            self._check_ranks_agree()
        finally:
            if writer is not None:
                writer.close()
        return self.out

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
        return Trainer(cfg, resume).fit()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
