"""Copy a trained model into the package as the default: fp16 safetensors + its JSON config.

python scripts/ship_default.py runs/default/models/best
"""

import shutil
import sys
import tempfile
from pathlib import Path

from salmap import load_model
from salmap.models.io import CONFIG, DEFAULT_MODEL, WEIGHTS, save_model


def main(source: str) -> None:
    model = load_model(source)
    with tempfile.TemporaryDirectory() as tmp:
        save_model(model, tmp, training=model.training_recipe, half=True)
        DEFAULT_MODEL.parent.mkdir(exist_ok=True)
        shutil.copy(Path(tmp) / WEIGHTS, DEFAULT_MODEL)
        shutil.copy(Path(tmp) / CONFIG, DEFAULT_MODEL.with_suffix(".json"))
    print(f"{DEFAULT_MODEL} ({DEFAULT_MODEL.stat().st_size / 1e6:.1f} MB) from {source}")


if __name__ == "__main__":
    main(sys.argv[1])
