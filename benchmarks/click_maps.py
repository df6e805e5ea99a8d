"""Write each image's click density of a BubbleView .mat file as a folder of maps
(``<id>_density.npy``, summing to 1), so that `salmap evaluate --predictions` can score clicks
as a predictor of other data: the OSIE-51 clicks against the eye fixations of the same images.

    python benchmarks/click_maps.py ../shared/datasets/bubbleview/osie30x30.mat --out clicks/
    salmap evaluate --predictions clicks/ --label "BubbleView clicks" \\
        --data ../shared/datasets/bubbleview/osie-eye-official.mat --split all --longer-side 512

The density is the clicks blurred as salmap blurs fixations (sigma 0.025 of the longer side).
"""

import argparse
from pathlib import Path

import numpy as np

from salmap.data import open_dataset
from salmap.data.fixations import density_map
from salmap.files import atomic_write_bytes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mat", help="a BubbleView .mat file")
    ap.add_argument("--out", required=True, help="folder for the maps (created)")
    args = ap.parse_args()
    data = open_dataset(args.mat, "bubbleview")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i in range(len(data)):
        shape = data.image_size(i)
        fix = data.fixations_inside(i, shape)[0]
        density = density_map(fix, shape, data.sigma).astype(np.float32)
        buf = out / f"{data.ids[i]}_density.npy"
        with open(buf.with_suffix(".tmp"), "wb") as f:
            np.save(f, density)
        atomic_write_bytes(buf, buf.with_suffix(".tmp").read_bytes())
        buf.with_suffix(".tmp").unlink()
    print(f"{len(data)} click densities -> {out}")


if __name__ == "__main__":
    main()
