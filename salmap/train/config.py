"""Training configuration: plain dataclasses, loaded from YAML, overridden from the command line."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from salmap.data.fixations import DENSITY_SIGMA
from salmap.errors import SalmapError
from salmap.models.config import ModelConfig


@dataclass
class DataConfig:
    path: str | None = None  # dataset folder (required to train)
    format: str | None = None  # guessed from the layout when None
    val_fraction: float = 0.2
    split_seed: int = 0
    sigma: float = DENSITY_SIGMA  # density blur, fraction of the longer side
    hflip: float = 0.5  # probability of a horizontal flip (the only augmentation that is safe)
    cache_dir: str | None = None  # decoded-sample cache; default ~/.cache/salmap
    workers: int = 2  # DataLoader worker processes


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
    amp: str = "auto"  # auto (bf16 on CUDA) | bf16 | none
    channels_last: bool = False
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
