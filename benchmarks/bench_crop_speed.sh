#!/usr/bin/env bash
# Whole runs, start-up included, each pinned to one core (taskset -c CORE), one after the other
# and repeated ROUNDS times in turn (so that a busy machine slows them alike): libvips'
# attention crop (benchmarks/vips_crop.py, writing the crops), `salmap crop --map full` (the
# map at the image's resolution, the model's own 512 input) and `salmap crop` (the default,
# --map fast), each cropping the same N images to 1:1 and writing them. ALSO="options" adds a
# row: `salmap crop` with those options (e.g. ALSO="--model old.fast.onnx" for another fast map);
# FULL=no leaves out the --map full row (eight times the others' time).
# Usage: [ALSO=...] [FULL=no] benchmarks/bench_crop_speed.sh IMAGES_DIR [N=300] [CORE=1] [ROUNDS=2]
set -euo pipefail
dir=${1:?usage: bench_crop_speed.sh IMAGES_DIR [N] [CORE] [ROUNDS]}
n=${2:-300}
core=${3:-1}
rounds=${4:-2}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
mapfile -t images < <(find "$dir" -maxdepth 1 -iname '*.jpg' | sort | head -n "$n")
echo "${#images[@]} images of $dir, 1:1 crops written, pinned to core $core"
# shellcheck source=benchmarks/timed_run.sh
source "$(dirname "$0")/timed_run.sh"
for r in $(seq "$rounds"); do
    echo "round $r"
    run "libvips attention" python benchmarks/vips_crop.py "$out/x" "${images[@]}"
    if [ "${FULL:-yes}" != no ]; then
        run "salmap crop --map full" salmap crop "${images[@]}" --out "$out/x" --aspect 1:1 --map full
    fi
    run "salmap crop (fast)" salmap crop "${images[@]}" --out "$out/x" --aspect 1:1
    if [ -n "${ALSO:-}" ]; then
        # shellcheck disable=SC2086  # the options are words
        run "salmap crop $ALSO" salmap crop "${images[@]}" --out "$out/x" --aspect 1:1 $ALSO
    fi
done
