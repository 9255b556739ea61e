# Deploy Tracker — the two commands a newcomer needs: `make run` and `make test`.
# Python 3.11+: python3.11 when installed, else python3.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# `make test` runs the whole suite against PostgreSQL and Redis (override these to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/deploy_tracker
TEST_REDIS_URL ?= redis://127.0.0.1:6379/1
TEST_ENV := DEBUG=0 SECRET_KEY=test-only-secret-key OUTBOUND_ALLOW_HTTP=1 OUTBOUND_ALLOWED_NETWORKS=127.0.0.0/8

.PHONY: run manage install test test-embedded lint audit schemathesis clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Embedded default: SQLite under var/, no Redis. bin/run.py fails at once on a busy port, writes var/run.env
# (which manage.py reads, so management commands reach this install), migrates, seeds the demo, then runs the
# web server beside a Celery worker with beat on kombu's filesystem transport; Ctrl+C stops both.
run: install
	@$(PY) bin/run.py --port $(PORT)

# A management command on the make run install: make manage ARGS="issue_token demo --scopes ingest,read"
manage: install
	@$(PY) manage.py $(ARGS)

test: install
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

# The suite's core on the embedded default (SQLite, in-process tasks); VAR_DIR=… keeps parallel runs apart.
test-embedded: install
	$(TEST_ENV) DATABASE_URL= REDIS_URL= VAR_DIR=$(or $(VAR_DIR),var/test-embedded) $(PY) -m pytest -m "not services" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

# Known vulnerabilities in the pinned requirements, from PyPI's advisory data (pip-audit). --strict fails when a
# pin cannot be audited, so an unreachable advisory source is an error rather than a silent pass. With --no-deps
# pip-audit skips nested -r files: both are named.
audit: install
	$(VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off -r requirements.txt -r requirements-dev.txt

clean:
	rm -rf var staticfiles
