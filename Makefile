# The two commands of the README: `make demo` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps base-image lint test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# Debian packages the tests and the base image need (headless Chromium, debootstrap).
system-deps:
	scripts/system-deps

# The offline base image every team image is built FROM (only when Docker answers and it is missing).
base-image: install
	scripts/base-image --if-missing

# ruff's rules and the layer contracts of pyproject.toml ([tool.ruff], [tool.importlinter]).
lint: install
	$(BIN)/ruff check --no-cache --quiet .
	$(BIN)/lint-imports --no-cache

test: install system-deps base-image lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo: install base-image
	$(BIN)/arena demo

bench: install base-image
	for b in bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .arena
