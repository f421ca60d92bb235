# The two set-up commands of the README: `make demo` and `make test`.
# Each creates .venv when it is missing and installs what it needs (pip, never uv/poetry:
# pip takes torch and torchvision from this machine's disk instead of downloading CUDA builds).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip
# Reference libraries and tools are pinned (torch and torchvision come from this machine's disk).
LOCK   := -c constraints.txt
PYTEST_ARGS ?=

.PHONY: demo test lint bench install-test install-demo install-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade $(LOCK) pip

$(VENV)/.test-installed: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) install --quiet $(LOCK) -e '.[test,demo,dev]'
	touch $@

$(VENV)/.bench-installed: pyproject.toml constraints.txt $(VENV)/.test-installed
	$(PIP) install --quiet $(LOCK) -e '.[test,demo,dev,bench]'
	touch $@

install-test install-demo: $(VENV)/.test-installed
install-bench: $(VENV)/.bench-installed

demo: $(VENV)/.test-installed
	$(BIN)/python examples/image_classifier.py

test: $(VENV)/.test-installed
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	$(BIN)/python -m pytest -q --doctest-modules torchlime

lint: $(VENV)/.test-installed
	$(BIN)/ruff check torchlime tests examples benchmarks
	$(BIN)/ruff format --check torchlime tests examples benchmarks
	$(BIN)/mypy torchlime

bench: $(VENV)/.bench-installed
	$(BIN)/python benchmarks/bench_image.py

clean:
	rm -rf $(VENV) out .pytest_cache
