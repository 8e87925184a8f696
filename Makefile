# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
SHELL := /bin/bash
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
PORT ?= 8000
export FLASK_APP := wsgi.py

# Tests run on the real PostgreSQL and Redis; CI (.ci/run) sets these explicitly. The suite
# drops the schema of TEST_DATABASE_URL (its name must end in _test) and empties
# TEST_REDIS_URL; an exported DATABASE_URL or REDIS_URL is never used by the tests.
TEST_DATABASE_URL ?= postgresql://postgres@127.0.0.1:5432/bookstore_test
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
LINT_PATHS := bookstore tests deploy $(wildcard bench) wsgi.py gunicorn.conf.py

.PHONY: help install install-runtime lock run serve worker expirer migrate seed test lint fmt clean bench clients-deps postman demo \
	cluster cluster-stop cluster-restart

help:  ## list the targets (this is the default)
	@awk 'BEGIN { FS = ":.*## " } /^[A-Za-z][A-Za-z0-9_-]*:.*## / { printf "  %-16s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

# Two pinned sets, compiled by `make lock`: requirements.txt (requirements.in) is the whole
# runtime tree, requirements-dev.txt (requirements-dev.in) adds only the dev and test tools.
# Serving targets install the runtime set; the others install both.
$(BIN)/.installed-runtime: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(BIN)/.installed-runtime $@

install: $(BIN)/.installed  ## create the virtualenv and install the runtime and dev dependencies

install-runtime: $(BIN)/.installed-runtime  ## create the virtualenv and install the runtime dependencies only

# --no-emit-*: the files name no package index or local path, only pins.
PIP_COMPILE := CUSTOM_COMPILE_COMMAND="make lock" $(BIN)/pip-compile --quiet --strip-extras \
	--no-emit-index-url --no-emit-trusted-host --no-emit-find-links $(if $(UPGRADE),--upgrade,)

lock: $(BIN)/.installed  ## recompile requirements.txt and requirements-dev.txt (UPGRADE=1: newest allowed versions)
	$(PIP_COMPILE) --output-file=requirements.txt requirements.in
	$(PIP_COMPILE) --output-file=requirements-dev.txt requirements-dev.in
	@# requirements-dev.txt keeps only what requirements.txt does not pin, and includes it.
	awk 'NR == FNR { if ($$0 ~ /^[A-Za-z0-9]/) { n = tolower($$0); sub(/[=<>!~;[ ].*/, "", n); gsub(/[_.]/, "-", n); rt[n] = 1 } next } \
		/^[A-Za-z0-9]/ { n = tolower($$0); sub(/[=<>!~;[ ].*/, "", n); gsub(/[_.]/, "-", n); skip = (n in rt) } \
		!/^[A-Za-z0-9 ]/ { skip = 0 } \
		!done && !/^#/ { print "-r requirements.txt"; print ""; done = 1 } \
		!skip' requirements.txt requirements-dev.txt > requirements-dev.txt.tmp
	mv requirements-dev.txt.tmp requirements-dev.txt

run: $(BIN)/.installed-runtime  ## migrate, load sample data and serve under gunicorn (SQLite unless DATABASE_URL)
	@if [ -z "$$DATABASE_URL" ]; then echo "make run: DATABASE_URL not set, using embedded SQLite (instance/bookstore.db)"; fi
	@if [ -z "$$REDIS_URL" ]; then echo "make run: REDIS_URL not set, using in-process limiter and cache"; fi
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask db upgrade
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask seed
	@# The webhook worker and the expiry of unpaid orders run beside gunicorn and are
	@# stopped (SIGTERM) when gunicorn exits.
	export APP_ENV=$${APP_ENV:-development}; \
	$(BIN)/flask webhooks work & worker=$$!; \
	$(BIN)/flask orders expire --loop & expirer=$$!; \
	trap 'kill -TERM $$worker $$expirer 2>/dev/null; wait $$worker $$expirer' EXIT; \
	PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

serve: $(BIN)/.installed-runtime  ## serve under gunicorn without migrating or seeding
	APP_ENV=$${APP_ENV:-development} PORT=$(PORT) $(BIN)/gunicorn -c gunicorn.conf.py wsgi:app

worker: $(BIN)/.installed-runtime  ## run the webhook delivery worker alone (docs/webhooks.md)
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask webhooks work

expirer: $(BIN)/.installed-runtime  ## run the expiry of unpaid orders alone (docs/orders.md)
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask orders expire --loop

migrate: $(BIN)/.installed-runtime  ## apply Alembic migrations
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask db upgrade

seed: $(BIN)/.installed-runtime  ## load the sample catalog (BOOKS=N bulk-loads N books)
	APP_ENV=$${APP_ENV:-development} $(BIN)/flask seed $(if $(BOOKS),--books $(BOOKS),)

# The production topology on this machine (docs/deployment.md): nginx with TLS on
# https://127.0.0.1:8443 in front of gunicorn on :8001 and :8002, and the webhook worker.
cluster: $(BIN)/.installed-runtime  ## nginx (TLS, :8443) + 2 gunicorn instances + worker on PostgreSQL and Redis
	@command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || { \
		echo "make cluster: nginx is not installed; install it with"; \
		echo "  $(SUDO) apt-get install -y nginx-light    (Debian, Ubuntu; or: brew install nginx)"; \
		exit 1; }
	$(BIN)/python -m deploy.cluster start

cluster-stop: $(BIN)/.installed-runtime  ## stop exactly what make cluster started (pid files in instance/cluster/)
	$(BIN)/python -m deploy.cluster stop

cluster-restart: $(BIN)/.installed-runtime  ## restart the instances one at a time, each drained in nginx first
	$(BIN)/python -m deploy.cluster restart

# pytest-xdist: TEST_WORKERS processes (0: none), each on its own database and Redis
# database derived from the two above (docs/testing.md); worksteal evens out the slow tests.
TEST_WORKERS ?= 2

test: install  ## run the whole suite against TEST_DATABASE_URL and TEST_REDIS_URL
	TEST_DATABASE_URL=$(TEST_DATABASE_URL) TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/pytest \
		$(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist worksteal) $(PYTEST_ARGS)

lint: install  ## ruff lint and format check, and the import layers (lint-imports)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/lint-imports

fmt: install  ## apply ruff fixes and formatting
	$(BIN)/ruff check --fix $(LINT_PATHS)
	$(BIN)/ruff format $(LINT_PATHS)

# The benchmark (bench/, docs/performance.md): 1M books, gunicorn, wrk and bench/mixgen.py, ~40 minutes.
BENCH_STAMP := $(BIN)/.bench-installed
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

$(BENCH_STAMP): bench/requirements.txt $(BIN)/.installed
	$(BIN)/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	touch $@

bench: install $(BENCH_STAMP)  ## benchmark on this machine: bench/RESULTS.md, bench/plots/
	@command -v wrk >/dev/null 2>&1 || { echo "make bench: installing wrk (apt-get)"; \
		$(SUDO) apt-get install -y --no-install-recommends wrk \
		|| { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends wrk; }; }
	$(BIN)/python -m bench.run $(BENCH_ARGS)

# The Postman collection runner and the browser test (clients/): pinned in package-lock.json.
CLIENTS_STAMP := clients/node_modules/.installed

$(CLIENTS_STAMP): clients/package.json clients/package-lock.json
	npm ci --prefix clients --no-audit --no-fund
	touch $@

clients-deps: $(CLIENTS_STAMP)  ## install newman and playwright-core into clients/node_modules

postman: install clients-deps  ## run the Postman collection with newman against a fresh gunicorn
	BIN=$(BIN) clients/scripts/postman.sh $(NEWMAN_ARGS)

demo: install  ## serve the API on :8000 and the web frontend on :5173
	BIN=$(BIN) clients/scripts/demo.sh

.PHONY: soak
soak: install  ## soak run, not in CI: SOAK_SECONDS (300) of mixed traffic -> bench/SOAK.md
	$(BIN)/python bench/soak.py

clean:  ## remove the virtualenv, caches and the embedded database
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
