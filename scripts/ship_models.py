"""Copy trained models into the package as the shipped ``default`` and ``accurate`` models:
fp16 safetensors with their JSON configs, and default's ONNX export (what predicts without
PyTorch). ``accurate`` is the mixture of ``default`` and the other models given, each
averaged over the image and its mirror image, holding ``default`` by name (stored once).

    python scripts/ship_models.py runs/shipped/lite0/models/final \\
        --with runs/shipped/lite1/models/final runs/shipped/lite2/models/final
"""

import argparse
import shutil
import tempfile
from pathlib import Path

from salmap import load_model
from salmap.export import export_onnx
from salmap.models.ensemble import EnsembleModel
from salmap.models.io import CONFIG, WEIGHTS, save_model, shipped_file


def ship(model, name: str, training: dict) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, tmp, training=training, half=True)
        target = shipped_file(name)
        target.parent.mkdir(exist_ok=True)
        shutil.copy(Path(tmp) / WEIGHTS, target)
        shutil.copy(Path(tmp) / CONFIG, target.with_suffix(".json"))
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("default", help="the model to ship as default (one backbone)")
    ap.add_argument("--with", dest="others", nargs="+", required=True, help="accurate's others")
    args = ap.parse_args()
    model = load_model(args.default, runner="torch")
    ship(model, "default", model.training_recipe)
    default = load_model("default", runner="torch")  # as shipped: fp16 weights
    export_onnx(default, shipped_file("default", ".onnx"), half=True)
    print(f"{shipped_file('default', '.onnx')}")
    others = [load_model(o, runner="torch") for o in args.others]
    accurate = EnsembleModel([default, *others], flip_average=True)
    accurate.shipped = {0: "default"}
    members = [{"model": "default", "training": default.training_recipe}]
    members += [
        {"model": str(o), "training": m.training_recipe} for o, m in zip(args.others, others)
    ]
    ship(
        accurate, "accurate", {"data": default.training_recipe.get("data", {}), "members": members}
    )


if __name__ == "__main__":
    main()
