# Strata — one command surface for people and CI.
# `make demo` and `make test` set everything up themselves: a .venv in the repository, with the
# locked dependencies (uv.lock) installed by uv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9
STAMP := $(VENV)/.strata-synced
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install demo test lint format bench clean

$(BIN)/uv:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(STAMP): pyproject.toml uv.lock | $(BIN)/uv
	$(BIN)/uv sync --frozen --inexact --compile-bytecode --extra aws --extra spark --group bench --quiet
	@touch $(STAMP)

install: $(STAMP)

demo: install  ## run every pipeline on embedded defaults into ./lake and print a summary
	$(BIN)/strata demo --lake ./lake

test: install  ## the whole test suite (unit, integration on local AWS endpoints, end to end)
	$(BIN)/pytest -q -n 2 --dist loadfile

lint: install  ## ruff (lint + format check) and mypy on the package
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/strata

format: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install  ## side-by-side benchmarks; each prints a table and a final JSON line
	@for b in bench/*.py; do case $$b in bench/_*) continue;; esac; \
		echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf lake .strata .pytest_cache .mypy_cache .ruff_cache
