# splitbench — two commands: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned to the CPU build served on these machines; installing it first stops
# transformers/peft from pulling a CUDA build.
TORCH  := torch==2.13.0

.PHONY: run test bench lint venv dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed pyproject.toml
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

venv: $(VENV)/.installed
dev: $(VENV)/.installed-dev

run: $(VENV)/.installed
	$(BIN)/splitbench run quick

test: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

bench: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/benchmarks --benchmark-only --benchmark-columns=min,mean,max,rounds

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) splitbench-out .pytest_cache .benchmarks
