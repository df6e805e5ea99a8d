#!/usr/bin/env bash
# Thumbnails of large photos, start-up included, each tool pinned to one core (taskset -c CORE)
# and the rounds in turn: libvips' thumbnail with an attention crop (benchmarks/vips_crop.py
# --size: what sharp's resize(w, h, {position: "attention"}) runs, the JPEG shrunk on load) and
# `salmap crop --size WxH` (the JPEG decoded only as large as the crops and the model need).
# The photos: the first N JPEGs of IMAGES_DIR at least 1024 px on their longer side, enlarged
# to 12 megapixels (4000 x 3000 for a 4:3 photo; benchmarks/bench_predict.py's photos()), JPEG
# quality 90, in a temporary folder.
# Usage: benchmarks/bench_thumbnail_speed.sh IMAGES_DIR [N=40] [SIZE=400x400] [CORE=1] [ROUNDS=2]
set -euo pipefail
dir=${1:?usage: bench_thumbnail_speed.sh IMAGES_DIR [N] [SIZE] [CORE] [ROUNDS]}
n=${2:-40}
size=${3:-400x400}
core=${4:-1}
rounds=${5:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 - "$dir" "$n" "$out/in" <<'PY'
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, "benchmarks")
from bench_predict import photos  # noqa: E402

src, n, out = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
out.mkdir()
large = [p for p in sorted(src.glob("*.jpg")) if max(Image.open(p).size) >= 1024]
done = photos(n, out, pixels=(12e6,), source=large, quality=90)
print(f"{len(done)} photos of {src} enlarged to 12 megapixels; thumbnails of ", end="")
PY
echo "$size, pinned to core $core"
mapfile -t images < <(find "$out/in" -name '*.jpg' | sort)
# shellcheck source=benchmarks/timed_run.sh
source "$(dirname "$0")/timed_run.sh"
for r in $(seq "$rounds"); do
    echo "round $r"
    run "libvips thumbnail, attention" python benchmarks/vips_crop.py "$out/x" "${images[@]}" --size "$size"
    run "salmap crop --size $size" salmap crop "${images[@]}" --out "$out/x" --size "$size"
done
