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
# GPU, take PyTorch's CPU builds so several GB of CUDA wheels are not downloaded;
# TORCH_INDEX= (empty) takes them from pip's configured indexes instead (.ci/run
# does that: its machine has the pair on local disk and no route to the CPU index).
# With a GPU, pip picks the CUDA builds.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
$(STAMP): pyproject.toml | $(BIN)/python
	@if ! $(BIN)/python -c "import torch, torchvision" 2>/dev/null; then \
		if command -v nvidia-smi >/dev/null 2>&1 || [ -z "$(TORCH_INDEX)" ]; then \
			$(BIN)/pip install --quiet torch torchvision; \
		else \
			$(BIN)/pip install --quiet torch torchvision --index-url "$(TORCH_INDEX)" \
			|| { echo "PyTorch's CPU index was not reachable; installing torch from pip's configured indexes"; \
			     $(BIN)/pip install --quiet torch torchvision; }; \
		fi; \
	fi
	$(BIN)/pip install --quiet -e '.[test,cluster,serve]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/pnp-annotator resources/samples

test: $(STAMP)
	$(BIN)/python -m pytest -q

package: $(STAMP)
	$(BIN)/pip install --quiet -e '.[package]'
	$(BIN)/pyinstaller --noconfirm --clean --distpath dist --workpath build packaging/pnp-annotator.spec

benchmark: $(STAMP)
	$(BIN)/python benchmarks/engine_speed.py

screenshot: $(STAMP)
	$(BIN)/python packaging/screenshot.py

clean:
	rm -rf $(VENV) build dist *.egg-info
