# Watchpoint: `make run` to set up and run the site with its worker, `make test` for the test suite.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-ring services services-stop setup venv migrate lint bench clean lock

run: setup
	bin/run

test: venv services
	WATCHPOINT_DISRUPTIVE_TESTS=1 $(VENV)/bin/pytest

# The 3-node ring scenarios (node killed, down a minute + full repair, a fourth node joining, an
# erasure a replica missed): 12-18 min of both cores, so not every landing (docs/decisions/0017).
test-ring: venv services
	WATCHPOINT_RING_TESTS=1 $(VENV)/bin/pytest -m ring

# bin/nginx reads the media settings through the venv's Python (config/env.py).
services: venv
	bin/services start

services-stop:
	bin/services stop

setup: venv services migrate
	$(PY) manage.py demo_load

migrate: venv
	@mkdir -p var
	$(PY) manage.py migrate --noinput
	$(PY) manage.py sync_cassandra

venv: $(VENV)/.installed

$(VENV)/.installed: requirements-dev.lock
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@$(PYTHON) -c 'import venv, ensurepip' 2>/dev/null || bin/ensure-python-venv
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
	touch $@

# The lock files pin every package (direct and transitive) with its hashes: `make venv` installs
# requirements-dev.lock, production requirements.lock. Edit requirements*.txt, then `make lock`.
lock: venv
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements.lock requirements.txt
	$(VENV)/bin/pip-compile -q --generate-hashes --allow-unsafe --strip-extras -o requirements-dev.lock requirements-dev.txt

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

bench: venv services
	$(PY) bin/bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var
