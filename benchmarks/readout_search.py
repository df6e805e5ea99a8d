"""Search readout designs for the default model, fast, without touching the validation split.

With a frozen encoder the features of every training image (and its mirror image) can be
computed once; a readout then trains in seconds per epoch. The 400 NUS-Scene training images
are split again 80/20 (seed 1) into an inner training and an inner validation set; the real
validation split is not read. Each variant is scored on the inner validation set (NSS, CC,
AUC-Judd on the image's own region of the padded 512 x 512 input).

    python benchmarks/readout_search.py --data ../shared/datasets/nus-scene [--encoder 0]

This is how the NUS-Scene reader's coordinate error was found: with the fixations read as the
copy's README says, no readout beat a learned centre bias alone (inner validation NSS: centre
bias 1.17; readout "D" 1.14 at best, "norm" 1.15, "norm, ll" 1.17, "norm, linear" 1.16,
"energy, [4]" 1.18; adding the 1280-channel head features 1.10). Read as (row, column), one run
on 2 CPU cores, 10 epochs: centre bias only NSS 1.147 / CC 0.480 / AUC-Judd 0.785; "D" NSS 1.811
/ CC 0.680 / AUC-Judd 0.855.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch import nn

from salmap.data import open_dataset
from salmap.data.cache import build_cache
from salmap.data.transforms import Normalize, fit
from salmap.losses import CombinedLoss
from salmap.metrics import auc_judd, cc, nss
from salmap.models.decoders import ReadoutDecoder
from salmap.models.encoders import efficientnet_lite_classifier
from salmap.models.heads import SaliencyHead

SIZE = (512, 512)


class Features(nn.Module):
    """Block outputs of strides 8, 16, 32 and the 1280-channel head of an EfficientNet-Lite."""

    def __init__(self, n: int):
        super().__init__()
        self.net = efficientnet_lite_classifier(n).eval()
        self.stages = {2: None, 4: None, 6: None}

    @torch.no_grad()
    def forward(self, x):
        m, out = self.net, []
        x = m.bn1(m.conv_stem(x))
        for i, block in enumerate(m.blocks):
            x = block(x)
            if i in self.stages:
                out.append(x)
        out.append(m.bn2(m.conv_head(x)))
        return out


def extract(cache, normalize, feats, flip: bool):
    rows = [[] for _ in range(4)]
    for i in range(len(cache)):
        img = np.asarray(cache.images[i])
        if flip:
            img = img[:, ::-1]
        x = torch.from_numpy(normalize(np.ascontiguousarray(img)))[None]
        for r, f in zip(rows, feats(x)):
            r.append(f[0].half())
    return [torch.stack(r) for r in rows]


class Energy(nn.Module):
    """A few learned weights on each stage's activation energy (log mean square over channels,
    z-scored over the image): too few parameters to overfit 320 images."""

    def __init__(self, chans, widths, norm: bool, dropout: float):
        super().__init__()
        # one map per stage; the decoder upsamples them to the first one's size and reads out
        self.decoder = ReadoutDecoder([0, 0, *([1] * len(chans))], [2, 4, 8], widths, dropout)

    def forward(self, feats):
        maps = []
        for f in feats:
            e = torch.log(f.pow(2).mean(1, keepdim=True) + 1e-6)
            maps.append(
                (e - e.mean((2, 3), keepdim=True)) / e.std((2, 3), keepdim=True).clamp_min(1e-5)
            )
        return self.decoder([None, None, *maps])


class Readout(nn.Module):
    """salmap's readout decoder, optionally on features normalised per stage (GroupNorm with
    one group: each stage's map to zero mean, unit variance), or nothing (widths None)."""

    def __init__(self, chans, widths, norm: bool, dropout: float):
        super().__init__()
        self.zero = widths is None  # centre bias and nothing else
        self.norms = nn.ModuleList(
            [nn.GroupNorm(1, c, affine=False) if norm else nn.Identity() for c in chans]
        )
        # the decoder reads the stages from the third on (strides 8, 16, 32, ...)
        reductions = [2, 4] + [8 * 2**i for i in range(len(chans))]
        self.decoder = ReadoutDecoder([0, 0, *chans], reductions, widths or [], dropout)

    def forward(self, feats):
        if self.zero:
            return feats[0][:, :1] * 0.0
        return self.decoder([None, None, *(n(f) for n, f in zip(self.norms, feats))])


def ll_loss(logits, target, fix):
    """Negative log-likelihood of the fixations under the softmax map (DeepGaze's loss)."""
    logp = torch.log_softmax(logits.float().flatten(1), 1)
    f = fix.float().flatten(1)
    return -((logp * f).sum(1) / f.sum(1).clamp_min(1)).mean()


def combined(weights):
    loss = CombinedLoss(weights)
    return lambda logits, target, fix: loss(logits, target, fix)[0]


LOSSES = {
    "kld-cc-nss": combined({"kld": 1, "cc": -0.1, "nss": -0.1}),  # the default model's loss
    "kld": combined({"kld": 1}),
    "ll": ll_loss,
}


def score(model, head, feats, cache, geoms):
    model.eval()
    out = {"nss": [], "cc": [], "auc": []}
    with torch.no_grad():
        for i in range(len(cache)):
            logits = head(model([f[i : i + 1].float() for f in feats]))
            p = torch.softmax(logits.flatten(), 0).view(SIZE).numpy()
            g = geoms[i]
            (ox, oy), (ch, cw) = g.offset, g.content
            p = p[oy : oy + ch, ox : ox + cw]
            fix = np.asarray(cache.fixations[i])[oy : oy + ch, ox : ox + cw]
            dens = np.asarray(cache.maps[i], dtype=np.float32)[oy : oy + ch, ox : ox + cw]
            out["nss"].append(nss(p, fix))
            out["cc"].append(cc(p, dens))
            out["auc"].append(auc_judd(p, fix))
    return {k: float(np.mean(v)) for k, v in out.items()}


def run(variant, data, epochs, seed=0):
    torch.manual_seed(seed)
    stages = variant["stages"]
    tr, trf, va = data["train"], data["train_flip"], data["val"]
    pick = lambda fs: [fs[s] for s in stages]  # noqa: E731
    chans = [tr[s].shape[1] for s in stages]
    model = (Energy if variant.get("energy") else Readout)(
        chans, variant["widths"], variant["norm"], variant["dropout"]
    )
    head = SaliencyHead((64, 64), SIZE, blur=True, centre_bias=True)
    params = list(model.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=variant["lr"], weight_decay=variant["wd"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = LOSSES[variant["loss"]]
    n = tr[0].shape[0]
    targets = torch.from_numpy(np.asarray(data["cache_train"].maps, dtype=np.float32))[:, None]
    fixes = torch.from_numpy(np.asarray(data["cache_train"].fixations, dtype=np.float32))[:, None]
    history = []
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        model.train()
        head.train()
        order = torch.randperm(n, generator=g)
        flips = torch.rand(n, generator=g) < 0.5
        for b in range(0, n, variant["batch"]):
            idx = order[b : b + variant["batch"]]
            fl = flips[idx]
            fs = [
                torch.where(fl.view(-1, 1, 1, 1), a[idx], o[idx]).float()
                for a, o in zip(pick(trf), pick(tr))
            ]
            t, f = targets[idx], fixes[idx]
            t = torch.where(fl.view(-1, 1, 1, 1), t.flip(-1), t)
            f = torch.where(fl.view(-1, 1, 1, 1), f.flip(-1), f)
            loss = loss_fn(head(model(fs)), t, f)
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
        if (epoch + 1) % variant.get("every", 2) == 0 or epoch + 1 == epochs:
            head.eval()
            s = score(model, head, pick(va), data["cache_val"], data["geoms_val"])
            history.append((epoch + 1, s))
    return history


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--encoder", type=int, default=0, help="EfficientNet-Lite number")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--only", nargs="*", help="names of the variants to run (default: all)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = open_dataset(args.data, "nus-scene")
    train = ds.split("train")
    inner = {"train": train.split("train", 0.2, 1), "val": train.split("val", 0.2, 1)}
    feats = Features(args.encoder)
    normalize = Normalize((0.5,) * 3, (0.5,) * 3)
    data = {}
    t0 = time.perf_counter()
    for name, part in inner.items():
        cache = build_cache(part, SIZE, "pad")
        data[f"cache_{name}"] = cache
        data[name] = extract(cache, normalize, feats, False)
        if name == "train":
            data["train_flip"] = extract(cache, normalize, feats, True)
    data["geoms_val"] = [
        fit(inner["val"].image_size(i), SIZE, "pad") for i in range(len(inner["val"]))
    ]
    print(
        f"features of {len(inner['train'])}+{len(inner['val'])} images: {time.perf_counter() - t0:.0f} s"
    )

    base = dict(
        stages=[0, 1, 2],
        widths=[16, 32, 2],
        norm=False,
        dropout=0.1,
        lr=3e-3,
        wd=1e-4,
        loss="kld-cc-nss",
        batch=8,
    )
    variants = {
        "centre bias only": dict(widths=None),
        "D (as shipped)": {},
        "norm": dict(norm=True),
        "norm, ll": dict(norm=True, loss="ll"),
        "norm, linear": dict(norm=True, widths=[]),
        "energy, [4]": dict(energy=True, widths=[4], stages=[0, 1, 2, 3]),
    }
    if args.only:
        variants = {k: v for k, v in variants.items() if k in args.only}
    for name, v in variants.items():
        t0 = time.perf_counter()
        hist = run({**base, **v}, data, args.epochs)
        line = "  ".join(
            f"e{e}: nss {s['nss']:.3f} cc {s['cc']:.3f} auc {s['auc']:.3f}" for e, s in hist
        )
        print(f"{name:22s} {time.perf_counter() - t0:5.0f} s  {line}", flush=True)


if __name__ == "__main__":
    main()
