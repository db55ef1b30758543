# The two entry points of the README. Both install first (idempotent: seconds
# when .venv is up to date).
PY := .venv/bin/python
OLDEST := .venv-oldest/bin/python
# what runs on the low end of the torch range (`make test-oldest`): the model,
# security, apis and export tests, and a FLANet, a BiSeNet and a CBAM model
# trained and evaluated by mmseg's tools/train.py and tools/test.py on toy data
OLDEST_TESTS := tests/test_models tests/test_security tests/test_apis tests/test_deployment \
	tests/test_tools/test_deployment tests/test_architecture.py \
	tests/test_compat.py tests/test_utils \
	tests/test_configs/test_flanet_e2e.py::test_train_and_evaluate_with_mmseg_tools \
	"tests/test_configs/test_bisenet_configs.py::test_mmseg_tools_train_and_test[cityscapes]" \
	tests/test_configs/test_attention_configs.py::test_train_and_test_with_mmseg_tools

.PHONY: install install-oldest demo test test-oldest lint gallery

install:
	bash tools/misc/install.sh

# torch 2.1.2, numpy < 2 and mmcv 2.1.0 compiled against them, in .venv-oldest/
install-oldest:
	bash tools/misc/install.sh .venv-oldest requirements/pins-oldest.txt

demo: install
	$(PY) tools/misc/demo.py

# Trains small models on the toy Cityscapes on the CPU (~15 min) and writes
# docs/gallery.md with its pictures under docs/gallery/.
gallery: install
	$(PY) tools/misc/make_gallery.py

lint: install
	.venv/bin/ruff check mmseg_attn tools tests configs

test: lint
	$(PY) -m pytest tests -q -p no:cacheprovider -n 2 --dist worksteal

test-oldest: install-oldest
	$(OLDEST) -m pytest $(OLDEST_TESTS) -q -p no:cacheprovider -n 2 --dist worksteal
