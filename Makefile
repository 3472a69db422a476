# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench bench-issue venv vendor clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Refresh the vendored front-end libraries from npm (development only; pins in kernel/vendor_assets.py).
vendor: $(STAMP)
	$(BIN)/python -m kernel.vendor_assets

## Start the server with demo data on embedded defaults (SQLite under var/, in-process Redis).
## The demo writes a small GeoIP database (fixture ranges) so that scans are located.
## Development is chosen here, explicitly: unset, SCANGUARD_ENV means production, which
## refuses to start without its secrets. Development generates them into var/dev-secrets.json.
run: export SCANGUARD_ENV ?= development
run: export SCANGUARD_GEOIP_DATABASE ?= var/demo-geoip.mmdb
run: $(STAMP)
	@mkdir -p var
	$(BIN)/scanguard migrate
	$(BIN)/scanguard demo
	$(BIN)/scanguard serve --with-demo-banner --with-worker

## Run the whole test suite (embedded defaults and, when reachable, PostgreSQL + Redis) in
## parallel: each xdist worker has its own PostgreSQL schema and Redis key prefix.
## TEST_WORKERS=0 runs it serially.
TEST_WORKERS ?= 4
test: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck test

## Scan gateway baseline: bare Redis ceiling, genuine/repeat/forged scans, hello JSON (wrk).
## PostgreSQL + Redis by default; BENCH_ARGS=--embedded for SQLite + in-process store.
bench: $(STAMP)
	$(BIN)/python -m loadtests.bench $(BENCH_ARGS)

## Code issuance throughput and memory (prints figures).
bench-issue: $(STAMP)
	$(BIN)/python -m loadtests.bench_issue

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache

# Schemathesis over the whole OpenAPI document (brand admin + distributor, SQLite + PostgreSQL/Redis)
# at a larger budget than tests/fuzz; prints operations, requests, 5xx and schema violations.
.PHONY: fuzz
fuzz:
	SCANGUARD_REQUIRE_SERVICES=1 .venv/bin/python -m loadtests.fuzz --seconds $${FUZZ_SECONDS:-60}
