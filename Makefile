# session-events: `make help` lists the targets.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8080
FIRESTORE_PORT ?= 8085

.DEFAULT_GOAL := help
.PHONY: help install run run-firestore test lint bench rollup deploy deploy-firestore clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-17s %s\n", $$1, $$2}'

$(VENV)/.installed: functions/requirements.txt tests/requirements.txt emitter/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r functions/requirements.txt -r tests/requirements.txt -e ./emitter
	touch $@

install: $(VENV)/.installed ## Create .venv with the pinned function, test and emitter dependencies

run: install ## Serve the function on PORT (default 8080) with the embedded SQLite store
	SESSION_EVENTS_STORE=$${SESSION_EVENTS_STORE:-sqlite} \
	  $(VENV)/bin/functions-framework --source functions/main.py --target session_events --port $(PORT)

run-firestore: install ## Serve the function on PORT against a local Firestore emulator
	@set -m; gcloud emulators firestore start --host-port=127.0.0.1:$(FIRESTORE_PORT) >/dev/null 2>&1 & \
	  emulator=$$!; trap 'kill -- -$$emulator 2>/dev/null' EXIT INT TERM; \
	  until curl -sf http://127.0.0.1:$(FIRESTORE_PORT)/ >/dev/null; do sleep 0.5; done; \
	  echo "Firestore emulator on 127.0.0.1:$(FIRESTORE_PORT)"; \
	  FIRESTORE_EMULATOR_HOST=127.0.0.1:$(FIRESTORE_PORT) GOOGLE_CLOUD_PROJECT=$${GOOGLE_CLOUD_PROJECT:-demo-session-events} \
	  SESSION_EVENTS_STORE=firestore \
	  $(VENV)/bin/functions-framework --source functions/main.py --target session_events --port $(PORT)

test: install ## Run every test (starts and stops the Firestore emulator itself)
	$(PY) -m pytest

lint: install ## ruff and mypy (strict for functions/ and emitter/src/)
	$(VENV)/bin/ruff check functions emitter tests
	$(VENV)/bin/mypy

bench: install ## Run the benchmarks, print their figures, write tests/bench/results/latest.json (QUICK=1: a short run of each)
	$(PY) tests/bench/run.py $(if $(filter 1,$(QUICK)),--quick)

rollup: install ## Run the rollup job once against the configured store (SQLite by default)
	SESSION_EVENTS_STORE=$${SESSION_EVENTS_STORE:-sqlite} PYTHONPATH=functions \
	  $(PY) -m session_events.job

deploy: ## Deploy with gcloud (GOOGLE_CLOUD_PROJECT, REGION; DRY_RUN=1 prints the commands)
	@bash infra/deploy.sh

deploy-firestore: ## Only the Firestore part: database, indexes, TTL
	@bash infra/deploy.sh firestore

clean: ## Remove the virtual environment and local data
	rm -rf $(VENV) .data
