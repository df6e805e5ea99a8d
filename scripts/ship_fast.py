"""Ship the shipped ``default`` model's fast export, what ``salmap crop`` runs by default
(``--map fast``) and ``salmap predict --fast`` offers: the same weights at a 384 x 384 input
(:func:`salmap.models.io.at_input_size`), exported to ONNX with fp16 weights (float32
arithmetic), as default.onnx is. The input size was chosen with benchmarks/fast_crop.py
(MODEL_CARD.md); int8 (``--int8``: :func:`salmap.export.quantize_int8`, calibrated on 64
training images of NUS-Scene and OSIE) lost more fixations than it saved time there, so it
is not shipped.

    python scripts/ship_fast.py [--int8 --nus ../shared/datasets/nus-scene --osie ...]
"""

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from fast_crop import calibration_images  # noqa: E402

from salmap.data import open_dataset  # noqa: E402
from salmap.export import export_onnx, quantize_int8  # noqa: E402
from salmap.models.io import FAST_SUFFIX, at_input_size, load_model, shipped_file  # noqa: E402

FAST_INPUT = 384


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--input", type=int, default=FAST_INPUT, help="input side in pixels")
    ap.add_argument("--int8", action="store_true", help="quantize (needs --nus and --osie)")
    ap.add_argument("--nus", help="NUS-Scene, for --int8's calibration images")
    ap.add_argument("--osie", help="OSIE, for --int8's calibration images")
    args = ap.parse_args()
    model = at_input_size(load_model("default", runner="torch"), args.input)
    target = shipped_file("default", FAST_SUFFIX)
    if not args.int8:
        export_onnx(model, target, half=True)
    else:
        datasets = {
            "nus-scene": open_dataset(args.nus, "nus-scene"),
            "osie": open_dataset(args.osie, "osie"),
        }
        with tempfile.TemporaryDirectory() as tmp:
            fp32 = export_onnx(model, Path(tmp) / "fp32.onnx")
            quantize_int8(fp32, target, calibration_images(datasets))
    print(f"{target} ({target.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
