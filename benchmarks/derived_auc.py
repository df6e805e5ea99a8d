"""AUC-Borji, sAUC and AUC-Judd of one model's densities, as p, log p, rank(p) and the derived
maps of `salmap evaluate --derived-maps`, side by side on the same images.

    python benchmarks/derived_auc.py --data ../shared/datasets/eyecrowd --format osie --n 200

Under MIT's thresholded AUCs the map's scale matters although every map orders the pixels
alike; the derived maps (salmap.derived) are meant to score at least as well as any of them.
Run it on images the model was not trained on and that are not the split you report.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

import salmap
from salmap.data import SplitRule, open_dataset
from salmap.derived import rank_map
from salmap.evaluate import evaluate, summarize

METRICS = ("auc_judd", "auc_borji", "sauc")


class Memo:
    """The model's density of the image last asked for (evaluate asks each predictor in turn
    about the same image array)."""

    def __init__(self, model):
        self.model, self.image, self.density = model, None, None

    def __call__(self, image):
        if image is not self.image:
            self.image, self.density = image, self.model.predict(image).astype(np.float64)
        return self.density


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--format")
    ap.add_argument("--model", default="default")
    ap.add_argument("--split", default="all")
    ap.add_argument("--n", type=int, default=0, help="the first N images of the split (0: all)")
    ap.add_argument("--longer-side", type=int, default=512)
    ap.add_argument("--out", help="write the summary as JSON here")
    args = ap.parse_args()

    data = open_dataset(args.data, args.format)
    part = SplitRule().part(data, args.split)
    if args.n:
        part = part.subset(range(min(args.n, len(part))))
    memo = Memo(salmap.load_model(args.model))
    tiny = np.finfo(np.float64).tiny
    predictors = {
        "p": memo,
        "log p": lambda im: np.log(np.maximum(memo(im), tiny)),
        "rank(p)": lambda im: rank_map(memo(im)),
    }
    t0 = time.perf_counter()
    kw = dict(split="all", longer_side=args.longer_side, metrics=METRICS)
    rows = evaluate(part, predictors, **kw)
    rows += [r | {"predictor": "derived"} for r in evaluate(part, {"p": memo}, derived=True, **kw)]
    summary = summarize(rows, METRICS)
    print(
        f"{data.format} {args.data}: {len(part)} images, {args.model}, longer side "
        f"{args.longer_side}, MIT definitions ({time.perf_counter() - t0:.0f} s)\n"
    )
    print("| map | " + " | ".join(METRICS) + " |")
    print("| --- |" + " ---: |" * len(METRICS))
    for name, s in summary.items():
        cells = [f"{s['metrics'][m]['mean']:.4f}" for m in METRICS]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
