#!/usr/bin/env bash
# Create a virtual environment in the repository root and install the pinned
# OpenMMLab stack (torch, mmengine, mmcv with its compiled ops, mmsegmentation,
# mmpretrain, openmim, onnx) plus mmseg_attn in editable mode and the test tools.
#
#   bash tools/misc/install.sh                                          # .venv, requirements/pins.txt
#   bash tools/misc/install.sh .venv-oldest requirements/pins-oldest.txt  # the low end of the torch range
#
# Idempotent: a stamp records the hash of the pins and package metadata, so a
# second run on the same machine returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-python3}
VENV=${1:-.venv}
PINS=${2:-requirements/pins.txt}
stamp_key=$(cat "$0" "$PINS" requirements/tests.txt setup.cfg setup.py pyproject.toml MANIFEST.in \
    | sha256sum | cut -c1-16)
STAMP="$VENV/.mmseg_attn-installed-$stamp_key"
# what mim reads is part of an up-to-date install: the links of mmseg_attn/.mim
# (made by setup.py) and <site-packages>/mmseg_attn (made below; a later
# `pip install -e .` on its own removes it)
mim_linked() {
    "$VENV/bin/python" -c 'import os, sys, sysconfig; sys.exit(not os.path.isfile(os.path.join(
        sysconfig.get_paths()["purelib"], "mmseg_attn", ".mim", "model-index.yml")))' 2>/dev/null
}
if [ -f "$STAMP" ] && mim_linked; then
    echo "[install] .venv is up to date ($STAMP)"
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
# the pinned requirement of one package, e.g. `pin mmcv` -> mmcv==2.1.0
pin() { grep -E "^$1[=<>]" "$PINS" | head -n 1; }
build_pin() { grep -E "^build: $1[=<>]" "$PINS" | head -n 1 | cut -d' ' -f2; }
# what torch needs beside it (numpy < 2 for torch 2.1), installed with torch
# and kept for every later install of this environment
CONSTRAINTS="$VENV/constraints.txt"
grep -E '^(numpy|opencv-python)[=<>]' "$PINS" > "$CONSTRAINTS" || true
pip install -q --upgrade pip
echo "[install] $(pin torch) (CPU build on machines without CUDA; see README for GPU)"
pip install -q -c "$CONSTRAINTS" "$(pin torch)" numpy
if ! "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
    # mmcv's compiled ops are built against one torch: each torch gets its own
    # wheel folder, and pip's cache (which would hand a wheel of the same name
    # built against another torch to this environment) is not used
    torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__)')
    mmcv_pin=$(pin mmcv)
    WHEELS=".wheels/${mmcv_pin/==/-}-torch$torch_version"
    if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
        echo "[install] mmcv with its compiled ops for torch $torch_version (about 8-11 minutes on 2 cores the first time)"
        pip install -q -c "$CONSTRAINTS" "$(build_pin setuptools)" wheel ninja
        MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} pip wheel -q --no-cache-dir \
            --no-build-isolation --no-deps -w "$WHEELS" "$(pin mmcv)"
    fi
    pip install -q -c "$CONSTRAINTS" "$WHEELS"/mmcv-*.whl
fi
echo "[install] mmengine, mmsegmentation, mmpretrain, openmim"
pip install -q -c "$CONSTRAINTS" "$(pin mmengine)" "$(pin mmsegmentation)" "$(pin mmpretrain)" \
    "$(pin openmim)" ftfy regex
# openmim's openxlab dependency pins an old setuptools that nothing here uses;
# torch and PEP 660 editable installs want a newer one.
pip install -q -c "$CONSTRAINTS" "$(pin setuptools)" 2>&1 | grep -v -e "dependency conflicts" -e "openxlab" || true
echo "[install] onnx, onnxruntime (ONNX export and inference, tools/deployment)"
# shellcheck disable=SC2046  # onnxscript (the dynamo exporter) only where pinned
pip install -q -c "$CONSTRAINTS" "$(pin onnx)" "$(pin onnxruntime)" $(pin onnxscript)
echo "[install] mmseg_attn (editable) and the test tools"
pip install -q --no-build-isolation --no-deps -e .
# mim (0.3.9) looks for <site-packages>/mmseg_attn/.mim, which a PEP 660 editable
# install does not create: link <site-packages>/mmseg_attn to the checkout's
# package (recorded in the install's RECORD, so `pip uninstall` removes the link).
"$VENV/bin/python" - <<'PY'
import glob, os, os.path as osp, sysconfig
site = sysconfig.get_paths()['purelib']
link, src = osp.join(site, 'mmseg_attn'), osp.abspath('mmseg_attn')
if osp.islink(link):
    os.remove(link)
if not osp.exists(link):  # never over a regular (non-editable) install
    os.symlink(src, link)
    for record in glob.glob(osp.join(site, 'mmseg_attn-*.dist-info', 'RECORD')):
        with open(record) as f:
            rows = f.read().splitlines()
        if 'mmseg_attn,,' not in rows:
            with open(record, 'a') as f:
                f.write('mmseg_attn,,\n')
PY
pip install -q -c "$CONSTRAINTS" -r requirements/tests.txt
"$VENV/bin/python" -c "import mmcv.ops, mmseg, mmpretrain, mmseg_attn; print('[install] ok:', mmseg_attn.__version__)"
rm -f "$VENV"/.mmseg_attn-installed-*
touch "$STAMP"
