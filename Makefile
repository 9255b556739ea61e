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

.PHONY: run install test test-embedded lint schemathesis clean

$(VENV)/.installed: requirements.txt requirements-dev.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed

# Embedded default: SQLite under var/, no Redis. A Celery worker with beat runs beside the web server on
# kombu's filesystem transport, so analysis, alerts and sweeps happen on their own.
run: install
	DEBUG=1 $(PY) manage.py migrate --noinput -v0
	DEBUG=1 CELERY_BROKER_URL=filesystem:// $(PY) manage.py seed_demo
	@echo "Deploy Tracker on http://127.0.0.1:$(PORT)/demo/  (demo login: demo / demo — demo only)"
	@trap 'kill 0' EXIT INT TERM; \
	DEBUG=1 CELERY_BROKER_URL=filesystem:// $(VENV)/bin/celery -A tracker worker -B --pool=solo \
		--loglevel=WARNING --schedule var/celerybeat-schedule & \
	DEBUG=1 CELERY_BROKER_URL=filesystem:// $(PY) manage.py runserver 127.0.0.1:$(PORT)

test: install
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m pytest $(PYTEST_ARGS)

# The suite's core on the embedded default (SQLite, in-process tasks).
test-embedded: install
	$(TEST_ENV) DATABASE_URL= REDIS_URL= VAR_DIR=var/test-embedded $(PY) -m pytest -m "not services" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf var staticfiles
