# Deskflow — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test
# The PostgreSQL server of the HTTP benchmark; it works in its own database
# `deskflow_bench_http` there (never in the one named here, never in `test`).
PG_URL_BENCH ?= postgresql://postgres@127.0.0.1:5432/postgres

.PHONY: install run demo worker test test-unit test-sqlite test-postgres test-wheel test-random \
	fuzz lint bench bench-http clean

$(BIN)/deskflow: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

# The web UI's front-end libraries (bpmn-js, dmn-js), from the npm registry at install time
# into web/static/vendor, so the UI needs no internet at run time; the process modeler
# (web/modeler/) is bundled with esbuild into web/static/vendor/modeler/. Redone when
# package.json or the modeler's sources change.
VENDOR_STAMP = web/static/vendor/.stamp
MODELER_SOURCES = $(wildcard web/modeler/*)

$(VENDOR_STAMP): package.json package-lock.json .npmrc scripts/vendor_assets.py $(MODELER_SOURCES)
	npm ci --include=dev --no-audit --no-fund --loglevel=error >/dev/null
	npx --no-install esbuild web/modeler/modeler.js --bundle --minify --log-level=warning \
		--define:process.env.NODE_ENV='"production"' --legal-comments=external \
		--outfile=web/static/vendor/modeler/modeler.js
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

# The suites run on pytest-xdist workers (XDIST=-n 4 for more, XDIST= for one process).
# Every worker has its own SQLite file, or on PostgreSQL its own database beside PG_URL's
# (`test_gw0`, `test_gw1`, … created when missing; see tests/integration/conftest.py).
XDIST ?= -n 2 --dist loadgroup

test-unit: install
	$(BIN)/pytest -q $(XDIST) tests/unit

test-sqlite: install
	$(BIN)/pytest -q $(XDIST) tests/integration

# Runs on the PostgreSQL named by PG_URL; set SKIP_POSTGRES=1 to leave it out locally.
test-postgres: install
	@if [ -n "$$SKIP_POSTGRES" ]; then echo "SKIP_POSTGRES set: PostgreSQL tests not run"; \
	else DESKFLOW_TEST_DATABASE_URL=$(PG_URL) $(BIN)/pytest -q $(XDIST) tests/integration; fi

# Builds the wheel (with the front-end files `make install` vendored), installs it in a
# clean venv in a temporary folder and runs init, a demo and replay --all there.
test-wheel: install
	PYTHON=$(PYTHON) BUILD_PYTHON=$(BIN)/python scripts/wheel_check.sh

test: lint test-unit test-sqlite test-postgres test-wheel

# The unit and SQLite integration tests in a random order (pytest-random-order); the seed
# is printed: `make test-random SEED=N` repeats an order.
SEED ?= $(shell date +%s)
test-random: install
	$(BIN)/pytest -q $(XDIST) --random-order-bucket=global \
		--random-order-seed=$(SEED) tests/unit tests/integration

# The fuzz tests (marker `fuzz`: hostile generated requests, no answer may be a 5xx) with
# more examples than `make test` gives them — FUZZ_EXAMPLES per route, or per API operation
# and caller — and a new seed each run; what they sent and found is in test-output/fuzz/.
# On PostgreSQL: `DESKFLOW_TEST_DATABASE_URL=<url> make fuzz`.
FUZZ_EXAMPLES ?= 100
fuzz: install
	DESKFLOW_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -q $(XDIST) tests/integration -m fuzz

bench: install
	$(BIN)/python -m bench

# The web UI over HTTP (gunicorn) with 100,000 incidents, on SQLite and PostgreSQL.
bench-http: install
	$(BIN)/python -m bench.http --postgres $(PG_URL_BENCH)

clean:
	rm -rf $(VENV) node_modules web/static/vendor deskflow.db deskflow.db-wal deskflow.db-shm deskflow.secret .pytest_cache
