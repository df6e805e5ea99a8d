"""``salmap evaluate``: score models, baselines or folders of maps on a dataset split."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from salmap.data import SPLITS, SplitRule, dataset_tag, formats, ids_hash, open_dataset
from salmap.errors import SalmapError
from salmap.models.io import SHIPPED, WEIGHTS, model_label, resolve

# --model names that are baselines rather than paths
BASELINES = ("uniform", "centre", "centre-fit", "centre-kde", "gold")
ALIASES = {"center": "centre", "center-fit": "centre-fit"}
CONVENTION_NAMES = {"mit": "MIT", "tuebingen": "Tuebingen"}
IG_BASELINES = ("centre", "centre-fit", "centre-kde", "uniform")
SAUC_NEGATIVES = ("split", "all")
LL_LINES = {
    "exact": "LL and IG (bits per fixation): exact, every fixation under the density as "
    "predicted, for models, baselines and log densities; MIT's rule (min-max normalised, each "
    "fixated pixel once) for folders of maps.",
    "mit": "LL and IG (bits per fixation): MIT's rule (min-max normalised, each fixated pixel "
    "once), log densities exact.",
}
TRAINED_IMAGES = ("refuse", "separate", "include")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "evaluate",
        help="score saliency models with the MIT/Tuebingen benchmark metrics",
        description=(
            "Score predictions at each image's resolution (or --longer-side) on a dataset split "
            "and print a table of means with 95% bootstrap intervals, baselines beside the model."
        ),
    )
    _predictor_arguments(p.add_argument_group("what to score"))
    _data_arguments(p.add_argument_group("data and split"))
    _metric_arguments(p.add_argument_group("metrics"))
    _probabilistic_arguments(p.add_argument_group("the probabilistic protocol"))
    _output_arguments(p.add_argument_group("output"))
    p.set_defaults(run=run)


def _predictor_arguments(g) -> None:
    g.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="PATH|NAME",
        help="a shipped model (default, accurate), a saved model (folder, .safetensors, "
        f".onnx), or a baseline ({', '.join(BASELINES)}); repeat for several side by side",
    )
    g.add_argument(
        "--predictions",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of saliency maps (PNG, JPG, .npy) matched to the images by file stem; "
        "repeatable",
    )
    g.add_argument(
        "--log-density",
        action="store_true",
        help="the --predictions folders hold .npy natural-log densities (DeepGaze's and "
        "pysaliency's output; salmap predict --save log-density): LL and IG are computed "
        "exactly from them",
    )
    g.add_argument(
        "--log-densities",
        action="append",
        default=[],
        metavar="DIR",
        help="a folder of .npy natural-log densities, scored as such (exact LL and IG) beside "
        "the --predictions folders of maps; repeatable",
    )
    g.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="NAME",
        help="the table's name for each folder, --predictions first, then --log-densities, "
        "in order (default: the folder's name); repeatable",
    )
    g.add_argument(
        "--baselines",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="score uniform, centre and (where subjects are known) gold beside the models "
        "(default: on)",
    )
    g.add_argument(
        "--trained-images",
        choices=TRAINED_IMAGES,
        default="refuse",
        help="images a model was trained on (recognised by their content, copies too, from any "
        "folder): refuse to score them (default), score them in a row of their own "
        "(separate), or score them with the rest (include, e.g. for --split train)",
    )


def _data_arguments(g) -> None:
    g.add_argument("--data", required=True, help="dataset folder")
    g.add_argument(
        "--format", choices=list(formats()), help="dataset layout (guessed when omitted)"
    )
    g.add_argument(
        "--split",
        choices=SPLITS,
        default="val",
        help="which part (default: val); a saved model is scored on the split it was trained "
        "with (its run's split.json, else the seed and fraction in its recipe)",
    )
    g.add_argument(
        "--split-seed",
        type=int,
        metavar="N",
        help="split seed for prediction folders and baselines (default: the scored models' "
        "split, else 0)",
    )
    g.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="validation fraction for prediction folders and baselines (default: the scored "
        "models' split, else 0.2)",
    )
    g.add_argument(
        "--ids",
        metavar="FILE",
        help="the split as id lists: a run's split.json, or a text file of validation ids, one "
        "per line",
    )
    g.add_argument(
        "--longer-side",
        type=int,
        metavar="PX",
        help="rescale every image and its fixations to this longer side first (default: each "
        "image's own resolution)",
    )


def _metric_arguments(g) -> None:
    from salmap.evaluate import DEFAULT_METRICS, METRICS

    g.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated subset of {','.join(METRICS)}, or 'all' (default: all but ssim "
        "and emd, the slow ones)",
    )
    g.add_argument(
        "--convention",
        choices=list(CONVENTION_NAMES),
        default="mit",
        help="metric definitions where the two benchmarks differ (default: mit)",
    )
    g.add_argument(
        "--ig-baseline",
        choices=IG_BASELINES,
        default="centre",
        help="information gain's baseline: centre (the fixed centre Gaussian, default), "
        "centre-fit (a centre bias fitted on the training split, the benchmark's choice), "
        "centre-kde (a kernel density estimate of the training fixations, its bandwidth "
        "fitted by leave-one-image-out likelihood) or uniform (IG is then LL)",
    )
    g.add_argument(
        "--derived-maps",
        nargs="?",
        const="all",
        choices=("all", "fixations"),
        help="take every prediction as a probability density and score each metric on the map "
        "that it rewards (Kuemmerer et al., ECCV 2018): the density for NSS, LL and IG, its "
        "rank for AUC-Judd, the staircase that maximises the expected thresholded AUC for "
        "AUC-Borji and sAUC (against the sAUC negatives' density), the density blurred like "
        "the ground truth for CC, KLD, SIM, SSIM and EMD (see salmap.derived); 'fixations': "
        "for the fixation metrics only, the others on the map as it is (for models trained "
        "on blurred densities, such as salmap's, whose maps are already blurred)",
    )
    g.add_argument(
        "--sauc-negatives",
        choices=SAUC_NEGATIVES,
        default="split",
        help="whose fixations are sAUC's negatives: the other images of the whole split, also "
        "when only some of them are scored (default), or of the whole data set (all)",
    )


def _probabilistic_arguments(g) -> None:
    from salmap.evaluate import LL_RULES

    g.add_argument(
        "--gold",
        choices=("cv", "fixed"),
        default="cv",
        help="the gold standard's LL and IG: the other observers' density with a blur and "
        "uniform weight fitted by cross-validation on the training split (cv, default; as "
        "pysaliency's CrossvalidatedGoldStandard) or the ground truth's blur with 5%% uniform "
        "(fixed)",
    )
    g.add_argument(
        "--ll-rule",
        choices=LL_RULES,
        default="exact",
        help="LL and IG of models and baselines: exact, from the density as predicted (every "
        "fixation, no min-max: what pysaliency reports; default), or mit (min-max normalised, "
        "each fixated pixel once, MIT's code); folders of maps always take mit, log densities "
        "exact",
    )
    g.add_argument(
        "--average",
        choices=("image", "fixation"),
        default="image",
        help="LL and IG as the mean over images (default) or over fixations (each image "
        "weighted by its fixations, as pysaliency reports them); the other metrics are means "
        "over images",
    )
    g.add_argument(
        "--drop-first-fixation",
        action="store_true",
        help="leave out each observer's first fixation (it starts on the central fixation "
        "cross; Judd et al. 2009 and pysaliency drop it): from the scores, the ground-truth "
        "densities and sAUC's negatives; needs observer ids",
    )


def _output_arguments(g) -> None:
    g.add_argument(
        "--allow-missing",
        action="store_true",
        help="score what there is when predictions are missing or cannot be scored (the table "
        "then counts the images each row covers); without it that is an error",
    )
    g.add_argument(
        "--out",
        metavar="DIR",
        help="write per_image.csv, summary.json (with provenance), table.md, table.tex "
        "(booktabs) and paired.md",
    )
    g.add_argument("--overwrite", action="store_true", help="replace a non-empty --out folder")
    g.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes scoring images in parallel (default: one per CPU core, at most 4, but "
        "a single one when a saved model is scored)",
    )


def _metrics(text: str) -> tuple[str, ...]:
    from salmap.evaluate import METRICS, check_metrics

    check_metrics([])  # loads the metrics of installed plugins
    names = list(METRICS) if text.strip() == "all" else [m.strip() for m in text.split(",") if m]
    try:
        return check_metrics(names)
    except ValueError as e:
        raise SalmapError(str(e)) from None


def _unique(name: str, taken: dict) -> str:
    base, k = name, 2
    while name in taken:
        name, k = f"{base}-{k}", k + 1
    return name


def _load_model(path: str):
    """The model at ``path``; the default one on PyTorch (fp32) where torch is installed, so
    that its scores are those of its model card, else on its ONNX export."""
    import importlib.util

    import salmap

    torch = not str(path).endswith(".onnx") and importlib.util.find_spec("torch") is not None
    try:
        return salmap.load_model(path, runner="torch" if torch else None)
    except (ImportError, OSError, ValueError) as e:
        raise SalmapError(f"{path}: cannot load the model ({e})") from None


def model_split_rule(path: str, model, dataset) -> SplitRule | None:
    """The split a saved model was trained with: its run's ``split.json`` (a model saved in
    ``RUN/models/NAME``), else the seed and fraction of its recipe; None when the model was
    trained on other data (a different format, or none of the run's ids in ``dataset``)."""
    data = (getattr(model, "training_recipe", None) or {}).get("data") or {}
    trained = data.get("format") if isinstance(data.get("format"), list) else [data.get("format")]
    if None not in trained and dataset.format not in trained:  # None: guessed, so unknown
        return None
    seed, fraction = data.get("split_seed"), data.get("val_fraction")
    if not str(path).endswith(".onnx"):
        folder = resolve(path).parent if Path(path).name != WEIGHTS else Path(path).parent
        listing = folder.parent.parent / "split.json"
        if folder.parent.name == "models" and listing.is_file():
            rule = SplitRule.from_ids_file(listing, seed, fraction, dataset_tag(dataset))
            if rule is None:  # a run on several data sets, not on this one
                return None
            have = set(dataset.ids)
            if not any(i in have for ids in rule.ids.values() for i in ids):
                return None
            return rule
    if seed is None and fraction is None:
        return SplitRule(source=f"{model_label(path)}: no split recorded, salmap's default")
    return SplitRule(
        SplitRule.seed if seed is None else int(seed),
        SplitRule.val_fraction if fraction is None else float(fraction),
        source=f"the recipe of {model_label(path)}",
    )


def _flags_rule(args, dataset) -> SplitRule | None:
    """The rule the split flags give, or None where none was given."""
    if args.val_fraction is not None and not 0.0 <= args.val_fraction < 1.0:
        raise SalmapError(f"--val-fraction must be in [0, 1), got {args.val_fraction}")
    if args.ids:
        rule = SplitRule.from_ids_file(
            args.ids, args.split_seed, args.val_fraction, dataset_tag(dataset)
        )
        if rule is None:
            raise SalmapError(f"{args.ids}: lists no images of {dataset_tag(dataset)}")
        return rule
    if args.split_seed is None and args.val_fraction is None:
        return None
    return SplitRule(
        SplitRule.seed if args.split_seed is None else args.split_seed,
        SplitRule.val_fraction if args.val_fraction is None else args.val_fraction,
        source="--split-seed/--val-fraction",
    )


def choose_split(args, dataset, rules: dict[str, SplitRule]):
    """(rule, part): the one split every scored predictor shares. ``rules`` maps each saved
    model's label to the rule it was trained with; they and the flags must all select the same
    images, or a SalmapError names the two that differ."""
    flags = _flags_rule(args, dataset)
    if not rules:
        rule = flags or SplitRule()
        return rule, rule.part(dataset, args.split)
    parts = {name: rule.part(dataset, args.split) for name, rule in rules.items()}
    (first, part), *others = parts.items()
    for name, other in others:
        if other.ids != part.ids:
            shared = len(set(other.ids) & set(part.ids))
            raise SalmapError(
                f"{first} and {name} have different {args.split} splits "
                f"({rules[first].describe()} vs {rules[name].describe()}; "
                f"{shared} of {len(part)} and {len(other)} images shared): score them separately"
            )
    if flags is None:
        return rules[first], part
    # the split flags may pick some of the models' own images (a quick check on a few), none else
    chosen = flags.part(dataset, args.split)
    theirs = set(part.ids)
    outside = [i for i in chosen.ids if i not in theirs]
    if outside:
        raise SalmapError(
            f"the split flags ({flags.describe()}) select {len(outside)} of their "
            f"{len(chosen)} images outside the {args.split} split of {first} "
            f"({rules[first].describe()}), such as {outside[0]}: leave the flags out to score "
            f"its own {len(part)}, or list only some of those"
        )
    if len(chosen) == len(part):
        return rules[first], part
    if args.split == "all":
        return flags, chosen
    # the model's own split but for the images scored: its training part still fits the centre
    # bias, and the provenance names both
    model = rules[first]
    ids = {name: tuple(model.part(dataset, name).ids) for name in ("train", "val")}
    ids[args.split] = tuple(chosen.ids)
    source = (
        f"{len(chosen)} of the {len(part)} {args.split} images of {model.describe()}, "
        f"picked by {flags.source}"
    )
    return SplitRule(model.seed, model.val_fraction, ids, source), chosen


def _has_subjects(dataset) -> bool:
    """Whether the first image has fixations with observer ids (the gold standard needs them)."""
    return len(dataset) > 0 and dataset.fixations_inside(0)[1] is not None


def load_models(args, dataset) -> tuple[dict, dict[str, SplitRule], list[str]]:
    """The saved models among --model (label -> model), the split each was trained with, and
    notes for the user."""
    models: dict[str, object] = {}
    rules: dict[str, SplitRule] = {}
    notes: list[str] = []
    for name in dict.fromkeys(ALIASES.get(m, m) for m in args.model):
        if name in BASELINES:
            continue
        if not Path(name).exists() and name not in SHIPPED:
            raise SalmapError(
                f"--model {name}: no such file or folder, and not one of {', '.join(BASELINES)}"
            )
        label = _unique(model_label(name), models)
        models[label] = _load_model(name)
        models[label].cli_name = name
        rule = model_split_rule(name, models[label], dataset)
        if rule is None:
            notes.append(f"{label} was trained on other data: its training split does not apply")
        else:
            rules[label] = rule
    return models, rules, notes


def fitted_centre(args, dataset, rule, notes: list[str]):
    """The centre bias fitted on the training split of ``rule`` (a note when it overlaps the
    scored part)."""
    from salmap import baselines as B

    try:
        bias = B.fit_centre_bias(rule.part(dataset, "train"))
    except ValueError as e:
        raise SalmapError(f"cannot fit a centre bias to the train split: {e}") from None
    note = f"centre-fit was fitted on the train split, part of --split {args.split}"
    if args.split != "val" and note not in notes:
        notes.append(note)
    return bias


def kde_centre(args, dataset, rule, notes: list[str]):
    """The KDE centre bias fitted on the training split of ``rule`` (kept on ``args``: the
    table's row and IG's baseline are one fit)."""
    from salmap.baselines import relative_fixations
    from salmap.kde import KdeCentreBias

    if getattr(args, "kde", None) is None:
        try:
            args.kde = KdeCentreBias.fit(relative_fixations(rule.part(dataset, "train")))
        except ValueError as e:
            raise SalmapError(f"cannot fit the KDE centre bias to the train split: {e}") from None
        k = args.kde
        notes.append(
            f"centre-kde: bandwidth {k.bandwidth:g} of the frame, uniform weight "
            f"{k.uniform_weight:g}, fitted on {k.images} training images (leave-one-image-out "
            f"LL {k.ll:.3f} bits per fixation)"
        )
    return args.kde


def gold_fit(args, dataset, rule, notes: list[str]):
    """The gold standard's blur and uniform weight fitted on the training split (``--gold
    cv``), or None for the fixed ones."""
    from salmap.kde import fit_gold

    if args.gold != "cv" or not ({"ll", "ig"} & set(_metrics(args.metrics))):
        return None
    try:
        fit = fit_gold(rule.part(dataset, "train"))
    except ValueError as e:
        raise SalmapError(f"--gold cv: {e}; pass --gold fixed") from None
    notes.append(
        f"gold LL and IG: blur {fit.sigma:g} of the longer side and uniform weight "
        f"{fit.uniform_weight:g}, fitted on {fit.images} training images (leave-one-observer-"
        f"out LL {fit.ll:.3f} bits per fixation)"
    )
    return fit


def ig_baseline(args, dataset, rule, notes: list[str]):
    """IG's baseline as a function of the frame's shape."""
    from salmap import baselines as B

    if args.ig_baseline == "uniform":
        return B.uniform
    if args.ig_baseline == "centre-fit":
        return fitted_centre(args, dataset, rule, notes).map
    if args.ig_baseline == "centre-kde":
        return kde_centre(args, dataset, rule, notes).map
    return B.centre_gaussian


def build_predictors(args, dataset, part, rule, models) -> tuple[dict, list[str]]:
    """(name -> predictor, notes for the user), in table order: the floor (uniform, centre),
    the models and prediction folders, the ceiling (gold)."""
    from salmap import baselines as B
    from salmap.evaluate import GOLD

    notes: list[str] = []
    gold_ok = _has_subjects(part)
    if args.baselines and not gold_ok:
        notes.append("gold standard left out: this dataset has no subject ids for its fixations")
    requested = [ALIASES.get(m, m) for m in args.model]
    floor = ["uniform", "centre"] if args.baselines else []
    gold = "gold" in requested or (args.baselines and gold_ok)
    predictors: dict[str, object] = {}
    labels = iter(models)
    for name in dict.fromkeys(floor + [n for n in requested if n != "gold"]):
        if name == "uniform":
            predictors[name] = B.predict_uniform
        elif name == "centre":
            predictors[name] = B.predict_centre
        elif name == "centre-fit":
            predictors[name] = fitted_centre(args, dataset, rule, notes).predict
        elif name == "centre-kde":
            predictors[name] = kde_centre(args, dataset, rule, notes).predict
        else:
            label = next(labels)
            predictors[label] = models[label].predict
    for label, preds in folder_predictors(args, part):
        predictors[_unique(label, predictors)] = preds
    if gold:
        if not gold_ok:
            raise SalmapError(f"{args.data}: {B.NO_SUBJECTS}")
        predictors["gold"] = GOLD
    return predictors, notes


def folder_predictors(args, part) -> list[tuple[str, object]]:
    """(label, PredictionFolder) for each --predictions folder (log densities with
    --log-density), then each --log-densities folder; --label names them in that order."""
    from salmap.evaluate import PredictionFolder

    folders = [(f, args.log_density) for f in args.predictions]
    folders += [(f, True) for f in args.log_densities]
    if args.label and len(args.label) != len(folders):
        raise SalmapError(
            f"{len(args.label)} --label for {len(folders)} folders (--predictions, then "
            "--log-densities): give one each"
        )
    labels = args.label or [Path(f).resolve().name for f, _ in folders]
    out = []
    for (folder, log), label in zip(folders, labels):
        preds = PredictionFolder(folder, log_density=log)
        missing = preds.missing(part.ids)
        if missing and not args.allow_missing:
            raise SalmapError(
                f"{folder}: no prediction for {len(missing)} of the {len(part)} images "
                f"(first: {', '.join(missing[:3])}); pass --allow-missing to score the rest"
            )
        out.append((label, preds))
    return out


def _check_out(out: str | None, overwrite: bool) -> None:
    if out is None:
        return
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise SalmapError(f"--out {out}: exists and is not a folder")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise SalmapError(
            f"--out {out}: folder is not empty; pass --overwrite to replace its files"
        )


def _fail_loudly(rows: list[dict], allow_missing: bool) -> None:
    """A SalmapError naming the first images that were missing or could not be scored, unless
    ``allow_missing``: a score over part of the images must not pass for the whole."""
    bad = [r for r in rows if r["status"] in ("missing", "error")]
    if not bad or allow_missing:
        return
    first = "; ".join(f"{r['predictor']} {r['id']}: {r['message']}" for r in bad[:3])
    raise SalmapError(
        f"{len(bad)} of {len(rows)} image scores failed ({first}); fix them, or pass "
        "--allow-missing to score the rest"
    )


def sources(predictors: dict, models: dict) -> dict:
    """Where each predictor's maps came from, for summary.json."""
    from salmap.evaluate import GOLD, PredictionFolder
    from salmap.models.io import read_config
    from salmap.provenance import config_hash

    out = {}
    for name, p in predictors.items():
        if name in models:
            model = models[name]
            source = getattr(model, "source", None) or str(model.cli_name)
            entry = {"kind": "model", "path": str(Path(source).resolve())}
            entry["config_sha256"] = config_hash(
                read_config(source)
                if source.endswith(".safetensors")
                else {"model": model.config.to_dict(), "training": model.training_recipe}
            )
            out[name] = entry
        elif isinstance(p, PredictionFolder):
            out[name] = {
                "kind": "predictions",
                "path": str(p.folder.resolve()),
                "maps": len(p.by_id),
                "log_density": p.log_density,
            }
        else:
            out[name] = {"kind": "gold standard" if p is GOLD else "baseline", "name": name}
    return out


def trained_on(args, part, models: dict, notes: list[str]) -> dict[str, list[str]]:
    """Per model label, the ids of the scored images it was trained on, recognised by their
    files' content (:mod:`salmap.leakage`); a SalmapError with ``--trained-images refuse``."""
    from salmap import leakage

    found: dict[str, list[str]] = {}
    for label, model in models.items():
        known = leakage.trained_images(model)
        if known is None:
            notes.append(
                f"{label} keeps no record of its training images: a copy of one would not be "
                "recognised (models trained since salmap 0.x record them)"
            )
            continue
        ids = leakage.trained_ids(part, known)
        if not ids:
            continue
        if args.trained_images == "refuse":
            raise SalmapError(
                f"{label} was trained on {len(ids)} of the {len(part)} images to score "
                f"(recognised by their content, copies too; first: {ids[0]}), so its score there "
                "is no test: pass --trained-images separate to score them in a row of their "
                "own, or include to score them with the rest"
            )
        found[label] = ids
        how = "in the row" if args.trained_images == "separate" else "with the rest, in"
        row = f"'{label} (trained on)'" if args.trained_images == "separate" else f"'{label}'"
        notes.append(f"{label} was trained on {len(ids)} of these images: scored {how} {row}")
    return found


def separate_trained(rows: list[dict], trained: dict[str, list[str]]) -> list[dict]:
    """The rows of images a model was trained on, moved to a predictor of their own."""
    out = []
    for r in rows:
        if r["id"] in trained.get(r["predictor"], ()):
            r = r | {"predictor": f"{r['predictor']} (trained on)"}
        out.append(r)
    return out


def negatives_pool(args, dataset, rules: dict, part):
    """The images whose fixations are sAUC's negatives: the whole data set, or the whole split
    the scored images belong to (the models' own, when the flags pick some of it)."""
    if args.sauc_negatives == "all":
        return dataset.split("all")
    if rules and args.split != "all":
        whole = next(iter(rules.values())).part(dataset, args.split)
        if set(part.ids) <= set(whole.ids):
            return whole
    return part


def negatives_line(args, part, pool) -> str:
    """The table's line on sAUC's negatives (the score moves with them)."""
    whose = "the whole data set" if args.sauc_negatives == "all" else f"the {args.split} split"
    line = f"sAUC's negatives: the fixations of the other images of {whose} ({len(pool)} images"
    if len(pool) != len(part):
        line += f"; {len(part)} of them scored"
    return line + ")."


def result_notes(summary: dict, rows: list[dict], metrics) -> list[str]:
    """What the user must know about the scores: flagged maps, images without a score."""
    from salmap.evaluate import metric_label

    notes = []
    for name, s in summary.items():
        if s["flagged"]:
            counts = ", ".join(f"{n} {flag}" for flag, n in s["flagged"].items())
            notes.append(f"{name}: maps flagged in per_image.csv: {counts}")
        if s["missing"] or s["error"]:
            note = f"{name}: {s['missing']} images without a prediction, {s['error']} errors"
            errors = [r for r in rows if r["predictor"] == name and r["status"] == "error"]
            if errors:
                note += f" (first: {errors[0]['id']}: {errors[0]['message']})"
            notes.append(note)
        if s["skipped"]:
            notes.append(
                f"{name}: {s['skipped']} of {s['images']} images have fewer than two observers "
                "and are not scored"
            )
        for m in metrics:
            bad = s["metrics"][m].get("infinite")
            if bad:
                ids = bad["ids"]
                notes.append(
                    f"{name}: {metric_label(m)} is {bad['value']} on {len(ids)} image(s) "
                    f"({', '.join(ids[:5])}{', ...' if len(ids) > 5 else ''}): the density is "
                    "zero at a fixation there; no mean is given, and the paired tests leave "
                    "those images out"
                )
    return notes


def run(args) -> int:
    from salmap.provenance import provenance

    origin = provenance(getattr(args, "argv", None))  # the code as it is when scoring starts
    metrics = _metrics(args.metrics)
    _check_out(args.out, args.overwrite)
    if args.longer_side is not None and args.longer_side < 1:
        raise SalmapError(
            f"--longer-side must be a positive number of pixels, got {args.longer_side}"
        )
    dataset = open_dataset(args.data, args.format)
    models, rules, notes = load_models(args, dataset)
    rule, part = choose_split(args, dataset, rules)
    if len(part) == 0:
        raise SalmapError(f"{args.data}: the {args.split} split has no images")
    if args.drop_first_fixation and not _has_subjects(part):
        raise SalmapError(
            f"{args.data}: --drop-first-fixation needs each fixation's observer, and this data "
            "set records none"
        )
    trained = trained_on(args, part, models, notes)
    predictors, more = build_predictors(args, dataset, part, rule, models)
    notes += more
    if not predictors:
        raise SalmapError("nothing to score: give --model or --predictions, or keep --baselines")
    pool = negatives_pool(args, dataset, rules, part)
    if models and not args.workers:  # a model is best run in one process with all the cores
        args.workers = 1
    rows = score(args, dataset, (rule, part, pool), predictors, metrics, notes)
    if args.trained_images == "separate":
        rows = separate_trained(rows, trained)
    _fail_loudly(rows, args.allow_missing)
    report = show(args, dataset, (rule, part, pool), rows, metrics)
    notes += result_notes(report["summary"], rows, metrics)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if args.out:
        write(args, origin, dataset, (rule, part), predictors, models, report, notes)
    return 0


def score(args, dataset, split, predictors: dict, metrics, notes: list[str]) -> list[dict]:
    """Every predictor's rows on the split (``split`` = (rule, part, sAUC's pool))."""
    from tqdm import tqdm

    from salmap.evaluate import evaluate

    rule, part, pool = split
    return evaluate(
        dataset,
        predictors,
        split=args.split,
        rule=rule,
        ig_baseline=ig_baseline(args, dataset, rule, notes),
        derived=args.derived_maps,
        longer_side=args.longer_side,
        metrics=metrics,
        convention=args.convention,
        workers=args.workers or min(4, os.cpu_count() or 1),
        progress=lambda it: tqdm(it, total=len(part), desc="scoring", unit="img", leave=False),
        negatives=pool,
        drop_first=args.drop_first_fixation,
        ll_rule=args.ll_rule,
        gold_fit=gold_fit(args, dataset, rule, notes) if "gold" in predictors else None,
    )


def show(args, dataset, split, rows: list[dict], metrics) -> dict:
    """Print the table, the per-category table and the paired comparisons of the models; return
    them (summary, table, categories, pairs) for the files."""
    from salmap.evaluate import format_table, summarize
    from salmap.paired import format_pairs, paired_comparison
    from salmap.provenance import by_category, format_categories

    rule, part, pool = split
    summary = summarize(rows, metrics, args.average)
    table = format_table(summary, metrics, args.ig_baseline)
    if "sauc" in metrics:
        table += negatives_line(args, part, pool) + "\n"
    if {"ll", "ig"} & set(metrics):
        per = " Means over fixations." if args.average == "fixation" else ""
        table += LL_LINES[args.ll_rule] + per + "\n"
    frame = f"longer side {args.longer_side} px" if args.longer_side else "original resolution"
    where = args.split if args.split == "all" else f"{args.split} ({rule.describe()})"
    print(
        f"{dataset.format} {args.data}, split {where}: {len(part)} images, {frame}, "
        f"{CONVENTION_NAMES[args.convention]} metric definitions\n"
    )
    categories = by_category(rows, metrics)
    if categories:
        table += "\nBy category (mean over the category's images):\n\n"
        table += format_categories(categories, metrics, args.ig_baseline)
    print(table)
    pairs = paired_comparison(rows, metrics)
    ours = [p for p in pairs if not {p["a"], p["b"]} <= {"uniform", "centre", "centre-fit"}]
    if ours:
        print("Paired comparison (A − B per image):\n")
        print(format_pairs(ours))
    return dict(rows=rows, summary=summary, table=table, categories=categories, pairs=pairs)


def write(args, origin, dataset, split, predictors, models, report, notes) -> None:
    """The --out folder: per_image.csv, summary.json, table.md, table.tex and paired.md."""
    from salmap.evaluate import write_results
    from salmap.paired import format_pairs
    from salmap.provenance import format_latex, metric_parameters

    rule, part = split
    summary, metrics = report["summary"], _metrics(args.metrics)
    document = {
        "provenance": origin,
        "dataset": str(args.data),
        "data": {"path": str(Path(args.data).resolve()), "format": dataset.format},
        "format": dataset.format,
        "split": args.split,
        "split_rule": {
            "seed": rule.seed,
            "val_fraction": rule.val_fraction,
            "ids_file": rule.source if rule.ids and Path(rule.source).is_file() else None,
            "source": rule.source,
            "ids_sha256": ids_hash(part.ids),
        },
        "images": len(part),
        "longer_side": args.longer_side,
        "convention": args.convention,
        "ig_baseline": args.ig_baseline,
        "log_density": args.log_density,
        "derived_maps": args.derived_maps,
        "sauc_negatives": args.sauc_negatives,
        "drop_first_fixation": args.drop_first_fixation,
        "ll_rule": args.ll_rule,
        "gold": args.gold,
        "average": args.average,
        "trained_images": args.trained_images,
        "density_sigma": dataset.sigma,
        "metrics": list(metrics),
        "metric_parameters": metric_parameters(dataset.sigma),
        "sources": sources(predictors, models),
        "predictors": summary,
        "by_category": report["categories"],
        "paired": report["pairs"],
        "notes": notes,
    }
    extra = {
        "table.tex": format_latex(summary, metrics, args.ig_baseline),
        "paired.md": format_pairs(report["pairs"]),
    }
    rows = report["rows"]
    for path in write_results(args.out, rows, document, report["table"], metrics, extra):
        print(f"wrote {path}", file=sys.stderr)
