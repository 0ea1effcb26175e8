# Dash: `make run` serves the demo; `make test` runs the whole suite on PostgreSQL + Redis.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# Django 6 needs Python >= 3.12: take the first one found (PATH, then pyenv's versions).
PYTHON_BOOT ?= $(shell for c in python3.12 $$HOME/.pyenv/versions/3.12*/bin/python3 python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3 python3; do \
	if command -v $$c >/dev/null 2>&1 && $$c -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then command -v $$c; break; fi; done)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := dash.settings
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv run test lint bench migrate seed system-deps appliance-sim test-live bench-voice

# What the tests need from the system: PostgreSQL server binaries and Chromium (Debian packages).
APT_INSTALL = if [ "$$(id -u)" = 0 ]; then (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(1); \
	else echo "Missing system package: run 'sudo apt-get install $(1)' and retry."; exit 1; fi

help:
	@echo "make run    - install into .venv, migrate, load the demo and serve http://127.0.0.1:$(PORT)"
	@echo "make test   - the whole suite on a throwaway PostgreSQL + Redis, then ruff"
	@echo "make bench  - the device API under an open-model load on the production-like stack"
	@echo "make test-live - the live orders page in Chromium; commit -> browser latency in test-artifacts/"
	@echo "make bench-voice - spoken orders (espeak-ng, clean and noisy) through upload, worker and matching"
	@echo "make soak   - 10 min of load while processes are killed; checks nothing was lost or doubled (SOAK_ARGS=\"--minutes 3\")"
	@echo "make bench-analytics - partner analytics rollups and portal queries over 10M events (BENCH_ARGS=\"--events N\")"

$(VENV)/.installed: requirements.txt
	@if [ -z "$(PYTHON_BOOT)" ]; then echo "Python >= 3.12 is needed (Django 6). Install python3.12 (e.g. pyenv install 3.12) and retry."; exit 1; fi
	@test -x $(PY) || $(PYTHON_BOOT) -m venv $(VENV)
	$(PY) -m pip install --quiet --quiet --disable-pip-version-check -r requirements.txt
	@touch $@

venv: $(VENV)/.installed

migrate: venv
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

run: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) manage.py seed_demo --history --base-url http://127.0.0.1:$(PORT)
	@echo ""
	@echo "Dash is starting at http://127.0.0.1:$(PORT)  (Ctrl-C stops web, worker, beat$(if $(REDIS_URL),, and the embedded Redis))"
	@echo ""
	DASH_PORT=$(PORT) $(VENV)/bin/honcho -f dash/Procfile -d . start $(if $(REDIS_URL),web worker beat,redis web worker beat)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

system-deps:
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { $(call APT_INSTALL,postgresql); }
	@command -v chromium >/dev/null 2>&1 || { $(call APT_INSTALL,chromium); }
	@command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1 || { $(call APT_INSTALL,espeak-ng sox); }

test: venv system-deps
	$(PY) -m dash.localstack run -- $(PY) -m pytest tests $(PYTEST_ARGS)
	$(VENV)/bin/ruff check .

bench: venv
	$(PY) -m bench.device_api $(BENCH_ARGS)

# The simulated washer (eight weeks of detergent): prints the prediction error of each cycle.
appliance-sim: venv system-deps
	$(PY) -m dash.localstack run -- $(PY) -m pytest tests/devices/test_washer_simulation.py -q -p no:logging

# The live orders page in headless Chromium; prints and writes test-artifacts/live_latency.txt
# (commit -> browser update, median and worst over the run).
test-live: venv system-deps
	$(PY) -m dash.localstack run -- $(PY) -m pytest tests/e2e/test_live_orders.py -q -s -p no:cacheprovider $(PYTEST_ARGS)

bench-voice: venv system-deps
	$(PY) -m dash.localstack run -- $(PY) -m bench.voice $(BENCH_VOICE_ARGS)

.PHONY: bench-analytics
# Partner analytics over 10 million generated events on a throwaway PostgreSQL (bench/analytics.py).
bench-analytics: venv
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { $(call APT_INSTALL,postgresql); }
	$(PY) -m bench.analytics $(BENCH_ARGS)

.PHONY: soak
# The production-like stack under load for 10 minutes while it kills a web worker, the Celery
# workers, beat, Redis and PostgreSQL, one at a time; checks and prints (bench/soak.py).
soak: venv
	@ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || command -v pg_ctl >/dev/null 2>&1 || { $(call APT_INSTALL,postgresql); }
	$(PY) -m bench.soak $(SOAK_ARGS)
