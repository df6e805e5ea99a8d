#!/usr/bin/env bash
# Run `salmap predict` and `salmap crop` (local engine and Ray) on the bundled images and print
# a sha256 listing of every file they write, with each run's exit status and summary line.
# Run it before and after a change to the batch code and diff the two listings: the outputs
# must be byte-identical.
#
#   scripts/check_batch_outputs.sh > before.txt   # ... change ... then
#   scripts/check_batch_outputs.sh > after.txt && diff before.txt after.txt
#
# The inputs are copied to a fixed folder ($CHECK_DIR/in: the bundled images, a sub-folder,
# a file that is not an image and one that is broken) and the outputs go to fixed folders
# ($CHECK_DIR/out/<run>), so that the absolute input paths manifest.jsonl and crops.jsonl hold
# are the same on every run; both folders are emptied first. Nothing in the outputs holds a
# time stamp. Needs the dev install (.venv), Ray included; takes a few minutes on two cores.
set -euo pipefail

cd "$(dirname "$0")/.."
SALMAP=${SALMAP:-.venv/bin/salmap}
CHECK_DIR=${CHECK_DIR:-/tmp/salmap_check_batch}
IN=$CHECK_DIR/in
OUT=$CHECK_DIR/out
rm -rf "$CHECK_DIR"
mkdir -p "$IN/sub" "$OUT"
cp salmap/data/nus_mini/images/*.jpg "$IN/"
cp salmap/data/nus_mini/images/048.jpg "$IN/sub/048.jpg"  # the same name in a sub-folder
cp salmap/data/nus_mini/images/078.jpg "$IN/078.png"      # a.jpg and a.png: a-2
echo "not an image" > "$IN/notes.txt"
head -c 100 salmap/data/nus_mini/images/173.jpg > "$IN/sub/broken.jpg"

run() {  # run NAME ARGS...: one salmap command, its status and stdout (tqdm's bars and Ray's log lines left out)
    local name=$1
    shift
    local status=0
    "$SALMAP" "$@" > "$CHECK_DIR/$name.stdout" 2> "$CHECK_DIR/$name.stderr" || status=$?
    echo "== $name: exit $status"
    cat "$CHECK_DIR/$name.stdout"
    grep -v '%|' "$CHECK_DIR/$name.stderr" | grep -Ev '^\s*$|^\[?[0-9]{4}-[0-9]{2}-[0-9]{2} |^\(' || true
}

run predict-plain predict "$IN" --out "$OUT/predict-plain"
run predict-all predict "$IN" --out "$OUT/predict-all" --save map,density,overlay,fog,side-by-side
run predict-more predict "$IN" "$IN/sub/*.jpg" --out "$OUT/predict-more" \
    --save map,density,log-density --bits 16 --density-dtype float16 --max-output-side 200
run predict-image-naming predict "$IN" --out "$OUT/predict-image-naming" --naming image \
    --save map,density
run crop crop "$IN" --out "$OUT/crop" --save crop,preview
run predict-ray predict "$IN" --out "$OUT/predict-ray" \
    --save map,density,overlay,fog,side-by-side --engine ray --actors 1
run crop-ray crop "$IN" --out "$OUT/crop-ray" --save crop,preview --engine ray --actors 1
# a resumed run on each engine: the manifest keeps the earlier lines, only missing files redone
rm "$OUT/predict-all/048_map.png" "$OUT/predict-ray/048_map.png"
run predict-resume predict "$IN" --out "$OUT/predict-all" \
    --save map,density,overlay,fog,side-by-side --skip-existing
run predict-ray-resume predict "$IN" --out "$OUT/predict-ray" \
    --save map,density,overlay,fog,side-by-side --skip-existing --engine ray --actors 1

echo "== files"
(cd "$OUT" && find . -type f | LC_ALL=C sort | xargs sha256sum)
