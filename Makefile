# `make demo` and `make test` each set up a virtual environment (once) and run from a clean clone.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
CORES ?= 2

.PHONY: setup demo test test-fast lint format benchmark

setup: $(VENV)/.installed

# torch is installed first and pinned, so that pip does not pull a multi-GB CUDA build.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

demo: setup
	$(BIN)/snakemake --cores $(CORES)
	$(BIN)/snakemake --report report.html

test: setup
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not workflow"

lint: setup
	$(BIN)/ruff check src tests workflow benchmarks
	$(BIN)/ruff format --check src tests workflow benchmarks
	$(BIN)/snakefmt --check .
	$(BIN)/snakemake --lint

format: setup
	$(BIN)/ruff format src tests workflow benchmarks
	$(BIN)/ruff check --fix src tests workflow benchmarks
	$(BIN)/snakefmt .

benchmark: setup
	$(BIN)/python benchmarks/ridge.py
