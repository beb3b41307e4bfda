# Orchestra: `make serve` runs the gateway locally, `make test` runs every test.
# Both build .venv themselves from a fresh clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080
STAMP  := $(VENV)/.installed

.PHONY: serve test lint typecheck format bench synth deploy destroy clean install mutation

# CDK: the CLI comes from npm (node_modules/), the app from .venv; STAGE=dev|prod
STAGE   ?= dev
CDK     := node_modules/.bin/cdk
CDK_ENV := JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION=18,20 CDK_DISABLE_VERSION_CHECK=1
# synth needs no AWS account: dummy credentials and an explicit account/region
SYNTH_ENV := $(CDK_ENV) AWS_ACCESS_KEY_ID=dummy AWS_SECRET_ACCESS_KEY=dummy \
	AWS_EC2_METADATA_DISABLED=true CDK_DEFAULT_ACCOUNT=000000000000 CDK_DEFAULT_REGION=us-east-1

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
	$(BIN)/ruff check src functions tests bench infra
	$(BIN)/ruff format --check src functions tests bench infra
	$(BIN)/mypy
	$(CDK_ENV) $(BIN)/pytest --cov=orchestra --cov-report=term:skip-covered --cov-report=xml:coverage.xml

lint: $(STAMP)
	$(BIN)/ruff check src functions tests bench infra
	$(BIN)/ruff format --check src functions tests bench infra

format: $(STAMP)
	$(BIN)/ruff check --fix src functions tests bench infra
	$(BIN)/ruff format src functions tests bench infra

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/overhead.py
	$(BIN)/python bench/formats.py
	$(BIN)/python bench/fanout.py
	$(BIN)/python bench/cold_import.py
	$(BIN)/python bench/routing.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/bundle_size.py

# Mutation score per package (docs/testing.md): mutmut on a seeded sample of each package's
# mutants, against the tests in [tool.mutmut]; SAMPLE=0 runs every mutant (hours)
SAMPLE   ?= 150
PACKAGES ?= routing resilience fusion multi panel debate
FIXTURES ?= $(firstword $(wildcard $(CURDIR)/../shared/fixtures $(CURDIR)/shared/fixtures))
mutation: $(STAMP)
	for p in $(PACKAGES); do \
		ORCHESTRA_FIXTURES=$(FIXTURES) $(BIN)/python bench/mutation.py $$p --sample $(SAMPLE) || exit 1; \
	done

$(CDK):
	npm install --no-save --no-audit --no-fund --loglevel=error aws-cdk@2

# Templates in cdk.out/ (the Lambda bundle built locally, no Docker), cdk-nag, cfn-lint
synth: $(STAMP) $(CDK)
	$(SYNTH_ENV) $(CDK) synth --quiet -c stage=$(STAGE) \
		-c account=000000000000 -c region=us-east-1
	$(BIN)/cfn-lint

# Into the account and region of your AWS credentials (bootstrap once: see README)
deploy: $(STAMP) $(CDK)
	$(CDK_ENV) $(CDK) deploy --all -c stage=$(STAGE)

destroy: $(STAMP) $(CDK)
	$(CDK_ENV) $(CDK) destroy Orchestra-$(STAGE)-service -c stage=$(STAGE)

clean:
	rm -rf $(VENV) cdk.out build node_modules .pytest_cache .mypy_cache .ruff_cache coverage.xml mutants
