# Metadock: `make run` serves on the embedded default; `make test` runs lint, types and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip uv==0.13.9

$(STAMP): pyproject.toml $(BIN)/python
	$(BIN)/uv pip install --quiet --python $(BIN)/python -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	mkdir -p var
	METADOCK_DATABASE_URL=$${METADOCK_DATABASE_URL:-sqlite:///./var/metadock.db} \
	METADOCK_STORE_URL=$${METADOCK_STORE_URL:-file://./var/payloads} \
	$(BIN)/metadock serve --host $${HOST:-127.0.0.1} --port $${PORT:-8000}

lint: install
	$(BIN)/ruff check metadock tests bench
	$(BIN)/ruff format --check metadock tests bench

typecheck: install
	$(BIN)/mypy

pytest: install
	$(BIN)/python -m pytest

test: lint typecheck pytest

# The benchmark (never part of `make test`): installs wrk, nginx and datasette when missing, seeds var/bench/ once,
# and writes bench/results/. E.g. make bench BENCH_ARGS=--quick
BENCH_ARGS ?=

bench: install
	$(BIN)/python -m bench.install_tools
	$(BIN)/python -m bench.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
