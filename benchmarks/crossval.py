"""5-fold cross-validation inside the training splits: which data, backbone, ensemble and
prediction-time flip averaging to ship. The validation splits are never read.

Every training image of NUS-Scene (400) and OSIE (560) is assigned to one of 5 folds
(:func:`salmap.data.fold_indices`, stratified like the split, seed 1). For each fold the readout
and head of configs/default.yaml (frozen encoder) are trained on the other four folds, from the
encoder features computed once into the decoded cache (:mod:`salmap.train.features`; the same
path `salmap train` takes), and scored on the held-out fold of each data set in the 512 x 512
padded input frame, on the image's own region: NSS and information gain over the centre
Gaussian at the fixated pixels, CC and KLD against the fixation density. A model trained on
NUS-Scene alone is scored on OSIE's held-out folds too (images it never saw, from another lab).

    nice python benchmarks/crossval.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie [--encoders 0 1] [--epochs 10] [--folds 5] [--limit N]

Prints one row per configuration and data set: the mean over the folds and, after +-, the
standard deviation of the 5 fold means.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
from torch.utils.data import ConcatDataset, DataLoader, Subset
from tqdm import tqdm

from salmap import metrics as M
from salmap.baselines import centre_gaussian
from salmap.data import fold_indices, open_dataset
from salmap.data.cache import build_cache
from salmap.data.transforms import Normalize, fit
from salmap.losses import CombinedLoss
from salmap.models.model import SaliencyModel
from salmap.train import load_config
from salmap.train.features import FeatureSet, build_features, decode_features, first_level
from salmap.train.loop import make_optimizer, make_scheduler

METRICS = ("nss", "cc", "kld", "ig")


def prepare(cfg, datasets: dict, encoder: str, k: int, limit: int | None = None) -> dict:
    """Per data set: the decoded cache of its training split, the encoder's features of every
    image and its mirror image, each image's region in the padded frame, and its fold."""
    mcfg = dataclasses.replace(cfg.model, encoder=encoder)
    model = SaliencyModel(mcfg)
    normalize = Normalize.from_config(model.config)
    out = {}
    for tag, ds in datasets.items():
        part = ds.split("train")
        if limit:  # every n-th image, for a quicker, noisier comparison
            part = part.subset(range(0, len(part), max(1, len(part) // limit))[:limit])
        cache = build_cache(part, mcfg.input_size, mcfg.aspect, workers=2)
        t0 = time.perf_counter()
        feats = build_features(
            model,
            cache,
            normalize,
            flips=2,
            progress=lambda it, total, desc=f"{encoder} {tag}": tqdm(
                it, total=total, desc=desc, leave=False
            ),
        )
        print(
            f"  {encoder} features of {tag} ({len(part)} images x 2): {time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        out[tag] = {
            "cache": cache,
            "feats": feats,
            "geoms": [
                fit(part.image_size(i), mcfg.input_size, mcfg.aspect) for i in range(len(part))
            ],
            "folds": np.array(fold_indices(part.ids, part.categories, k, seed=1)),
        }
    return {"config": mcfg, "first": first_level(model), "data": out}


def train_readout(cfg, prep: dict, tags, fold: int, epochs: int) -> SaliencyModel:
    """The recipe's readout and head trained on every fold but ``fold`` of the ``tags`` sets."""
    torch.manual_seed(cfg.seed)
    model = SaliencyModel(dataclasses.replace(prep["config"], encoder_weights=None))
    model.encoder.eval()
    sets = []
    for tag in tags:
        d = prep["data"][tag]
        full = FeatureSet(d["cache"], d["feats"], prep["first"], cfg.data.hflip, cfg.seed)
        sets.append((full, Subset(full, np.flatnonzero(d["folds"] != fold).tolist())))
    data = ConcatDataset([s for _, s in sets])
    opt = make_optimizer(model, cfg.optim)
    sched = make_scheduler(opt, cfg.optim, epochs)
    loss_fn = CombinedLoss(cfg.loss)
    for epoch in range(epochs):
        for full, _ in sets:
            full.epoch = epoch
        model.decoder.train()
        model.head.train()
        loader = DataLoader(
            data,
            batch_size=cfg.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(epoch),
        )
        for feats, target, fix in loader:
            loss, _ = loss_fn(decode_features(model, feats, prep["first"]), target, fix)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def predict(model: SaliencyModel, prep: dict, tag: str, i: int, flip_average: bool) -> np.ndarray:
    """The model's density of training image ``i`` of ``tag`` in the padded frame (sums to 1);
    with ``flip_average`` the mean of it and the mirrored prediction of the mirror image."""
    feats = prep["data"][tag]["feats"]
    maps = []
    for f in (0, 1) if flip_average else (0,):
        x = [torch.from_numpy(np.asarray(a[i : i + 1, f], dtype=np.float32)) for a in feats]
        p = model.activate(decode_features(model, x, prep["first"]))[0, 0].numpy()
        maps.append(p[:, ::-1] if f else p)
    return np.mean(maps, axis=0)


def score(p: np.ndarray, d: dict, i: int) -> dict:
    g = d["geoms"][i]
    (ox, oy), (ch, cw) = g.offset, g.content
    region = np.s_[oy : oy + ch, ox : ox + cw]
    p = p[region] / p[region].sum()
    fix = np.asarray(d["cache"].fixations[i])[region]
    dens = np.asarray(d["cache"].maps[i], dtype=np.float32)[region]
    centre = centre_gaussian((ch, cw))
    return {
        "nss": M.nss(p, fix),
        "cc": M.cc(p, dens),
        "kld": M.kld(p, dens),
        "ig": M.info_gain(p, centre, fix),
    }


def print_table(scores: dict, done: int, args) -> None:
    """Mean over the first ``done`` folds and the standard deviation of their fold means."""
    print(
        f"\n{args.folds}-fold cross-validation inside the training splits ({done} folds done), "
        f"{args.epochs} epochs, mean over folds +- std of the fold means"
    )
    print(f"| configuration | data | {' | '.join(m.upper() for m in METRICS)} |")
    print("|---|---|" + "---|" * len(METRICS))
    for cname, per_tag in scores.items():
        for tag, folds in per_tag.items():
            cells = []
            for m in METRICS:
                fold_means = [np.mean([r[m] for r in rows]) for rows in folds[:done]]
                cells.append(f"{np.mean(fold_means):.3f} +- {np.std(fold_means):.3f}")
            print(f"| {cname} | {tag} | {' | '.join(cells)} |", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nus", required=True)
    ap.add_argument("--osie", required=True)
    ap.add_argument("--encoders", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--limit", type=int, help="use only this many training images of each set")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config("configs/default.yaml")
    datasets = {
        "nus-scene": open_dataset(args.nus, "nus-scene"),
        "osie": open_dataset(args.osie, "osie"),
    }
    t0 = time.perf_counter()
    preps = {
        n: prepare(cfg, datasets, f"efficientnet_lite{n}", args.folds, args.limit)
        for n in args.encoders
    }
    print(f"features: {time.perf_counter() - t0:.0f} s", flush=True)

    trainings = {"L0 nus": (0, ("nus-scene",))}
    for n in args.encoders:
        trainings[f"L{n} both"] = (n, ("nus-scene", "osie"))
    configs = {  # name: (trained models averaged in probability, flip averaging)
        "L0 NUS only": (["L0 nus"], False),
        "L0 NUS+OSIE": (["L0 both"], False),
        "L0 NUS+OSIE, flip avg": (["L0 both"], True),
    }
    for n in args.encoders[1:]:
        configs[f"L{n} NUS+OSIE, flip avg"] = ([f"L{n} both"], True)
    if len(args.encoders) > 1:
        names = "+".join(f"L{n}" for n in args.encoders)
        configs[f"{names} NUS+OSIE, flip avg"] = ([f"L{n} both" for n in args.encoders], True)

    # scores[config][tag][fold] = list of per-image dicts
    scores = {
        c: {t: [[] for _ in range(args.folds)] for t in datasets}
        for c in ["centre Gaussian", *configs]
    }
    for fold in range(args.folds):
        t0 = time.perf_counter()
        models = {
            name: train_readout(cfg, preps[n], tags, fold, args.epochs)
            for name, (n, tags) in trainings.items()
        }
        for tag in datasets:
            d0 = preps[args.encoders[0]]["data"][tag]
            for i in np.flatnonzero(d0["folds"] == fold):
                g = d0["geoms"][i]
                centre = np.zeros(d0["cache"].maps.shape[1:], np.float32)
                (ox, oy), (ch, cw) = g.offset, g.content
                centre[oy : oy + ch, ox : ox + cw] = centre_gaussian((ch, cw))
                scores["centre Gaussian"][tag][fold].append(score(centre, d0, i))
                for cname, (members, flip) in configs.items():
                    ps = [predict(models[m], preps[trainings[m][0]], tag, i, flip) for m in members]
                    scores[cname][tag][fold].append(score(np.mean(ps, axis=0), d0, i))
        print(f"fold {fold + 1}/{args.folds}: {time.perf_counter() - t0:.0f} s", flush=True)
        print_table(scores, fold + 1, args)


if __name__ == "__main__":
    main()
