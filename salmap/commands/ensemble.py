"""``salmap ensemble MODEL MODEL ... --out DIR``: one model from several, their maps averaged."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser(
        "ensemble",
        help="combine trained models into one whose map is the (weighted) mean of theirs",
        description="Combine saved models (softmax outputs, same input size, aspect mode and "
        "normalisation) into one model folder: its map is the weighted mean of the members' "
        "maps, a mixture in probability as DeepGaze IIE's. The result predicts, evaluates, "
        "serves and exports like any model.",
    )
    p.add_argument("models", nargs="+", help="model folders, .safetensors files or shipped names")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument(
        "--weights",
        type=float,
        nargs="+",
        help="one non-negative weight per model (default: equal)",
    )
    p.add_argument(
        "--flip-average",
        action="store_true",
        help="each member also sees the mirror image (its map mirrored back): twice the compute",
    )
    p.add_argument("--half", action="store_true", help="store the weights as float16")
    p.add_argument(
        "--by-name",
        action="store_true",
        help="store members given by a shipped model's name ('default') by that name instead "
        "of copying their weights: a smaller file that needs this installation's shipped models",
    )
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(run=run)


def run(args) -> int:
    from salmap.commands import new_output
    from salmap.errors import SalmapError
    from salmap.models.ensemble import EnsembleModel
    from salmap.models.io import load_model, model_label

    out = new_output(args.out, args.overwrite)
    if len(args.models) < 2:
        raise SalmapError("an ensemble needs at least two models")
    if args.weights is not None and len(args.weights) != len(args.models):
        raise SalmapError(f"--weights: {len(args.weights)} weights for {len(args.models)} models")
    members, recipes = [], []
    for name in args.models:
        model = load_model(name, runner="torch")
        if isinstance(model, EnsembleModel):
            raise SalmapError(f"{name}: is an ensemble already; give its members instead")
        members.append(model)
        recipes.append({"model": model_label(name), "training": model.training_recipe})
    ensemble = EnsembleModel(members, args.weights, args.flip_average)
    if args.by_name:
        from salmap.models.io import SHIPPED

        ensemble.shipped = {k: n for k, n in enumerate(args.models) if n in SHIPPED}
    # the split evaluate scores on is the members' when they agree on it, else none recorded
    splits = {_split(m.training_recipe) for m in members}
    recipe = {"members": recipes}
    if len(splits) == 1:
        recipe["data"] = members[0].training_recipe.get("data", {})
    else:
        print("note: the members were trained on different data or splits; none is recorded")
    ensemble.save(out, training=recipe, half=args.half)
    shares = ", ".join(f"{r['model']} {w:.3g}" for r, w in zip(recipes, ensemble.weights))
    print(f"wrote {out} ({shares})")
    return 0


def _split(recipe: dict) -> str:
    import json

    data = (recipe or {}).get("data") or {}
    keys = ("path", "format", "split_seed", "val_fraction")
    return json.dumps({k: data.get(k) for k in keys}, sort_keys=True)
