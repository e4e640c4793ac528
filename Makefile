# The two commands (see README.md):  make serve   |   make test
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: serve test lint bench services agents

serve: $(VENV)/.installed
	$(BIN)/tierroute serve

test: $(VENV)/.installed services agents
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests bench

services:
	bash scripts/ensure-services.sh

# Claude Code and the Codex CLI from npm into .agents/, for tests/agents/ (docs/agents.md)
agents:
	bash scripts/ensure-agents.sh

bench: $(VENV)/.installed
	bash bench/run.sh

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $@
