# Two commands: `make run` sets up and runs minibot, `make test` sets up and runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install run console test test-all lint format bench relock tools deploy-check release init doctor

install: $(VENV)/.installed

$(VENV)/.installed: poetry.lock pyproject.toml scripts/lock_requirements.py
	$(PYTHON) -m venv $(VENV)
	$(PYTHON) scripts/lock_requirements.py > $(VENV)/requirements.txt
	$(BIN)/pip install --quiet --require-hashes -r $(VENV)/requirements.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

# A fresh machine has no config: `minibot init` asks for the provider, key and bot token,
# checks each, and writes config.toml (and minibot.env with the secrets).
config.toml:
	@echo "no config.toml yet: run \`make init\` (asks, checks and writes it), or copy config.example.toml"
	@exit 1

init: install
	$(BIN)/minibot init --config config.toml

doctor: install
	$(BIN)/minibot doctor --config config.toml

run: install config.toml
	@$(BIN)/minibot check-config --config config.toml >/dev/null || { \
	  echo "config.toml is not usable: fix the key named above, or run \`make init\` to write a new one"; exit 2; }
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

# The pinned tools that check the deployment files and the release (into .tools/).
tools:
	bash scripts/install_tools.sh

# Every deployment file checked offline: hadolint, Compose schema, systemd-analyze verify,
# helm lint --strict, the rendered chart against the Kubernetes schemas, the workflow schema.
deploy-check: tools
	.tools/deploy/bin/python scripts/check_deploy.py

# sdist + wheel in dist/, twine check, the wheel installed into a fresh venv runs.
release:
	bash scripts/release.sh

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
