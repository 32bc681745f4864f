# Two commands do all the set-up: `make run` and `make test` (see README.md).
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

# A 3.12+ interpreter: pyenv's (selected by .python-version), else python3.13/3.12 on PATH.
PYTHON_BASE := $(shell \
	for c in "$$(pyenv which python 2>/dev/null)" python3.13 python3.12 python3; do \
		[ -n "$$c" ] && command -v "$$c" >/dev/null 2>&1 && \
		"$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v "$$c"; break; }; \
	done)

.PHONY: run test test-fast lint install install-dev test-deps worker migrate check-python clean

check-python:
	@if [ -z "$(PYTHON_BASE)" ]; then \
		echo "error: mcpsite needs Python 3.12 or newer (pyenv install 3.12, or python3.12 on PATH)." >&2; exit 1; fi

$(VENV)/.installed: requirements.txt | check-python
	@[ -x $(PY) ] || $(PYTHON_BASE) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	@touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(PY) manage.py migrate --noinput

# ensure_admin comes last before the server, so that a first run's one-time admin password
# is not buried under install output.
run: migrate
	$(PY) manage.py collectstatic --noinput --verbosity 0
	@$(PY) manage.py ensure_admin --host $(HOST) --port $(PORT)
	$(VENV)/bin/daphne -b $(HOST) -p $(PORT) mcpsite.asgi:application

# One worker with beat (-B); beat runs the reaper every EXECUTION_REAPER_INTERVAL seconds (web processes do too).
# More workers: start them without -B (one beat per deployment is enough; a second is harmless).
worker: migrate
	$(VENV)/bin/celery -A mcpsite worker -B --loglevel INFO --concurrency 2

test-deps: install-dev
	./scripts/install-test-deps

test: test-deps
	$(VENV)/bin/pytest

# The edit loop: every test but the slow ones (those that start servers, workers, browsers
# or Node), on the embedded defaults, spread over the CPUs by pytest-xdist. Each worker
# has its own test database and files (tests/conftest.py); REDIS_URL is left out because
# parallel workers would share one Redis database and clear each other's cache.
test-fast: install-dev
	env -u REDIS_URL -u REQUIRE_SERVICES $(VENV)/bin/pytest -m "not slow" -n auto

# Ruff (lint, import order), mypy (types, with django-stubs) and import-linter (the apps
# import one way); their settings are in pyproject.toml.
lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) node_modules .tools staticfiles
