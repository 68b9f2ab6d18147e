# Deskflow — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run demo worker test test-unit test-sqlite test-postgres lint bench clean

$(BIN)/deskflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The web UI's front-end libraries (bpmn-js), from the npm registry at install time into
# web/static/vendor, so the UI needs no internet at run time. Redone when package.json changes.
VENDOR_STAMP = web/static/vendor/.stamp

$(VENDOR_STAMP): package.json package-lock.json .npmrc scripts/vendor_assets.py
	npm ci --no-audit --no-fund --loglevel=error >/dev/null
	$(PYTHON) scripts/vendor_assets.py
	touch $@

install: $(BIN)/deskflow $(VENDOR_STAMP)

# Deskflow on the embedded SQLite default, with demo data, serving on 127.0.0.1:5000.
run: install
	$(BIN)/deskflow init
	$(BIN)/deskflow demo --incidents 50
	$(BIN)/deskflow serve

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test-unit: install
	$(BIN)/pytest -q tests/unit

test-sqlite: install
	$(BIN)/pytest -q tests/integration

# Runs on the PostgreSQL named by PG_URL; set SKIP_POSTGRES=1 to leave it out locally.
test-postgres: install
	@if [ -n "$$SKIP_POSTGRES" ]; then echo "SKIP_POSTGRES set: PostgreSQL tests not run"; \
	else DESKFLOW_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q tests/integration; fi

test: lint test-unit test-sqlite test-postgres

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules web/static/vendor deskflow.db deskflow.db-wal deskflow.db-shm deskflow.secret .pytest_cache
