# The two entry points of the README. Both install first (idempotent: seconds
# when .venv is up to date).
PY := .venv/bin/python

.PHONY: install demo test lint gallery

install:
	bash tools/install.sh

demo: install
	$(PY) tools/demo.py

# Trains small models on the toy Cityscapes on the CPU (~15 min) and writes
# docs/gallery.md with its pictures under docs/gallery/.
gallery: install
	$(PY) tools/make_gallery.py

lint: install
	.venv/bin/ruff check mmseg_attn tools tests configs

test: lint
	$(PY) -m pytest tests -q -p no:cacheprovider
