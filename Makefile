# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test package benchmark screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# torch + torchvision (SAM 2/3 in transformers need torchvision). Without an NVIDIA
# GPU, PyTorch's CPU builds are preferred so several GB of CUDA wheels are not
# downloaded; when that index does not answer a 5 s probe, pip's configured indexes
# are used at once. The installed pair is then proved (a torchvision operator runs)
# and replaced by a matching one if it fails: packaging/install_torch.py says what it did.
# TORCH_INDEX= (empty) skips the CPU index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(STAMP): pyproject.toml packaging/install_torch.py | $(BIN)/python
	$(BIN)/python packaging/install_torch.py --index "$(TORCH_INDEX)"
	$(BIN)/pip install --quiet -e '.[test,cluster,serve]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pnp-annotator resources/samples

# One pytest-xdist worker per CPU, at most TEST_WORKERS (each builds its own tiny models);
# tests that share a resource carry an xdist_group mark and run on one worker (loadgroup).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(BIN)/python -m pytest -q -n logical --maxprocesses $(TEST_WORKERS) --dist loadgroup

package: $(STAMP)
	$(BIN)/pip install --quiet -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/pnp-annotator.spec

benchmark: $(STAMP)
	$(BIN)/python benchmarks/engine_speed.py

screenshot: $(STAMP)
	$(BIN)/python packaging/screenshot.py

clean:
	rm -rf $(VENV) build dist *.egg-info
