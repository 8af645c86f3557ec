# session-events: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
HOST ?= 127.0.0.1
FIRESTORE_PORT ?= 8085
PIP := $(PY) -m pip install --quiet --disable-pip-version-check
# Serving needs only the function's pins; the test and lint tools come on top of them.
RUN_STAMP := $(VENV)/.run-installed
DEV_STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run run-firestore demo test lint bench rollup deploy deploy-firestore clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

$(RUN_STAMP): functions/requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r functions/requirements.txt
	@touch $@

$(DEV_STAMP): $(RUN_STAMP) tests/requirements.txt emitter/pyproject.toml
	$(PIP) -r functions/requirements.txt -r tests/requirements.txt -e ./emitter
	@touch $@

install: $(DEV_STAMP) ## Create .venv with the pinned function, test and emitter dependencies

run: $(RUN_STAMP) ## Serve the function on HOST:PORT (127.0.0.1:8080) with the embedded SQLite store
	@SESSION_EVENTS_STORE=$${SESSION_EVENTS_STORE:-sqlite} exec $(PY) infra/serve.py --host $(HOST) --port $(PORT)

run-firestore: $(RUN_STAMP) ## Serve the function on HOST:PORT against a local Firestore emulator
	@PORT=$(PORT) HOST=$(HOST) FIRESTORE_PORT=$(FIRESTORE_PORT) VENV=$(VENV) exec bash infra/run-firestore.sh

demo: $(RUN_STAMP) ## Serve the function on 127.0.0.1:PORT with weeks of synthetic sessions, rolled up; print the viewer's URL and token
	@exec $(PY) infra/demo.py --port $(PORT) $(DEMO_FLAGS)

test: install ## Run every test (starts and stops the Firestore emulator itself)
	$(PY) -m pytest

lint: install ## ruff and mypy (strict for functions/ and emitter/src/)
	$(VENV)/bin/ruff check functions emitter tests
	$(VENV)/bin/mypy

bench: install ## Run the benchmarks, print their figures, write tests/bench/results/latest.json (QUICK=1: a short run of each)
	$(PY) tests/bench/run.py $(if $(filter 1,$(QUICK)),--quick)

rollup: $(RUN_STAMP) ## Run the rollup job once against the configured store (SQLite by default)
	SESSION_EVENTS_STORE=$${SESSION_EVENTS_STORE:-sqlite} PYTHONPATH=functions \
	  $(PY) -m session_events.rollups.job

deploy: ## Deploy with gcloud (GOOGLE_CLOUD_PROJECT, REGION; DRY_RUN=1 prints the commands)
	@bash infra/deploy.sh

deploy-firestore: ## Only the Firestore part: database, indexes, TTL
	@bash infra/deploy.sh firestore

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) .data
