# Dash: `make run` serves the demo; `make test` runs the whole suite on PostgreSQL + Redis.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python >= 3.12: take the first one found (PATH, then pyenv's versions).
PYTHON_BOOT ?= $(shell for c in python3.13 python3.12 python3 $$HOME/.pyenv/versions/3.13*/bin/python3 $$HOME/.pyenv/versions/3.12*/bin/python3; do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$c; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := dash.settings
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv run test lint bench migrate seed

help:
	@echo "make run    - install into .venv, migrate, load the demo and serve http://127.0.0.1:$(PORT)"
	@echo "make test   - the whole suite on a throwaway PostgreSQL + Redis, then ruff"
	@echo "make bench  - the device API under an open-model load on the production-like stack"

$(VENV)/.installed: requirements.txt
	@if [ -z "$(PYTHON_BOOT)" ]; then echo "Python >= 3.12 is needed (Django 6). Install python3.12 (e.g. pyenv install 3.12) and retry."; exit 1; fi
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --base-url http://127.0.0.1:$(PORT)
	@echo ""
	@echo "Dash is starting at http://127.0.0.1:$(PORT)  (Ctrl-C stops web, worker, beat$(if $(REDIS_URL),, and the embedded Redis))"
	@echo ""
	DASH_PORT=$(PORT) $(VENV)/bin/honcho -f dash/Procfile -d . start $(if $(REDIS_URL),web worker beat,redis web worker beat)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: venv
	$(PY) -m dash.localstack run -- $(PY) -m pytest tests $(PYTEST_ARGS)
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) -m bench.device_api $(BENCH_ARGS)
