# Two entry points (README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test test-fast lint format-check typecheck bench

setup: $(VENV)/.installed

# torch is installed first and pinned: on CPU machines `pip install torch==2.13.0` takes the
# local CPU build; an unpinned torch would pull a multi-GB CUDA build. torchvision is left
# out on purpose (it does not import beside the CPU torch; vlmr1 works without it).
$(VENV)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/vlmr1 demo --output demo-output

# What CI runs (.ci/run): lint, the format check, the type check, then the whole suite
# (prerequisites run in order, left to right).
test: setup lint format-check typecheck
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow"

lint: setup
	$(BIN)/ruff check vlmr1_cli tests bench experiments

format-check: setup
	$(BIN)/ruff format --check vlmr1_cli tests bench experiments

# The settings (packages, strictness, untyped libraries) are in pyproject.toml's [tool.mypy].
typecheck: setup
	$(BIN)/mypy

bench: setup
	$(BIN)/python -m bench.run_all
