#!/usr/bin/env bash
# Creates .venv with salmap and its test tools installed (editable). Idempotent.
# On x86-64 Linux we pin torch 2.14.1 / torchvision 0.29.1: newer releases are not needed
# and these install from local files on the project's machines.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
stamp=$VENV/.installed-$(cat pyproject.toml scripts/venv.sh | cksum | cut -d' ' -f1)
[ -f "$stamp" ] && exit 0
[ -x $VENV/bin/python ] || "$PY" -m venv $VENV
pip() { $VENV/bin/python -m pip --disable-pip-version-check -q "$@"; }
if [ "$(uname -s)-$(uname -m)" = "Linux-x86_64" ]; then
    pip install "torch==2.14.1" "torchvision==0.29.1"
fi
pip install -e ".[dev]"
rm -f $VENV/.installed-*
touch "$stamp"
