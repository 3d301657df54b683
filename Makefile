# The two commands of README.md. Everything else is reachable through them.
#   make dev   the product on localhost (database, migrations, service, worker, Twilio sandbox, demo data)
#   make test  every test: pytest, which also runs the pgTAP files in supabase/tests

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: dev test install browser lint db-dev db-test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The web application's browser packages, exactly as the lockfile pins them.
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

# Debian's Chromium for the real-browser tests.
browser:
	scripts/install-browser.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

db-dev:
	scripts/provision-db.sh dev

db-test:
	scripts/provision-db.sh test

dev: install db-dev
	$(BIN)/numeraloop dev

test: install browser db-test lint
	$(BIN)/pytest

bench: install db-test
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache node_modules
