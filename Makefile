# One command per intent. Everything runs from ./.venv, which `make install` builds.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TRACER := $(BIN)/tracer
RUN_DIR ?= out/run

.PHONY: install run test test-unit test-integration lint bench stack-up stack-down clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "make: $(PYTHON) not found; install Python 3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

run: install
	$(TRACER) demo --out $(RUN_DIR)

stack-up: install
	$(TRACER) stack up

stack-down: install
	$(TRACER) stack down

test: install stack-up
	$(BIN)/pytest tests/unit tests/integration

test-unit: install
	$(BIN)/pytest tests/unit

test-integration: install stack-up
	$(BIN)/pytest tests/integration

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install stack-up
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) out .pytest_cache .mypy_cache .ruff_cache
