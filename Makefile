# gca_lite: build the book and run the tests.
#   make book                                  # synthetic data, no download
#   make book DATASET=afk DATA_DIR=../shared/data
#   make book PARAMS="--param seed=1"          # any notebook parameter (YAML value)
#   make test
SHELL := /bin/bash
PYTHON3 ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

DATASET ?=
DATA_DIR ?=
SEED ?=
PARAMS ?=
BOOK_ARGS := $(PARAMS) \
	$(if $(DATASET),--param dataset=$(DATASET)) \
	$(if $(DATA_DIR),--param data_dir=$(DATA_DIR)) \
	$(if $(SEED),--param seed=$(SEED))

.PHONY: venv chromium vendor book test clean

venv: $(STAMP)

# Reinstall only when pyproject.toml changes (or the venv is missing).
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON3) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install -e ".[book,test]"
	touch $(STAMP)

chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		apt-get update && apt-get install -y chromium; \
	else \
		echo "chromium not found. Install it (Debian/Ubuntu: sudo apt-get install -y chromium)"; \
		echo "for the browser test; without it that test is skipped."; \
	fi

vendor: $(STAMP)
	PYTHON=$(PY) scripts/vendor_assets.sh

book: venv vendor
	$(PY) scripts/build_book.py $(BOOK_ARGS)

test: venv chromium vendor
	$(PY) -m pytest

clean:
	rm -rf _build book/generated book/_vendor .pytest_cache
