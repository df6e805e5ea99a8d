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
        --osie ../shared/datasets/osie [--encoders 0 1 2] [--variants] [--jobs 2] [--out FILE]

Prints one row per configuration and data set: the mean over the folds and, after +-, the
standard deviation of the 5 fold means; ``--out`` keeps every held-out image's scores (JSON)
for paired comparisons. Configurations: a readout per backbone (L0, L1, L2 = EfficientNet-Lite
0, 1, 2) trained on both sets, L0 on NUS-Scene alone, every ensemble of the backbones (maps
averaged in probability), each with and without flip averaging; ``--variants``: the Lite0
levers in VARIANTS instead.

``--levers`` (issue 20) trains the shipped recipe beside what might teach it designs, on Lite0
(LEVERS): EyeCrowd as a third training set, text and face maps as two more readout inputs
(``benchmarks/cue_maps.py``), and the GDI and MASSVIS click data (their held-out folds only
scored), and scores every one on the held-out folds of NUS-Scene, OSIE, EyeCrowd, GDI and
MASSVIS (all 81 designs: they have no validation split):

    nice python benchmarks/crossval.py --nus ../shared/datasets/nus-scene \
        --osie ../shared/datasets/osie --eyecrowd ../shared/datasets/eyecrowd \
        --gdi ../shared/datasets/bubbleview/gdi30x50.mat \
        --massvis ../shared/datasets/bubbleview/massvis_fv_40x32.mat --levers --folds 3 --out F

Run on 2 CPU cores (2 worker processes, one thread each): features of the 960 training images
and their mirror images 686 s for the three encoders (onnxruntime), training 2631 s (20
readouts of 10 epochs), scoring 195 s; ``--variants`` 1850 s more. The results are in
MODEL_CARD.md ("How the models were chosen").
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
from cue_maps import cue_maps  # benchmarks/, beside this script
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

METRICS = ("nss", "cc", "kld", "ig", "ll")


def prepare(
    cfg, datasets: dict, encoder: str, k: int, limit: int | None = None, cues: bool = False
) -> dict:
    """Per data set: the decoded cache of its training split (every image of a set in
    ALL_IMAGES), the encoder's features of every image and its mirror image, each image's
    region in the padded frame, and its fold; with ``cues`` the text and face maps too."""
    mcfg = dataclasses.replace(cfg.model, encoder=encoder)
    model = SaliencyModel(mcfg)
    normalize = Normalize.from_config(model.config)
    out = {}
    for tag, ds in datasets.items():
        part = ds.split("all" if tag in ALL_IMAGES else "train")
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
            "cues": cue_maps(cache, feats[0].shape[-2:]) if cues else None,
            "geoms": [
                fit(part.image_size(i), mcfg.input_size, mcfg.aspect) for i in range(len(part))
            ],
            "folds": np.array(
                fold_indices(part.ids, part.categories, k, 1, part.duplicate_groups(indices=True))
            ),
        }
    return {"config": mcfg, "first": first_level(model), "data": out}


def readout_model(prep: dict, overrides: dict | None = None) -> SaliencyModel:
    """The recipe's model on ``prep``'s encoder (random encoder weights: features are cached),
    with a training's ``overrides``: ``model``, changes to its config (e.g. the readout's
    widths, the blur or centre bias); ``cues``, the readout also reading the text and face
    maps, as two more input channels."""
    overrides = overrides or {}
    changes = overrides.get("model") or {}
    model = SaliencyModel(dataclasses.replace(prep["config"], encoder_weights=None, **changes))
    if overrides.get("cues"):
        dec = model.decoder
        conv = dec.readout[dec.first_conv]
        dec.readout[dec.first_conv] = torch.nn.Conv2d(conv.in_channels + 2, conv.out_channels, 1)
        dec.channels = [*dec.channels, 2]
    return model


def inputs(d: dict, cues: bool) -> list:
    """The arrays the readout reads: the encoder's levels, and the cue maps with ``cues``."""
    return [*d["feats"], d["cues"]] if cues else list(d["feats"])


def train_readout(
    cfg, prep: dict, tags, fold: int, epochs: int, overrides: dict | None = None
) -> SaliencyModel:
    """The recipe's readout and head trained on every fold but ``fold`` of the ``tags`` sets,
    with a training's ``overrides`` (:func:`readout_model`'s; ``loss``, other loss weights than
    the recipe's; ``repeat``, how many times each epoch sees a set's images, by tag, default
    once)."""
    overrides = overrides or {}
    cues = overrides.get("cues", False)
    repeat = overrides.get("repeat") or {}
    torch.manual_seed(cfg.seed)
    model = readout_model(prep, overrides)
    model.encoder.eval()
    sets = []
    for tag in tags:
        d = prep["data"][tag]
        full = FeatureSet(d["cache"], inputs(d, cues), prep["first"], cfg.data.hflip, cfg.seed)
        part = Subset(full, np.flatnonzero(d["folds"] != fold).tolist())
        sets += [(full, part)] * repeat.get(tag, 1)
    data = ConcatDataset([s for _, s in sets])
    opt = make_optimizer(model, cfg.optim)
    sched = make_scheduler(opt, cfg.optim, epochs)
    loss_fn = CombinedLoss(overrides.get("loss") or cfg.loss)
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
def predict(
    model: SaliencyModel, prep: dict, tag: str, i: int, flip_average: bool, cues: bool = False
) -> np.ndarray:
    """The model's density of training image ``i`` of ``tag`` in the padded frame (sums to 1);
    with ``flip_average`` the mean of it and the mirrored prediction of the mirror image."""
    feats = inputs(prep["data"][tag], cues)
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
        # exact: every fixated pixel under the density as predicted (what an nll loss trains)
        "ll": M.log_likelihood_of_log_density(np.log(np.maximum(p, 1e-300)), fix.astype(bool)),
    }


def print_table(scores: dict, folds: int, epochs: int) -> None:
    """Mean over the folds and the standard deviation of their fold means."""
    print(
        f"\n{folds}-fold cross-validation inside the training splits, {epochs} epochs, "
        "mean over folds +- std of the fold means"
    )
    print(f"| configuration | data | {' | '.join(m.upper() for m in METRICS)} |")
    print("|---|---|" + "---|" * len(METRICS))
    for cname, per_tag in scores.items():
        for tag, per_fold in per_tag.items():
            cells = []
            for m in METRICS:
                fold_means = [np.mean([r[m] for r in rows]) for rows in per_fold if rows]
                cells.append(f"{np.mean(fold_means):.3f} +- {np.std(fold_means):.3f}")
            print(f"| {cname} | {tag} | {' | '.join(cells)} |", flush=True)


def print_paired(scores: dict, pairs) -> None:
    """For each (a, b): the mean per-image difference a - b, the range of its fold means, and
    the share of images where a is better (lower for KLD)."""
    for a, b in pairs:
        for tag in scores[a]:
            cells = []
            for m in METRICS:
                da = [np.array([r[m] for r in fold]) for fold in scores[a][tag]]
                db = [np.array([r[m] for r in fold]) for fold in scores[b][tag]]
                d = np.concatenate(da) - np.concatenate(db)
                folds = [x.mean() - y.mean() for x, y in zip(da, db)]
                better = (d < 0 if m == "kld" else d > 0).mean()
                cells.append(
                    f"{m.upper()} {d.mean():+.3f} (folds {min(folds):+.3f}..{max(folds):+.3f}, "
                    f"better on {better:.0%})"
                )
            print(f"{a} - {b} [{tag}]: " + "; ".join(cells))


# One set of prepared features per encoder, shared with the worker processes (forked).
PREPS: dict = {}
CFG = None


BOTH = ("nus-scene", "osie")
# The levers tried on one backbone (Lite0, both data sets), with --variants:
# name: (encoder index, data sets, {"epochs": N, "model": changes to the model's config})
VARIANTS = {  # Lite0 with the base recipe is "L0" of the base run (same folds and seed)
    "L0 readout 32-64-2": (
        0,
        BOTH,
        {"model": {"decoder_args": {"widths": [32, 64, 2], "dropout": 0.1}}},
    ),
}
# --losses: the fixations' log-likelihood (nll, in bits) alone and beside the shipped loss,
# against the shipped recipe trained in the same run
NLL_LOSS = {"kld": 1.0, "cc": -0.1, "nss": -0.1, "nll": 0.1}
LOSS_VARIANTS = {
    "L0": (0, BOTH, {}),
    "L0 nll": (0, BOTH, {"loss": {"nll": 1.0}}),
    "L0 kld-cc-nss+nll": (0, BOTH, {"loss": NLL_LOSS}),
}

# --levers (issue 20): what might draw the model's eye to where people look on designs, each
# trained in the same run as the shipped recipe and scored on the held-out folds of every set
# (GDI designs and MASSVIS charts: every image, folds dealt as for the photos)
ALL_IMAGES = ("gdi", "massvis")
LEVERS = {
    "L0": (0, BOTH, {}),
    "L0 +EyeCrowd": (0, (*BOTH, "eyecrowd"), {}),
    "L0 +text+faces": (0, BOTH, {"cues": True}),
    # the 81 designs would be 6% of the images: each epoch sees them 4 times
    "L0 +designs": (0, (*BOTH, *ALL_IMAGES), {"repeat": {"gdi": 4, "massvis": 4}}),
    # issue 25's nll term beside the shipped loss, alone and with EyeCrowd: together they cost
    # the charts 0.100 NSS when default was retrained with both (MODEL_CARD.md)
    "L0 +nll": (0, BOTH, {"loss": NLL_LOSS}),
    "L0 +EyeCrowd+nll": (0, (*BOTH, "eyecrowd"), {"loss": NLL_LOSS}),
}


def trainings(encoders, variants=False, losses=False, levers=False) -> dict:
    """name: (encoder index, data sets, overrides): the readouts trained per fold."""
    if levers:
        return dict(LEVERS)
    if losses:
        return dict(LOSS_VARIANTS)
    if variants:
        return dict(VARIANTS)
    out = {"L0 NUS": (0, ("nus-scene",), {})}
    for n in encoders:
        out[f"L{n}"] = (n, BOTH, {})
    return out


def configurations(encoders, names) -> dict:
    """name: (trained readouts averaged in probability, flip averaging): what is scored."""
    out = {}
    for t in names:
        out[t] = ([t], False)
        out[f"{t}, flip avg"] = ([t], True)
    sets = [
        list(c) for k in range(2, len(encoders) + 1) for c in itertools.combinations(encoders, k)
    ]
    for members in sets:
        label = "+".join(f"L{n}" for n in members)
        out[label] = ([f"L{n}" for n in members], False)
        out[f"{label}, flip avg"] = ([f"L{n}" for n in members], True)
    return out


def _train_task(task):
    fold, name, (n, tags, overrides), epochs = task
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    epochs = overrides.get("epochs", epochs)
    model = train_readout(CFG, PREPS[n], tags, fold, epochs, overrides)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    return fold, name, state, time.perf_counter() - t0


def _score_task(task):
    fold, states, trained, configs, encoders = task
    torch.set_num_threads(1)
    models = {}
    for name, state in states.items():
        n = trained[name][0]
        model = readout_model(PREPS[n], trained[name][2])
        model.load_state_dict(state, strict=False)
        models[name] = model.eval()
    scores = {c: {} for c in ["centre Gaussian", *configs]}
    for tag in PREPS[encoders[0]]["data"]:
        d0 = PREPS[encoders[0]]["data"][tag]
        for c in scores:
            scores[c][tag] = []
        for i in np.flatnonzero(d0["folds"] == fold):
            g = d0["geoms"][i]
            centre = np.zeros(d0["cache"].maps.shape[1:], np.float32)
            (ox, oy), (ch, cw) = g.offset, g.content
            centre[oy : oy + ch, ox : ox + cw] = centre_gaussian((ch, cw))
            scores["centre Gaussian"][tag].append(score(centre, d0, i))
            cache = {}
            for cname, (members, flip) in configs.items():
                ps = []
                for m in members:
                    if (m, flip) not in cache:
                        n, _, overrides = trained[m]
                        cues = overrides.get("cues", False)
                        cache[(m, flip)] = predict(models[m], PREPS[n], tag, i, flip, cues)
                    ps.append(cache[(m, flip)])
                scores[cname][tag].append(score(np.mean(ps, axis=0), d0, i))
    return fold, scores


def main():
    global CFG
    ap = argparse.ArgumentParser()
    ap.add_argument("--nus", help="NUS-Scene folder (needed unless --from)")
    ap.add_argument("--osie", help="OSIE folder (needed unless --from)")
    ap.add_argument("--encoders", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes, one thread each")
    ap.add_argument("--limit", type=int, help="use only this many training images of each set")
    ap.add_argument("--variants", action="store_true", help="the levers on Lite0 (VARIANTS)")
    ap.add_argument(
        "--losses",
        action="store_true",
        help="the nll loss alone and beside the shipped one, on Lite0 (LOSS_VARIANTS)",
    )
    ap.add_argument("--levers", action="store_true", help="issue 20's levers on Lite0 (LEVERS)")
    ap.add_argument(
        "--only", nargs="+", choices=list(LEVERS), help="with --levers: train only these"
    )
    ap.add_argument("--eyecrowd", help="EyeCrowd folder (with --levers)")
    ap.add_argument("--gdi", help="BubbleView's gdi30x50.mat (with --levers)")
    ap.add_argument("--massvis", help="BubbleView's massvis_fv_40x32.mat (with --levers)")
    ap.add_argument(
        "--paired",
        nargs="+",
        metavar="A-B",
        help="with --from: print paired differences of configurations A and B ('A - B')",
    )
    ap.add_argument("--from", dest="source", help="scores written by an earlier --out")
    ap.add_argument("--features-only", action="store_true", help="build the features and stop")
    ap.add_argument("--out", help="write every held-out image's scores here (JSON)")
    args = ap.parse_args()
    if args.source:
        scores = json.loads(Path(args.source).read_text())
        print_paired(scores, [p.split(" - ") for p in args.paired or []])
        return
    if not (args.nus and args.osie):
        ap.error("--nus and --osie are needed (or --from)")
    CFG = load_config("configs/default.yaml")
    datasets = {
        "nus-scene": open_dataset(args.nus, "nus-scene"),
        "osie": open_dataset(args.osie, "osie"),
    }
    if args.levers:
        if not (args.eyecrowd and args.gdi and args.massvis):
            ap.error("--levers needs --eyecrowd, --gdi and --massvis")
        datasets["eyecrowd"] = open_dataset(args.eyecrowd, "eyecrowd")
        datasets["gdi"] = open_dataset(args.gdi, "bubbleview")
        datasets["massvis"] = open_dataset(args.massvis, "bubbleview")
    t0 = time.perf_counter()
    one = args.variants or args.losses or args.levers
    for n in [0] if one else sorted({0, *args.encoders}):
        cues = args.levers and "L0 +text+faces" in (args.only or LEVERS)
        PREPS[n] = prepare(CFG, datasets, f"efficientnet_lite{n}", args.folds, args.limit, cues)
    print(f"features: {time.perf_counter() - t0:.0f} s", flush=True)
    if args.features_only:
        return
    trained = trainings(args.encoders, args.variants, args.losses, args.levers)
    trained = {k: v for k, v in trained.items() if k in (args.only or trained)}
    configs = configurations([] if one else args.encoders, list(trained))
    tasks = [
        (fold, name, spec, args.epochs)
        for fold in range(args.folds)
        for name, spec in trained.items()
    ]
    states = [{} for _ in range(args.folds)]
    ctx = multiprocessing.get_context("fork")
    t0 = time.perf_counter()
    with ctx.Pool(args.jobs) as pool:
        for fold, name, state, seconds in pool.imap_unordered(_train_task, tasks):
            states[fold][name] = state
            print(f"fold {fold + 1} {name}: trained in {seconds:.0f} s", flush=True)
        print(f"training: {time.perf_counter() - t0:.0f} s", flush=True)
        t0 = time.perf_counter()
        score_tasks = [(f, states[f], trained, configs, args.encoders) for f in range(args.folds)]
        results = dict(pool.imap_unordered(_score_task, score_tasks))
    print(f"scoring: {time.perf_counter() - t0:.0f} s", flush=True)
    # scores[config][tag][fold] = list of per-image dicts
    scores = {
        c: {t: [results[f][c][t] for f in range(args.folds)] for t in datasets} for c in results[0]
    }
    print_table(scores, args.folds, args.epochs)
    if args.out:
        Path(args.out).write_text(json.dumps(scores))


if __name__ == "__main__":
    main()
