# Senim: `make run` runs the main job, `make test` the whole test suite. Both create the
# locked environment first when it is missing (uv, from uv.lock; nothing else by hand).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

UV_VERSION := 0.13.9
UV := $(shell command -v uv 2>/dev/null || echo .tools/bin/uv)
PYTEST_ARGS ?=
# Trust the machine's own CA store (a company proxy's CA lives there), not only uv's bundle.
export UV_SYSTEM_CERTS ?= 1

.PHONY: help run test lint repro bench audit clean-state

help:
	@echo "make run     set up the locked environment and run the retrain-credit flow"
	@echo "make test    set up the locked environment and run the whole test suite"
	@echo "make repro   reproduce the DVC pipeline (dvc repro)"
	@echo "make bench   run bench/credit_quality.py on the real data in ../shared"
	@echo "make lint    ruff"
	@echo "make audit   pip-audit over every locked package (needs the vulnerability database online)"

.tools/bin/uv:
	python3 -m venv .tools
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

.venv/.senim-synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

run: .venv/.senim-synced
	$(UV) run --frozen --no-sync senim run

test: .venv/.senim-synced
	$(UV) run --frozen --no-sync ruff check .
	@rc=0; $(UV) run --frozen --no-sync pytest $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: the suite is broken"; fi; \
	exit $$rc

lint: .venv/.senim-synced
	$(UV) run --frozen --no-sync ruff check .

repro: .venv/.senim-synced
	$(UV) run --frozen --no-sync dvc repro

bench: .venv/.senim-synced
	$(UV) run --frozen --no-sync python bench/credit_quality.py

# Every package uv.lock installs, checked against the PyPI/OSV vulnerability database. It
# needs the network (pip-audit itself is fetched on first use): run it where that is reachable.
audit: | $(UV)
	@requirements=$$(mktemp) && trap 'rm -f "$$requirements"' EXIT && \
	$(UV) export --frozen --all-extras --no-hashes --no-emit-project --format requirements-txt \
		--output-file "$$requirements" >/dev/null && \
	$(UV) tool run pip-audit --requirement "$$requirements" --no-deps --disable-pip --strict --progress-spinner off

clean-state:
	rm -rf .senim
