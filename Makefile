PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= DATASET
HISTORY_DATA ?= ../shared/data/coingecko-history

.DEFAULT_GOAL := help
.PHONY: help setup run dashboard store test test-quick lint faults train train-shared check-model ingest report bench api-fuzz

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  %-14s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@

$(VENV)/.dashboard: requirements-dashboard.txt $(VENV)/.runtime
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dashboard.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements-dashboard.txt requirements.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $@ $(VENV)/.runtime $(VENV)/.dashboard

setup: $(VENV)/.dev ## create .venv with everything the app, tests, report and notebooks need; run nothing

run: $(VENV)/.runtime store ## start the app at http://127.0.0.1:5000 on its embedded defaults
	$(BIN)/flask --app app run

# The app runs in the background for as long as the dashboard does; when one already serves port 5000 (`make run`),
# the second cannot bind and exits, and the dashboard reads the one running.
dashboard: $(VENV)/.dashboard store ## start the app as `make run` does and the Streamlit dashboard on its API at http://127.0.0.1:8501
	$(BIN)/flask --app app run & app=$$!; trap 'kill $$app 2>/dev/null' EXIT INT TERM; \
	LIQUIDITY_API_URL=http://127.0.0.1:5000 $(BIN)/streamlit run dashboard/app.py --server.address 127.0.0.1 \
	  --server.port 8501 --server.headless true --browser.gatherUsageStats false --client.toolbarMode viewer

# A fresh clone has an empty store: fill it from DATASET/ (the committed demo slice) so every page has real data.
store: $(VENV)/.runtime ## import DATA (default DATASET/) into the market store (DATABASE_URL) if it is empty
	$(BIN)/python -m liquidity import --if-empty $(DATA)

test: $(VENV)/.dev ## install what the tests need and run them all
	$(BIN)/python -m pytest

test-quick: $(VENV)/.dev ## the tests not marked slow (no notebooks, browser, subprocesses or committed model)
	$(BIN)/python -m pytest -m "not slow"

lint: $(VENV)/.dev ## check the code, tests, benchmarks and notebooks with ruff (pyproject.toml's rules)
	$(BIN)/ruff check .

api-fuzz: $(VENV)/.dev ## Schemathesis, every check, against gunicorn -w 2 over a small store with forecasts logged: 40 examples per operation, seed 21, 0 failures or it fails (~1-2 min)
	$(BIN)/python -m fuzz.api --examples 40 --seed 21

faults: $(VENV)/.dev ## gunicorn -w 2 under real faults (PostgreSQL stopped, Redis paused, SQLite read-only or deleted, kill -9): a table of answers, rows lost, recovery (root, ~3 min)
	$(BIN)/python -m faults.run

train: $(VENV)/.runtime ## retrain on DATA (default DATASET/) and overwrite the committed artifacts
	$(BIN)/python -m liquidity train --data $(DATA)

train-shared: $(VENV)/.runtime ## retrain the committed model on the shared daily history (~5 min on 2 free cores)
	$(BIN)/python -m liquidity train --data $(HISTORY_DATA)

check-model: $(VENV)/.runtime ## check the committed pkls against model_card.json and retrain its verification run (~1 min)
	$(BIN)/python -m liquidity verify --data $(HISTORY_DATA) --card model_card.json

ingest: $(VENV)/.runtime ## snapshot today's top 500 coins from CoinGecko into DATA (default DATASET/)
	$(BIN)/python -m liquidity ingest --out $(DATA)

# The report reads DATA when it is given on the command line, else the shared daily history (the data the committed
# model is trained on) when present, else DATASET/ (its last 90 days).
REPORT_DATA = $(if $(filter command line environment,$(origin DATA)),$(DATA),$(if $(wildcard $(HISTORY_DATA)/*.csv),$(HISTORY_DATA),$(DATA)))

report: $(VENV)/.dev ## build EDA_REPORT/ from DATA (default: shared daily history, else DATASET/) and the model (~1 min)
	$(BIN)/python -m liquidity report --data "$(REPORT_DATA)" --model-dir . --out EDA_REPORT

bench: $(VENV)/.runtime ## time one-row, batch, start-up and HTTP figures against their baselines, the movers view at 1,000 coins in process [< 20 ms], the API's req/s against /healthz (median of 5 runs), p99 per route and worker RSS across a store change at 10,000 coins a day, then the peak memory of importing a generated 200 MB CSV (fails over 500 MB) (~15 min, loopback only)
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/movers.py --coins 1000 --seconds 3
	$(BIN)/python benchmarks/api_ratio.py --runs 5 --seconds 8
	$(BIN)/python benchmarks/store_change.py --coins 10000 --seconds 45
	$(BIN)/python benchmarks/bench_import_memory.py --megabytes 200 --budget-mb 500

.PHONY: soak
soak: $(VENV)/.runtime ## load test: gunicorn on loopback, 16 clients for 60 s, prediction log on SQLite; p99, RSS, log rows
	$(BIN)/python benchmarks/soak.py --seconds 60 --clients 16 --workers 2

.PHONY: profile
profile: $(VENV)/.dev ## show where POST /api/v1/predict's time goes under gunicorn (py-spy over the workers, ~15 s)
	$(BIN)/python benchmarks/profile_route.py --route "POST /api/v1/predict"

.PHONY: bench-import
bench-import: $(VENV)/.runtime ## import the shared daily history into a fresh SQLite store: rows/s against the loader alone
	$(BIN)/python benchmarks/bench_import.py --data $(HISTORY_DATA)
