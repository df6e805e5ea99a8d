#!/usr/bin/env bash
# The seed's experiment at full scale on one GPU, everything under OUTDIR:
#   1. env    a virtual environment on the machine's own PyTorch (see below), versions recorded
#   2. bench  benchmarks/bench_train.py (fp32 batch-4 naive loop vs the fast path, and the fast
#             path with torch.compile reduce-overhead, same run) and the GPU rows of
#             benchmarks/bench_predict.py
#   3. train1 salmap train configs/seed.yaml to epoch 100 (random init: ResNet-50's ImageNet
#             weights cannot be fetched there; the recipe otherwise exact: 512x512, BCE, plain
#             SGD 1e-4, batch 4, 20% validation, models kept at epochs 50/100/200), fast path
#   4. train2 --resume to epoch 200 (two commands, each under the device's 10-minute limit)
#   5. report salmap report, then OUTDIR/results.tar.gz: logs, metrics, report (no weights)
#
#   benchmarks/gpu_run.sh OUTDIR [--tiny] [--data DIR] [--stages env,bench,train1,train2,report]
#
# --tiny: the same steps at toy scale (tiny encoder, 64 px, 4 epochs kept at 1/2/4, the mini
# dataset for the benchmark), to prove the script on a CPU. The dataset defaults to
# .gpu-data/nus-scene, a copy of ../shared/datasets/nus-scene inside the repository (ignored by
# git) because the GPU machine receives only the repository and carried paths.
#
# On the project's lent GPU machines (the device tool; nothing but the repository and carried
# paths reach them, and a command may run 10 minutes), from the repository root:
#   mkdir -p .gpu-data && cp -r ../shared/datasets/nus-scene .gpu-data/   # 34 MB, git-ignored
#   call 1, carry [".gpu-data"], timeout_s 590:
#     benchmarks/gpu_run.sh runs/gpu --stages env,bench,train1 && tar czf $OUT/part1.tar.gz \
#       -C runs/gpu --exclude=venv --exclude=cache --exclude='*models' --exclude='*checkpoints' .
#   call 2, at once (runs/ is git-ignored, so runs/gpu stays on the warm machine), same carry:
#     benchmarks/gpu_run.sh runs/gpu --stages env,train2,report && cp runs/gpu/results.tar.gz $OUT/
# If the machine went back in between, call 2 is `--stages env,train1` then a third call as above.
#
# The environment: the GPU machine cannot reach PyPI, and the project's pinned CUDA wheels of
# torch 2.14.1 (about 900 MB with their CUDA libraries) exceed what a call can carry (64 MiB).
# So the venv is made over the machine's python3 (its packages visible to it), whose PyTorch
# (2.11 with CUDA 13 when this was written) and every other dependency of salmap are installed
# there; salmap itself comes from this checkout (a .pth file); wheels in .whl/ (carried) are
# installed into it when present. SALMAP_VENV=DIR uses an existing environment instead.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

usage() { echo "usage: $0 OUTDIR [--tiny] [--data DIR] [--stages env,bench,train1,train2,report]" >&2; exit 2; }
[ $# -ge 1 ] || usage
OUTDIR=$1; shift
TINY=0; DATA=.gpu-data/nus-scene; STAGES=env,bench,train1,train2,report
while [ $# -gt 0 ]; do
    case $1 in
        --tiny) TINY=1 ;;
        --data) DATA=$2; shift ;;
        --stages) STAGES=$2; shift ;;
        *) usage ;;
    esac
    shift
done
[ -d "$DATA" ] || { echo "$0: no dataset at $DATA (copy ../shared/datasets/nus-scene there)" >&2; exit 2; }
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
DATA=$(cd "$DATA" && pwd)
RUN=$OUTDIR/seed
export XDG_CACHE_HOME=$OUTDIR/cache PYTHONUNBUFFERED=1 TQDM_MININTERVAL=30
has() { [[ ",$STAGES," == *",$1,"* ]]; }
stamp() { echo "== $(date -u +%H:%M:%S) $*" | tee -a "$OUTDIR/stages.log"; }

if [ $TINY = 1 ]; then
    MODEL_SET=(--set model.encoder=tiny --set model.decoder=fpn --set 'model.decoder_args={width: 16}')
    SEED_SET=("${MODEL_SET[@]}" --set 'model.input_size=[64,64]' --set 'checkpoint_epochs=[1,2,4]'
              --set data.workers=0)
    HALF=2; FULL=4; EVAL_EVERY=1; SAVE_EVERY=1
    BENCH=(--size 64 --epochs 2 "${MODEL_SET[@]}" --set data.workers=0)
else
    SEED_SET=()
    HALF=100; FULL=200; EVAL_EVERY=5; SAVE_EVERY=10
    BENCH=(--data "$DATA" --size 512 --epochs 3 --compile reduce-overhead)
fi

# -- env ---------------------------------------------------------------------------------------
VENV=${SALMAP_VENV:-$OUTDIR/venv}
if has env && [ -z "${SALMAP_VENV:-}" ]; then
    stamp "env: $VENV"
    BASE=${PYTHON:-python3}
    [ -x "$VENV/bin/python" ] || "$BASE" -m venv --system-site-packages "$VENV"
    site=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$REPO" > "$site/salmap-checkout.pth"
    # the machine's python3 may itself be a venv (/opt/torch/.venv): --system-site-packages
    # reaches only the interpreter below it, so its own packages are added by a .pth file
    "$BASE" -c 'import site; print("\n".join(site.getsitepackages()))' > "$site/base-python.pth"
    if compgen -G ".whl/*.whl" > /dev/null; then
        "$VENV/bin/python" -m pip install -q --no-index --no-deps --no-compile .whl/*.whl
    fi
fi
PY=$VENV/bin/python
salmap() { "$PY" -m salmap.cli "$@"; }
"$PY" - <<'EOF' | tee "$OUTDIR/env.txt"
import importlib, platform, torch
import salmap
names = ["numpy", "scipy", "PIL", "torchvision", "timm", "torchmetrics", "safetensors", "yaml",
         "matplotlib", "tqdm", "tensorboard", "onnx", "onnxruntime"]
versions = {n: getattr(importlib.import_module(n), "__version__", "?") for n in names}
gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda}), GPU {gpu}")
print(f"salmap {salmap.__version__} from {salmap.__file__}")
print(", ".join(f"{k} {v}" for k, v in versions.items()))
EOF

# -- bench -------------------------------------------------------------------------------------
if has bench; then
    stamp "bench_train ${BENCH[*]}"
    "$PY" benchmarks/bench_train.py "${BENCH[@]}" --out "$OUTDIR/bench" | tee "$OUTDIR/bench_train.txt"
    stamp "bench_predict"
    if "$PY" -c 'import torch, sys; sys.exit(not torch.cuda.is_available())'; then
        "$PY" benchmarks/bench_predict.py --gpu-only --photos 32 --screens 8 | tee "$OUTDIR/bench_predict.txt"
    else
        echo "no GPU: bench_predict's GPU rows skipped" | tee "$OUTDIR/bench_predict.txt"
    fi
fi

# -- train -------------------------------------------------------------------------------------
TRAIN_SET=(--set model.encoder_weights=null --set eval_every=$EVAL_EVERY --set save_every=$SAVE_EVERY)
if has train1; then
    stamp "train1: epochs 1-$HALF"
    salmap train configs/seed.yaml --data "$DATA" --out "$RUN" --epochs $HALF \
        "${TRAIN_SET[@]}" "${SEED_SET[@]}" 2>&1 | tee "$OUTDIR/train1.log"
fi
if has train2; then
    stamp "train2: epochs $((HALF + 1))-$FULL (resume)"
    salmap train --out "$RUN" --resume --epochs $FULL --data "$DATA" 2>&1 | tee "$OUTDIR/train2.log"
fi

# -- report ------------------------------------------------------------------------------------
if has report; then
    stamp "report"
    salmap report "$RUN" --data "$DATA" --overwrite | tee "$OUTDIR/report.log"
    stamp "pack"
    (cd "$OUTDIR" && tar czf results.tar.gz --exclude='seed/models' --exclude='seed/checkpoints' \
        --exclude='bench/*/models' --exclude='bench/*/checkpoints' --exclude='bench/cache' \
        ./*.txt ./*.log seed bench 2>/dev/null || true)
    ls -l "$OUTDIR/results.tar.gz"
fi
stamp "done"
