"""Record which images a shipped model was trained on, beside its weights, for models shipped
before training recorded it (see :mod:`salmap.leakage`): ``salmap/weights/NAME.trained.json``
with the SHA-256 prefixes of the files of the training split of each data set, the split read
from the model's own recipe (its seed and validation fraction).

    python scripts/record_trained_images.py default accurate \\
        --data ../shared/datasets/nus-scene --data ../shared/datasets/osie
"""

import argparse
import json
from pathlib import Path

from salmap import leakage, load_model
from salmap.data import SplitRule, open_dataset
from salmap.files import atomic_write_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", help="shipped model names")
    ap.add_argument("--data", action="append", required=True, help="each training data set")
    args = ap.parse_args()
    for name in args.models:
        model = load_model(name, runner="torch")
        data = model.training_recipe.get("data", {})
        formats = data.get("format")
        formats = formats if isinstance(formats, list) else [formats]
        rule = SplitRule(int(data.get("split_seed", 0)), float(data.get("val_fraction", 0.2)))
        sets = [open_dataset(path) for path in args.data]
        if sorted(ds.format for ds in sets) != sorted(formats):
            raise SystemExit(f"{name} was trained on {formats}, not on {args.data}")
        parts = [rule.part(ds, "train") for ds in sets]
        entry = leakage.record(parts)
        entry["data"] = {ds.format: len(p) for ds, p in zip(sets, parts)}
        entry["split"] = rule.describe()
        out = leakage.sidecar(model.source)
        text = json.dumps({leakage.KEY: entry}, indent=1) + "\n"
        atomic_write_bytes(out, text.encode())
        print(f"{out}: {entry['count']} images ({entry['data']}), {Path(out).stat().st_size} bytes")


if __name__ == "__main__":
    main()
