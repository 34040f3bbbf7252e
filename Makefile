# One command per intent. Everything runs from ./.venv, which `make install` builds.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
TRACER := $(BIN)/tracer
RUN_DIR ?= out/run

.PHONY: install compile run test test-unit test-integration lint bench chaos stack-up stack-down clean browser

install: $(VENV)/.installed compile

# A failed build is reported and costs speed only: the matchers then run as Python.
compile: $(VENV)/.installed
	@$(BIN)/python -m tools.compile_matchers \
		|| echo "make: matchers not compiled; they run as Python (same results, slower)" >&2

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

# The matcher tests run twice: as Python, then (with everything else) compiled, when built.
test: install stack-up browser
	$(BIN)/pytest --pure-python -q tests/unit/matchers
	$(BIN)/pytest tests/unit tests/integration

test-unit: install
	$(BIN)/pytest --pure-python -q tests/unit/matchers
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

# The long fault tests (pytest marker `chaos`, left out of `make test`) on the shared stack, on
# their own topics; then the fault runs on a private stack (19092 / 19200 under .stack-chaos/,
# never the shared one), whose table goes to out/chaos/. Both run; either failing fails.
# Sizes and faults: make chaos CHAOS_ARGS="--faults kill --events 5000".
CHAOS_ARGS ?=
chaos: install stack-up
	@status=0; $(BIN)/pytest -m chaos tests/integration || status=$$?; \
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS) && exit $$status

clean:
	rm -rf $(VENV) out build .pytest_cache .mypy_cache .ruff_cache

# The review service's browser tests: Debian's chromium (Playwright drives it; `playwright
# install` cannot download here) and a CJK font so Chinese renders. Needs root or sudo.
BROWSER_PACKAGES := chromium fonts-wqy-microhei
browser: install
	@if [ -x /usr/lib/chromium/chromium ] && fc-list 2>/dev/null | grep -qi wqy; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y $(BROWSER_PACKAGES); \
	else sudo apt-get update -qq && sudo apt-get install -y $(BROWSER_PACKAGES); fi
	$(BIN)/pytest tests/browser
