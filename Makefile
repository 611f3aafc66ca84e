# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test package benchmark screenshot clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Without an NVIDIA GPU, take a CPU build of torch first: a plain install would
# pull several GB of CUDA wheels. A wheel already on local disk (pip's find-links)
# wins; else PyTorch's CPU index. With a GPU, pip picks its CUDA build.
$(STAMP): pyproject.toml | $(BIN)/python
	@if ! command -v nvidia-smi >/dev/null 2>&1 && ! $(BIN)/python -c "import torch" 2>/dev/null; then \
		if $(BIN)/pip install --quiet --no-index --no-deps torch==2.13.0 2>/dev/null; then \
			$(BIN)/pip install --quiet torch==2.13.0; \
		else \
			$(BIN)/pip install --quiet torch --index-url https://download.pytorch.org/whl/cpu; \
		fi; \
	fi
	$(BIN)/pip install --quiet -e '.[test]'
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
