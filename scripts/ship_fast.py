"""Ship the shipped ``default`` model's fast export, what ``salmap crop`` runs by default
(``--map fast``) and ``salmap predict --fast`` offers, as ONNX with fp16 weights (float32
arithmetic), as default.onnx is.

What ships is a student: ``default`` at a 224 x 224 input, fine-tuned by
benchmarks/distill_fast.py to give the maps ``default`` gives at its own 512 input, on the
training images of NUS-Scene, OSIE and EyeCrowd (no validation image, no fixation). Scored by
benchmarks/fast_crop.py on the validation splits (MODEL_CARD.md, "A fast map for cropping"), it
keeps as many fixations as the shipped weights at 384 did, in 42-45% of their time:

    python benchmarks/distill_fast.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie --eyecrowd ../shared/datasets/eyecrowd --side 224 --out RUNS
    python scripts/ship_fast.py --student RUNS/distilled-224

Without ``--student``, the shipped weights at ``--input`` (the fast export before the student:
384). int8 (``--int8``: :func:`salmap.export.quantize_int8`, calibrated on 64 training images of
NUS-Scene and OSIE) lost more fixations than it saved time, so it is not shipped.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", type=Path, help="a run folder of benchmarks/distill_fast.py")
    ap.add_argument("--input", type=int, default=384, help="without --student: input side")
    ap.add_argument("--int8", action="store_true", help="quantize (needs --nus and --osie)")
    ap.add_argument("--nus", help="NUS-Scene, for --int8's calibration images")
    ap.add_argument("--osie", help="OSIE, for --int8's calibration images")
    args = ap.parse_args()
    if args.student:
        model = load_model(str(args.student / "models" / "final"), runner="torch")
    else:
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
