# Two commands: `make run` sets up and runs minibot, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run console test test-all lint format bench relock

install: $(VENV)/.installed

$(VENV)/.installed: poetry.lock pyproject.toml scripts/lock_requirements.py
	$(PYTHON) -m venv $(VENV)
	$(PYTHON) scripts/lock_requirements.py > $(VENV)/requirements.txt
	$(BIN)/pip install --quiet --require-hashes -r $(VENV)/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

config.toml:
	cp config.example.toml config.toml
	@echo "created config.toml from config.example.toml: edit it (bot token, LLM key) and run again"

run: install config.toml
	$(BIN)/minibot --config config.toml

console: install config.toml
	$(BIN)/minibot console --config config.toml

# `slow` marks the tests that run the daemon in a subprocess for more than a few seconds
# (kills, restarts, full disk, supervision); `test` skips them, `test-all` runs everything.
test: install
	$(BIN)/pytest -m "not slow"

test-all: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check minibot tests bench scripts
	$(BIN)/ruff format --check minibot tests bench scripts
	$(BIN)/mypy minibot

format: install
	$(BIN)/ruff format minibot tests bench scripts
	$(BIN)/ruff check --fix minibot tests bench scripts

relock:
	$(PYTHON) -m venv .tools/poetry
	.tools/poetry/bin/pip install --quiet poetry==2.5.1
	.tools/poetry/bin/python scripts/relock.py $(INDEX)

bench: install
	$(BIN)/python bench/e2e_bench.py $(ARGS)
	$(BIN)/python bench/scheduler_bench.py $(ARGS)
	$(BIN)/python bench/memory_bench.py $(ARGS)
	$(BIN)/python bench/storage_bench.py $(ARGS)
	$(BIN)/python bench/observability_bench.py $(ARGS)
