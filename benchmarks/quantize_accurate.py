"""``accurate`` quantized to int8 as the fast map's export was tried (issue 22): exported to
ONNX (fp32), its convolutions quantized by onnxruntime's static quantization, calibrated on 64
*training* images of NUS-Scene and OSIE (``fast_crop.calibration_images``); then scored beside
the shipped ``accurate`` on a validation split:

    python benchmarks/quantize_accurate.py --nus ../shared/datasets/nus-scene \\
        --osie ../shared/datasets/osie --out /tmp/acc
    salmap evaluate --model accurate --model /tmp/acc/accurate-int8.onnx \\
        --data ../shared/datasets/nus-scene --metrics cc --no-baselines --longer-side 512 \\
        --out /tmp/acc/nus        # paired.md: the CC difference with its interval

The issue ships it only within 0.005 CC of today's on both validation splits (MODEL_CARD.md,
"A fast map for cropping", gives the result).
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fast_crop import calibration_images  # noqa: E402

from salmap.data import open_dataset  # noqa: E402
from salmap.export import export_onnx, quantize_int8  # noqa: E402
from salmap.models.io import load_model  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nus", required=True, help="NUS-Scene (calibration images)")
    ap.add_argument("--osie", required=True, help="OSIE (calibration images)")
    ap.add_argument("--out", type=Path, required=True, help="folder for the two exports")
    args = ap.parse_args()
    datasets = {
        "nus-scene": open_dataset(args.nus, "nus-scene"),
        "osie": open_dataset(args.osie, "osie"),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    fp32 = export_onnx(load_model("accurate", runner="torch"), args.out / "accurate.onnx")
    t = time.perf_counter()
    int8 = quantize_int8(fp32, args.out / "accurate-int8.onnx", calibration_images(datasets))
    for p in (fp32, int8):
        print(f"{p} ({p.stat().st_size / 1e6:.1f} MB)")
    print(f"quantized in {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
