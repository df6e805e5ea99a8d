"""Training configuration: plain dataclasses, loaded from YAML, overridden from the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from salmap.data.base import SPLIT_SEED, VAL_FRACTION
from salmap.data.fixations import DENSITY_SIGMA
from salmap.errors import SalmapError
from salmap.models.config import ModelConfig


@dataclass
class DataConfig:
    # dataset folder, or a list of them to train on their union (required to train)
    path: str | list[str] | None = None
    # guessed from each folder's layout when None; one name for all folders, or one per folder
    format: str | list[str | None] | None = None
    val_fraction: float = VAL_FRACTION
    split_seed: int = SPLIT_SEED
    sigma: float = DENSITY_SIGMA  # density blur, fraction of the longer side
    hflip: float = 0.5  # probability of a horizontal flip (the only augmentation that is safe)
    cache_dir: str | None = None  # decoded-sample cache; default ~/.cache/salmap
    workers: int = 2  # DataLoader worker processes
    # with a frozen encoder, compute its features once per image (and mirror image) into the
    # decoded cache and train the rest from them
    cache_features: bool = True
    # how many times each epoch sees each folder's training images: one number for all, or one
    # per folder (a small set beside large ones, as configs/design.yaml does)
    repeat: int | list[int] = 1

    def sources(self) -> list[tuple[str, str | None]]:
        """(folder, format or None) of every dataset to train on, in order."""
        paths = [self.path] if isinstance(self.path, str) else list(self.path or [])
        formats = self.format if isinstance(self.format, list) else [self.format] * len(paths)
        if len(formats) != len(paths):
            raise SalmapError(
                f"data.format lists {len(formats)} formats for {len(paths)} data.path folders: "
                "give one format per folder, a single format for all, or none (guessed)"
            )
        return [(str(p), f) for p, f in zip(paths, formats)]

    def repeats(self) -> list[int]:
        """How many times each epoch sees each folder's training images, in order."""
        n = len(self.sources())
        counts = self.repeat if isinstance(self.repeat, list) else [self.repeat] * n
        if len(counts) != n or not all(type(k) is int and k >= 1 for k in counts):
            raise SalmapError(
                f"data.repeat should be a whole number >= 1, or one per data.path folder "
                f"({n}), got {self.repeat!r}"
            )
        return counts


@dataclass
class OptimConfig:
    name: str = "sgd"  # sgd | adam | adamw
    lr: float = 1e-4
    momentum: float = 0.0
    weight_decay: float = 0.0
    encoder_lr: float | None = None  # None: same as lr; 0 freezes the encoder
    scheduler: str = "none"  # none | cosine


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: dict = field(default_factory=lambda: {"bce": 1.0})
    epochs: int = 200
    batch_size: int = 4
    checkpoint_epochs: list = field(default_factory=lambda: [50, 100, 200])
    early_stopping: int | None = None  # stop after this many epochs without a better val loss
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # How fast a step runs (none of these changes the model or the optimiser's semantics):
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | none
    channels_last: bool | str = "auto"  # auto: on CUDA
    data_on_device: bool | str = "auto"  # hold the decoded split there (auto: on a GPU it fits)
    fused_optimizer: bool | str = "auto"  # auto: on CUDA; one fused kernel per optimiser step
    compile: str = "none"  # none | default | reduce-overhead | max-autotune (torch.compile)
    log_every: int = 50  # steps between host reads of the running loss (and steps.csv rows)
    # the training split's SSIM at every step (the seed's metric; on a CPU with cached
    # features it costs more than the step): false leaves train_ssim empty
    train_ssim: bool = True
    # Validation CC, NSS and KLD as `salmap evaluate` computes them (original resolution),
    # every this many epochs (0: never) and at the last and checkpoint epochs.
    eval_every: int = 1
    eval_longer_side: int | None = None  # evaluate's --longer-side; None: original resolution
    save_every: int = 1  # epochs between checkpoints/last.pt (and curves.png) updates
    report: bool = False  # write RUN/report/ (salmap report) when the run ends
    out: str = "runs/train"

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        return d


SECTIONS = {"model": ModelConfig, "data": DataConfig, "optim": OptimConfig}


def _build(cls, values: dict, what: str):
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(values) - names
    if unknown:
        raise SalmapError(
            f"unknown {what}: {', '.join(sorted(unknown))} (valid: {', '.join(sorted(names))})"
        )
    return cls(**values)


def from_dict(d: dict) -> TrainConfig:
    sections = {
        k: _build(SECTIONS[k], dict(v or {}), f"{k} settings") if k in SECTIONS else v
        for k, v in dict(d or {}).items()
    }
    return _build(TrainConfig, sections, "config keys")


def load_config(path: str | Path | None, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config and apply ``key.sub=value`` overrides (values parsed as YAML)."""
    d = {}
    if path is not None:
        path = Path(path)
        try:
            d = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise SalmapError(f"{path}: cannot read the config ({e})") from None
    for item in overrides:
        if "=" not in item:
            raise SalmapError(f"override {item!r} must look like key=value, e.g. optim.lr=0.001")
        key, raw = item.split("=", 1)
        node = d
        *parents, leaf = key.strip().split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise SalmapError(f"override {item!r}: {p} is not a section")
        node[leaf] = yaml.safe_load(raw)
    return from_dict(d)


def save_config(config: TrainConfig, path: Path) -> None:
    from salmap.files import atomic_write_bytes

    atomic_write_bytes(path, yaml.safe_dump(config.to_dict(), sort_keys=False).encode())


# What may differ when a run is resumed: where things are and how long it goes on.
RESUMABLE_CHANGES = (
    "out",
    "device",
    "epochs",
    "data.path",
    "data.workers",
    "data.cache_dir",
    "data.cache_features",  # the same training either way (up to the features' float16 rounding)
    "channels_last",
    "data_on_device",
    "fused_optimizer",
    "compile",
    "log_every",
    "train_ssim",
    "eval_every",
    "save_every",
    "report",
)


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k not in ("loss", "decoder_args"):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def check_resumable(saved: dict, current: dict, checkpoint) -> None:
    """Refuse to resume a run with settings other than those it was started with (except
    :data:`RESUMABLE_CHANGES`), or a cosine schedule with another length."""
    a, b = _flatten(saved), _flatten(current)
    ignore = set(RESUMABLE_CHANGES) | {"model.mean", "model.std"}
    changed = sorted(k for k in a.keys() | b.keys() if k not in ignore and a.get(k) != b.get(k))
    if a.get("optim.scheduler") != "none" and a.get("epochs") != b.get("epochs"):
        changed.append("epochs (with a learning-rate schedule)")
    if changed:
        diff = ", ".join(
            f"{k}: {a.get(k)!r} -> {b.get(k)!r}" if " " not in k else k for k in changed
        )
        raise SalmapError(
            f"{checkpoint} was trained with other settings ({diff}); resume with the run's own "
            "config (salmap train --out RUN --resume), or start a new run"
        )


def resume_config(run: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """The config of the run in folder ``run`` with ``overrides`` applied (see check_resumable)."""
    path = Path(run) / "config.yaml"
    if not path.is_file():
        raise SalmapError(f"{run}: no config.yaml, so no run to resume there")
    return load_config(path, overrides)
