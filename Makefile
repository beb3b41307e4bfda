# Orchestra: `make serve` runs the gateway locally, `make test` runs every test.
# Both build .venv themselves from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.PHONY: serve test lint typecheck format bench synth deploy clean install

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

serve: $(STAMP)
	$(BIN)/orchestra serve --host $(HOST) --port $(PORT)

test: $(STAMP)
	$(BIN)/ruff check src functions tests bench
	$(BIN)/ruff format --check src functions tests bench
	$(BIN)/mypy
	$(BIN)/pytest --cov=orchestra --cov-report=term:skip-covered --cov-report=xml:coverage.xml

lint: $(STAMP)
	$(BIN)/ruff check src functions tests bench
	$(BIN)/ruff format --check src functions tests bench

format: $(STAMP)
	$(BIN)/ruff check --fix src functions tests bench
	$(BIN)/ruff format src functions tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/cold_import.py
	$(BIN)/python bench/routing.py

clean:
	rm -rf $(VENV) cdk.out .pytest_cache .mypy_cache .ruff_cache coverage.xml
