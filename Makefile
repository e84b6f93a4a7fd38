# `make run` and `make test` do all set-up on a fresh machine: virtual env, Python and
# npm dependencies, the web client build, secrets, migrations and (first run) demo data.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HUDDLE := $(BIN)/huddle
INSTALLED := $(VENV)/.installed
WEB := clients/web
WEB_BUILT := $(WEB)/dist/index.html
WEB_SOURCES := $(shell find $(WEB)/src $(WEB)/index.html $(WEB)/package.json $(WEB)/vite.config.ts -type f 2>/dev/null)
PYTEST_WORKERS ?= 2

.PHONY: run test setup web lint format bench clean help screenshots

help:
	@echo "make run    set everything up and serve Huddle at http://127.0.0.1:8000 (SQLite)"
	@echo "make test   set everything up and run the whole test suite"
	@echo "make lint   ruff lint and format check"
	@echo "make format ruff format"
	@echo "make bench  measure Huddle end to end with the same machine's ceilings (bench/;"
	@echo "            BENCH_ARGS=\"--quick\" or \"--tiny --scenarios abc\"; see docs/benchmarks.md)"
	@echo "make clean  remove the virtual env and build output (keeps var/ data)"
	@echo "make screenshots  save screenshots of each main screen to docs/screenshots/"

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

$(WEB)/node_modules/.package-lock.json: $(WEB)/package-lock.json
	cd $(WEB) && npm ci --no-audit --no-fund --loglevel=error

$(WEB_BUILT): $(WEB)/node_modules/.package-lock.json $(WEB_SOURCES)
	cd $(WEB) && npm run build --silent

web: $(WEB_BUILT)

setup: $(INSTALLED) web
	$(HUDDLE) signing-keys init --if-missing
	$(HUDDLE) keys init --if-missing
	$(HUDDLE) db upgrade
	$(HUDDLE) demo --if-empty

run: setup
	$(HUDDLE) serve

test: $(INSTALLED) web
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd $(WEB) && npm test --silent
	$(BIN)/pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(INSTALLED)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

BENCH_POSTGRES ?= postgresql+asyncpg://postgres@127.0.0.1:5432/test
BENCH_ARGS ?=

bench: $(INSTALLED)
	$(BIN)/python -m bench --postgres $(BENCH_POSTGRES) $(BENCH_ARGS)

# A real server with the demo clinic in a temporary directory, driven by Debian's Chromium.
screenshots: $(INSTALLED) web
	$(BIN)/python -m tests.e2e.screenshots docs/screenshots

clean:
	rm -rf $(VENV) $(WEB)/node_modules $(WEB)/dist
