#!/usr/bin/env bash
# Create .venv/ in the repository root and install the pinned OpenMMLab stack
# (torch, mmengine, mmcv with its compiled ops, mmsegmentation, mmpretrain,
# openmim) plus mmseg_attn in editable mode and the test tools.
#
# Idempotent: a stamp records the hash of the pins and package metadata, so a
# second run on the same machine returns in seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
PINS=requirements/pins.txt
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
pip install -q --upgrade pip
echo "[install] torch (CPU build on machines without CUDA; see README for GPU)"
pip install -q "$(pin torch)"
if ! "$VENV/bin/python" -c "import mmcv.ops" 2>/dev/null; then
    echo "[install] mmcv with its compiled ops (about 11 minutes on 2 cores the first time)"
    pip install -q "$(build_pin setuptools)" wheel ninja numpy
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        pip install --no-build-isolation "$(pin mmcv)"
fi
echo "[install] mmengine, mmsegmentation, mmpretrain, openmim"
pip install -q "$(pin mmengine)" "$(pin mmsegmentation)" "$(pin mmpretrain)" \
    "$(pin openmim)" ftfy regex
# openmim's openxlab dependency pins an old setuptools that nothing here uses;
# torch and PEP 660 editable installs want a newer one.
pip install -q "$(pin setuptools)" 2>&1 | grep -v -e "dependency conflicts" -e "openxlab" || true
echo "[install] onnx, onnxruntime, onnxscript (ONNX export and inference, tools/deployment)"
pip install -q "$(pin onnx)" "$(pin onnxruntime)" "$(pin onnxscript)"
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
pip install -q -r requirements/tests.txt
"$VENV/bin/python" -c "import mmcv.ops, mmseg, mmpretrain, mmseg_attn; print('[install] ok:', mmseg_attn.__version__)"
rm -f "$VENV"/.mmseg_attn-installed-*
touch "$STAMP"
