#!/usr/bin/env bash
# The "Designs and charts" tables of MODEL_CARD.md: the shipped models and the baselines on
# EyeCrowd (val split), the GDI designs (clicks; CC, KLD and SIM against the GDI importance
# maps), the MASSVIS charts (clicks), and the OSIE-51 BubbleView clicks scored as a predictor of
# the eye fixations of the same images. ACCURATE=FILE scores `accurate` through its ONNX export
# (`salmap export --model accurate --half --out FILE`: the same maps, 4x faster on a CPU).
# Usage: [ACCURATE=FILE] benchmarks/designs_table.sh OUTDIR [SHARED]
set -euo pipefail
out=${1:?usage: designs_table.sh OUTDIR [SHARED]}
shared=${2:-../shared/datasets}
bv=$shared/bubbleview
accurate=${ACCURATE:-accurate}
models=(--model default --model "$accurate" --model centre-fit)
# as the card says: derived maps for the fixation metrics (NSS and CC, the card's columns, are
# the same either way)
derived=(--derived-maps fixations)
mkdir -p "$out"
salmap evaluate "${models[@]}" "${derived[@]}" --data "$shared/eyecrowd" --split val --longer-side 512 \
    --out "$out/eyecrowd" --overwrite
for set in gdi30x50 massvis_fv_40x32; do
    salmap evaluate "${models[@]}" "${derived[@]}" --data "$bv/$set.mat" --split all --longer-side 512 \
        --out "$out/$set" --overwrite
done
python benchmarks/click_maps.py "$bv/osie30x30.mat" --out "$out/osie51-clicks"
salmap evaluate --predictions "$out/osie51-clicks" --label "BubbleView clicks" "${derived[@]}" \
    --model default --model "$accurate" --data "$bv/osie-eye-official.mat" --split all \
    --longer-side 512 --trained-images separate --out "$out/osie51" --overwrite
