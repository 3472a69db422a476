# Two commands matter: `make run` and `make test`. Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck check bench bench-issue venv clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## Start the server with demo data on embedded defaults (SQLite under var/, in-process Redis).
## The demo writes a small GeoIP database (fixture ranges) so that scans are located.
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
