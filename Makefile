# Two commands do all set-up on a fresh machine with Python 3.11:
#   make run    install, migrate an embedded SQLite database, seed synthetic data, serve the demo
#   make test   install, then run the whole test suite (SQLite always; PostgreSQL when reachable)
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: install run test lint check bench clean

$(BIN)/.installed: pyproject.toml setup.py requirements.lock pseudonymise/_hmacbatch.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/broker demo

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

check: lint test

bench: install
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script --quick || exit 1; done

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache build pseudonymise/*.so
