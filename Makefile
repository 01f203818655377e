# The two commands a newcomer needs (see README.md):
#   make demo   set up, then run the main job against the embedded LX/1 simulator
#   make test   set up, then run the whole test suite (lint, types, tests)
# Both create .venv on first use and reinstall when pyproject.toml changes.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
LX     := recorder/venues/lx

.PHONY: setup demo test lint typecheck pytest bench chaos proto clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,analysis]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/recorder demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check recorder tests bench migrations
	$(BIN)/ruff format --check recorder tests bench migrations

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	@for script in bench/[!_]*.py; do \
		echo "== $$script"; $(BIN)/python $$script || exit 1; \
	done

chaos: $(STAMP)
	$(BIN)/recorder chaos --runs 20

proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I $(LX) --python_out=$(LX) --pyi_out=$(LX) $(LX)/lx1.proto

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
