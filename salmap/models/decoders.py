"""Decoders: from an encoder's feature pyramid to a one-channel logit map.

A decoder is built from the encoder's ``out_channels`` and ``reductions`` (finest first) and
returns B x 1 x h x w logits at ``input / output_stride``; the head brings them to the input size.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from salmap.errors import SalmapError


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SeedDecoder(nn.Module):
    """The seed's plain upsampling decoder, layer for layer as its Keras reference has it.

    From the last feature only: four times [nearest x2, two (3x3 conv, BatchNorm, ReLU)] with
    1024, 512, 256, 128 channels; then nearest x2, 3x3 conv 64 + ReLU twice, and a 3x3 conv to one
    channel (the sigmoid is the model's output activation). Brings stride 32 to full size.
    ``widths`` scales it down for tests.
    """

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        widths: Sequence[int] = (1024, 512, 256, 128, 64),
    ):
        super().__init__()
        self.output_stride = encoder_reductions[-1] // 2 ** len(widths)
        if (
            self.output_stride < 1
            or self.output_stride * 2 ** len(widths) != encoder_reductions[-1]
        ):
            raise SalmapError(
                f"the seed decoder's {len(widths)} upsamplings do not fit the encoder's stride "
                f"{encoder_reductions[-1]}: give it log2(stride) widths"
            )
        layers: list[nn.Module] = []
        cin = encoder_channels[-1]
        for w in widths[:-1]:
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                conv_bn_relu(cin, w),
                conv_bn_relu(w, w),
            ]
            cin = w
        last = widths[-1]
        layers += [
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(cin, last, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(last, last, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(last, 1, 3, padding=1),
        ]
        self.layers = nn.Sequential(*layers)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        return self.layers(features[-1])


class UNetDecoder(nn.Module):
    """U-Net decoder: from the coarsest feature up to stride 4, at each step upsampling
    (bilinear x2), concatenating the encoder feature of that stride and applying two
    conv-BN-ReLU blocks; a 1x1 conv gives the logits at stride 4."""

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        widths: Sequence[int] = (256, 128, 64),
    ):
        super().__init__()
        self.output_stride = encoder_reductions[1]
        chans = list(encoder_channels)[1:]  # strides 4, 8, 16, 32
        if len(widths) != len(chans) - 1:
            raise SalmapError(f"unet decoder needs {len(chans) - 1} widths, got {list(widths)}")
        self.blocks = nn.ModuleList()
        cin = chans[-1]
        for skip, w in zip(reversed(chans[:-1]), widths):
            self.blocks.append(nn.Sequential(conv_bn_relu(cin + skip, w), conv_bn_relu(w, w)))
            cin = w
        self.out = nn.Conv2d(cin, 1, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        feats = features[1:]
        x = feats[-1]
        for block, skip in zip(self.blocks, reversed(feats[:-1])):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = block(torch.cat([x, skip], dim=1))
        return self.out(x)


class FPNDecoder(nn.Module):
    """A light multi-scale readout: each feature of stride 4 to 32 is projected to ``width``
    channels by a 1x1 conv, upsampled to stride 4 and summed; two 3x3 conv blocks (the second
    dilated, for context) and a 1x1 conv give the logits at stride 4."""

    def __init__(
        self, encoder_channels: Sequence[int], encoder_reductions: Sequence[int], width: int = 64
    ):
        super().__init__()
        self.output_stride = encoder_reductions[1]
        self.lateral = nn.ModuleList(nn.Conv2d(c, width, 1) for c in list(encoder_channels)[1:])
        self.smooth = nn.Sequential(
            conv_bn_relu(width, width),
            nn.Conv2d(width, width, 3, padding=2, dilation=2, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(inplace=True),
        )
        self.out = nn.Conv2d(width, 1, 1)

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        feats = features[1:]
        size = feats[0].shape[-2:]
        x = sum(
            F.interpolate(lat(f), size=size, mode="bilinear", align_corners=False) if i else lat(f)
            for i, (lat, f) in enumerate(zip(self.lateral, feats))
        )
        return self.out(self.smooth(x))


class ReadoutDecoder(nn.Module):
    """A DeepGaze-style readout with few parameters, for small datasets: the features of
    strides 8, 16 and 32 are upsampled to stride 8, concatenated and mapped to logits by 1x1
    convolutions only (``widths`` channels each, Softplus between). The pretrained encoder
    does the seeing; the readout only learns which of its features attract the eye."""

    first_feature = 2  # the encoder levels it reads: strides 8, 16, 32 (not 2 and 4)

    def __init__(
        self,
        encoder_channels: Sequence[int],
        encoder_reductions: Sequence[int],
        widths: Sequence[int] = (16, 32, 2),
        dropout: float = 0.0,
    ):
        super().__init__()
        self.output_stride = encoder_reductions[self.first_feature]
        self.channels = list(encoder_channels)[self.first_feature :]
        layers: list[nn.Module] = [nn.Dropout2d(dropout)] if dropout else []
        cin = sum(self.channels)
        for w in widths:
            layers += [nn.Conv2d(cin, w, 1), nn.Softplus()]
            cin = w
        layers.append(nn.Conv2d(cin, 1, 1))
        self.readout = nn.Sequential(*layers)
        self.first_conv = 1 if dropout else 0  # the index of the first convolution

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        # The first 1x1 convolution, channel dropout and bilinear upsampling are all linear per
        # pixel or per channel (and bilinear weights sum to 1), so they commute: each level is
        # convolved at its own resolution and only the narrow result is upsampled. The same
        # function as upsampling and concatenating every channel first, 3-4x faster.
        feats = features[self.first_feature :]
        size = feats[0].shape[-2:]
        drop = self.readout[0] if self.first_conv else nn.Identity()
        conv = self.readout[self.first_conv]
        weights = conv.weight.split(self.channels, dim=1)
        x = F.conv2d(drop(feats[0]), weights[0], conv.bias)
        for f, w in zip(feats[1:], weights[1:]):
            y = F.conv2d(drop(f), w)
            x = x + F.interpolate(y, size=size, mode="bilinear", align_corners=False)
        return self.readout[self.first_conv + 1 :](x)


DECODERS: dict[str, Callable[..., nn.Module]] = {
    "seed": SeedDecoder,
    "unet": UNetDecoder,
    "fpn": FPNDecoder,
    "readout": ReadoutDecoder,
}


def create_decoder(
    name: str, encoder_channels: Sequence[int], encoder_reductions: Sequence[int], **kwargs
) -> nn.Module:
    from salmap.plugins import extend

    if name not in extend("salmap.decoders", DECODERS):
        raise SalmapError(f"unknown decoder {name!r}; valid: {', '.join(sorted(DECODERS))}")
    try:
        return DECODERS[name](encoder_channels, encoder_reductions, **kwargs)
    except TypeError as e:  # a misspelt decoder_args key
        raise SalmapError(f"decoder {name!r}: {e}") from None
