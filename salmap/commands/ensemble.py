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
    from salmap.models.combine import combine

    out = new_output(args.out, args.overwrite)
    ensemble, recipe, notes = combine(args.models, args.weights, args.flip_average, args.by_name)
    for note in notes:
        print(f"note: {note}")
    ensemble.save(out, training=recipe, half=args.half)
    members = [r["model"] for r in recipe["members"]]
    shares = ", ".join(f"{m} {w:.3g}" for m, w in zip(members, ensemble.weights))
    print(f"wrote {out} ({shares})")
    return 0
