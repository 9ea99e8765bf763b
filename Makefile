# The README's commands. Everything runs inside the locked uv environment (.venv).
SHELL := /bin/bash
PYTHON ?= python3
UV := $(PYTHON) -m uv
RUN := $(UV) run --frozen --no-sync
DATE ?=
CUSTOMERS ?= 3000
DAYS ?= 75
LOOP_DAYS ?= 21
SERVE_HOST ?= 127.0.0.1
SERVE_PORT ?= 6566
SERVE_READER ?= direct
BENCH_CUSTOMERS ?= 20000
BENCH_DAYS ?= 90
BENCH_INCREMENTAL_DAYS ?= 3
BENCH_DOUBLE_HISTORY ?= 1

.PHONY: compose setup demo run test lint format generate berka dbt-docs serve bench-dbt bench-publish bench-serving bench-training bench-oracle bench-loop bench-policy bench-scheduler bench-daily bench-adapter bench-staging bench-first-load airflow-ui mlflow-ui clean help browser

help:
	@echo "make demo                    set up, generate a synthetic bank, run the daily DAG over its last days"
	@echo "make test                    run the test suite"
	@echo "make run DATE=YYYY-MM-DD     run the daily DAG for one logical date on the current DATA_DIR"
	@echo "make berka                   build the warehouse from the real Berka bank data"
	@echo "make dbt-docs                dbt docs generate for DATA_DIR's warehouse"
	@echo "make serve                   online feature service on DATA_DIR's Feast store (SERVE_HOST, SERVE_PORT, SERVE_READER)"
	@echo "make bench-publish           fast vs plain Feast materialisation, 1M customers, SQLite and Redis"
	@echo "make bench-serving           p50/p99 latency of the feature service, 1 and 100 customers per request"
	@echo "make bench-training          point-in-time training set: the plugin's ASOF join against Feast's DuckDB join"
	@echo "make bench-dbt               the dbt part of a daily run at 100k customers: direct DuckDB, dbt, Cosmos"
	@echo "make bench-oracle            propensity AUC / oracle AUC on synthetic banks of 3k-100k customers (~25 min)"
	@echo "make bench-loop              measured campaign uplift against the simulator's truth: interval coverage"
	@echo "make bench-policy            random, propensity, uplift and oracle targeting on the simulator's truth"
	@echo "make bench-scheduler         scheduler-driven days of the production profile: LocalExecutor vs 2 Celery workers"
	@echo "make bench-daily             first load and incremental days through the real DAGs: wall, CPU, memory per stage"
	@echo "                             (BENCH_CUSTOMERS, BENCH_DAYS of history, BENCH_INCREMENTAL_DAYS, BENCH_DOUBLE_HISTORY=0|1)"
	@echo "make bench-first-load        a warehouse's first build over 180 days: one dbt run vs monthly slices (memory)"
	@echo "make bench-staging           staging's read of every landed day of DATA_DIR: declared CSV dialect vs sniffed"
	@echo "make airflow-ui / mlflow-ui  open the UIs on DATA_DIR"
	@echo "make clean                   delete DATA_DIR"

MANIFEST := dbt_project/target/manifest.json
DATADOCS_ASSETS := build/datadocs-assets
DBT_FILES := $(shell find dbt_project -path dbt_project/target -prune -o -type f \( -name '*.sql' -o -name '*.yml' -o -name '*.py' \) -print)

# Creates .venv from uv.lock (installs uv itself from PyPI when missing) and the
# dbt manifest the DAG is rendered from (rebuilt when a dbt file changes).
# Bytecode is compiled at install: every Airflow task, dbt call and test process
# would otherwise compile Airflow, dbt and Feast again wherever Python does not write
# .pyc files (PYTHONDONTWRITEBYTECODE, read-only images), several seconds each.
setup: .venv/.synced $(MANIFEST) browser compose $(DATADOCS_ASSETS)

# Headless Chromium renders the reports for their screenshot tests (Debian's package; needs root and
# the package registry). Without it those tests skip and say why, except under CI where they fail.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& echo "[setup] installing Debian's chromium for the report screenshots" \
		&& (apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1)) ; } \
		|| echo "[setup] chromium not installed: the report screenshot tests will skip"

# Great Expectations' Data Docs load their scripts and styles from CDNs; `npm pack` fetches the same files
# once from the npm registry, and every Data Docs build points its pages at them (bankmkt.offline_assets).
# Without npm the pages keep their internet links (a warning says so).
$(DATADOCS_ASSETS): src/bankmkt/offline_assets.py .venv/.synced
	@$(RUN) python -m bankmkt.offline_assets fetch || true

# Debian's docker-compose validates docker-compose.yml in the tests (no Docker engine needed).
# Without it that test skips and says why, except under CI where it fails.
compose:
	@command -v docker-compose >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
		&& echo "[setup] installing Debian's docker-compose to validate docker-compose.yml" \
		&& (apt-get install -y -qq docker-compose >/dev/null 2>&1 || (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq docker-compose >/dev/null 2>&1)) ; } \
		|| echo "[setup] docker-compose not installed: the compose file test will skip"

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet "uv==0.13.9"
	@$(UV) sync --frozen --quiet --compile-bytecode
	@touch $@

$(MANIFEST): $(DBT_FILES) .venv/.synced
	@echo "[setup] dbt parse -> $(MANIFEST)"
	@$(RUN) python -m bankmkt.warehouse parse >/dev/null

demo: setup
	$(RUN) python -m bankmkt.cli demo --customers $(CUSTOMERS) --days $(DAYS) --loop-days $(LOOP_DAYS)

run: setup
	@test -n "$(DATE)" || (echo "usage: make run DATE=YYYY-MM-DD" >&2; exit 2)
	$(RUN) python -m bankmkt.cli run --date $(DATE)

generate: setup
	$(RUN) python -m bankmkt.generator --customers $(CUSTOMERS) --days $(DAYS) --start-date 2024-01-01 --seed 42

test: setup lint
	$(RUN) pytest

# ruff (pyproject.toml [tool.ruff]): lint, and the formatter's check; `make format` rewrites.
lint: setup
	$(RUN) ruff check .
	$(RUN) ruff format --check .

format: setup
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# The real Czech bank (../shared/data/berka) through the landing contract and dbt, into DATA_DIR.
berka: setup
	$(RUN) python -m bankmkt.adapters.berka --build

# dbt docs (catalog and a static site) for the warehouse in DATA_DIR.
dbt-docs: setup
	$(RUN) python -m bankmkt.warehouse docs

# The online feature service (bankmkt.serving) over DATA_DIR's Feast store; OpenAPI at /openapi.json, docs at /docs.
serve: setup
	$(RUN) python -m bankmkt.serving --host $(SERVE_HOST) --port $(SERVE_PORT) --reader $(SERVE_READER)

# 90 days: the first day whose 90-day feature windows are full, as every later daily run's are
# (--days 30 measures a day of the first month, when the windows are still filling).
bench-dbt: setup
	$(RUN) python benchmarks/dbt_modes.py --customers 100000 --days 90

# Temporary DATA_DIRs under /tmp and throw-away Feast projects (Redis: 127.0.0.1:6379); nothing of DATA_DIR is touched.
bench-publish: setup
	$(RUN) python benchmarks/materialize.py --customers 1000000 --store both --compare-plain 100000 --history-days 30

# A telemarketing campaign of the public "bank marketing" shape (the adapter's fixture; ADAPTER_SOURCE=<file> for a real one)
# through the daily run, against LightGBM on the extract's own fields (~6 min).
bench-adapter: setup
	$(RUN) python benchmarks/adapter_auc.py $(if $(ADAPTER_SOURCE),--source $(ADAPTER_SOURCE),)

# Staging's read of DATA_DIR's whole landing, source by source: the declared dialect against DuckDB's sniffing.
bench-first-load: setup
	$(RUN) python benchmarks/first_load.py --customers 20000 --days 180

bench-staging: setup
	$(RUN) python benchmarks/staging_read.py

bench-training: setup
	$(RUN) python benchmarks/training_sets.py --customers 100000 --days 90 --rows 145000

bench-serving: setup
	$(RUN) python benchmarks/serving_latency.py --store both

# The six small banks of docs/models.md, then 20k and 100k customers (the ratio grows with the data).
bench-oracle: setup
	$(RUN) python benchmarks/oracle_ratio.py --banks 5000:0.01:101 3000:0.03:102 4000:0.02:103 3500:0.015:104 \
		4000:0.03:105 5000:0.02:106 20000:0.02:201 100000:0.02:203

# A 20,000-customer bank through 8 weeks of campaign waves on the simulator (~10 min).
bench-loop: setup
	$(RUN) python benchmarks/loop_coverage.py --customers 20000 --loop-days 56

# 20,000 customers: 4 weeks of random lists to learn from (400 contacts a day per campaign), then 2 weeks per
# policy from the same state at three contact budgets (~15 min).
bench-policy: setup
	$(RUN) python benchmarks/policy_value.py --customers 20000 --explore-days 28 --evaluate-days 14 --capacity 100 200 400

# The production profile's services as processes on the local PostgreSQL and Redis: one first load and
# two incremental days through the REST API, with LocalExecutor, then with two Celery workers.
bench-scheduler: setup
	$(RUN) python benchmarks/scheduler_day.py --customers 3000 --days 80 --incremental-days 2 --workers 2

# The daily run as `make run` runs it, on a synthetic bank in a temporary DATA_DIR: the first load, then
# incremental days; per stage wall and CPU seconds, peak memory per process, rows; then the same on twice
# the history and the ratios (~25 min at the defaults on 2 cores; benchmarks/README.md).
bench-daily: setup
	$(RUN) python benchmarks/daily.py --customers $(BENCH_CUSTOMERS) --history-days $(BENCH_DAYS) \
		--incremental-days $(BENCH_INCREMENTAL_DAYS) $(if $(filter 1,$(BENCH_DOUBLE_HISTORY)),--double-history)

airflow-ui: setup
	$(RUN) python -m bankmkt.cli init
	$(RUN) bash -c 'eval "$$(python -m bankmkt.settings --shell)" && airflow standalone'

mlflow-ui: setup
	$(RUN) bash -c 'eval "$$(python -m bankmkt.settings --shell)" && mlflow ui --backend-store-uri "$$MLFLOW_TRACKING_URI" --port 5000'

clean:
	rm -rf "$${DATA_DIR:-data}"
