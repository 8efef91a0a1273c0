# whatsapp_crm — the commands of the README. Needs only python3 (3.11+) on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
STAMP_RUN := $(VENV)/.installed-run-$(REQ_HASH)
STAMP_DEV := $(VENV)/.installed-dev-$(REQ_HASH)

# The embedded default for `make run`: debug, SQLite, filesystem broker, the local simulator.
# GATEWAY_BACKEND=waha|evolution makes the simulator speak that gateway's API (SIMULATOR_DIALECT)
# at the same base URL and post that gateway's webhooks to /api/webhooks/<backend>/.
RUN_ENV := DJANGO_DEBUG=$${DJANGO_DEBUG:-true} \
	GATEWAY_BACKEND=$${GATEWAY_BACKEND:-vps} \
	GATEWAY_URL=$${GATEWAY_URL:-http://127.0.0.1:9100} \
	SIMULATOR_DIALECT=$${SIMULATOR_DIALECT:-$${GATEWAY_BACKEND:-vps}} \
	WHAPI_URL=$${WHAPI_URL:-http://127.0.0.1:9100/whapi} \
	WHAPI_TOKEN=$${WHAPI_TOKEN:-dev-whapi-token}

.PHONY: run test bench lint format migrate clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(STAMP_RUN): requirements.txt | $(PY)
	$(PIP) install --quiet -r requirements.txt
	@touch $@

$(STAMP_DEV): requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	@mkdir -p var
	$(RUN_ENV) $(PY) manage.py migrate --noinput
	$(RUN_ENV) $(PY) manage.py seed_demo
	@echo ""
	@echo "  App:        http://127.0.0.1:8000/   (login printed above; Ctrl-C stops everything)"
	@echo "  Simulator:  http://127.0.0.1:9100/_control/state   (speaks: $${GATEWAY_BACKEND:-vps})"
	@echo ""
	$(RUN_ENV) $(VENV)/bin/honcho -f Procfile start

test: $(STAMP_DEV)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

bench: $(STAMP_DEV)
	$(PY) -m bench

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP_DEV)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf var/celery-broker var/celery-processed var/celerybeat-schedule* var/screenshots
