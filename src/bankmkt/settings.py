"""The one place that reads the platform's settings.

Two environment variables pick everything:

* ``PLATFORM_ENV``: ``local`` (embedded default: DuckDB, SQLite, local MLflow,
  Airflow in-process) or ``prod`` (PostgreSQL, Redis, MLflow server; see
  docker-compose.yml).
* ``DATA_DIR``: the root of all state (default: the checkout's ``data/``, git-ignored; a
  relative path is taken from the working directory).

Every path and URI the rest of the code uses is derived here. Other modules
call :func:`get_settings` and never build a path from a literal of their own.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]

ENVIRONMENTS = ("local", "prod")


class SettingsError(ValueError):
    """A setting has a value the platform cannot run with."""


@dataclass(frozen=True)
class Settings:
    platform_env: str
    data_dir: Path
    project_root: Path = PROJECT_ROOT
    # Production-profile endpoints (ignored by the local profile). POSTGRES_URL names the server,
    # its credentials and a maintenance database; Airflow, MLflow (and its users) and Feast's
    # registry each get a database of their own on it (created by `bankmkt.cli init`): one
    # schema history per tool, never a shared alembic_version table.
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres"
    airflow_database: str = "airflow"
    mlflow_database: str = "mlflow"
    mlflow_auth_database: str = "mlflow_auth"
    feast_database: str = "feast"
    redis_url: str = "127.0.0.1:6379"
    redis_password: str = ""
    mlflow_server_uri: str = "http://127.0.0.1:5000"
    # Airflow under a scheduler (prod): LocalExecutor, or CeleryExecutor with workers that take
    # tasks from Redis (broker: Redis database 1; results in Airflow's database). Tasks that
    # write the DuckDB warehouse run in the one-slot pool WAREHOUSE_POOL on the queue
    # warehouse_queue: exactly one worker (the host with the warehouse's disk) listens to it.
    airflow_executor: str = "LocalExecutor"
    airflow_api_url: str = "http://127.0.0.1:8080"
    celery_broker_url: str = ""
    warehouse_queue: str = "warehouse"
    # Secrets of the production profile: read from the environment (the env file of
    # docker-compose, never committed); PLATFORM_ENV=prod refuses to start without them.
    airflow_jwt_secret: str = ""
    airflow_fernet_key: str = ""
    airflow_admin_user: str = "admin"
    airflow_admin_password: str = ""
    mlflow_admin_user: str = "admin"
    mlflow_admin_password: str = ""
    mlflow_secret_key: str = ""
    pii_hash_key: str = ""
    # Where the lookup from the target lists' pseudonymous customer_key back to the bank's customer
    # number is written (bankmkt.pseudonyms): DATA_DIR/restricted/customer_lookup unless
    # CUSTOMER_LOOKUP_DIR puts it on storage only the marketing tool can read.
    customer_lookup_dir: Path | None = None
    # bank_daily's schedule: a cron preset or expression, or "none" (runs only when triggered: by
    # the REST API, `airflow dags trigger`, or `make run`).
    daily_schedule: str = "@daily"
    target_list_size: int = 500
    control_share: float = 0.1
    model_prefix: str = "propensity"
    berka_dir: Path = PROJECT_ROOT.parent / "shared" / "data" / "berka"
    # Alerts (bankmkt.alerts): always a line in DATA_DIR/alerts/alerts.jsonl; also a webhook POST
    # and an e-mail when these are set.
    alert_webhook_url: str = ""
    alert_smtp_host: str = ""
    alert_smtp_port: int = 25
    alert_email_to: str = ""
    alert_email_from: str = "bankmkt@localhost"
    # Targeting (ml.targeting): "uplift" ranks offers by what a contact adds (uplift x value - cost)
    # once every scored product has an uplift champion; "propensity" by propensity x value - cost.
    targeting_policy: str = "uplift"
    # DuckDB in every process (dbt's profile, the contract check, readers, exports): memory above the
    # limit spills to the temporary folder instead of growing (a size like "6GB" or a share of RAM
    # like "50%"); threads 0 means one per core.
    duckdb_memory_limit: str = "50%"
    duckdb_threads: int = 0
    # The first build of a warehouse (and a full refresh) over a history longer than this many
    # calendar months builds it in slices of that many months, oldest first, so that dbt's memory
    # follows a slice and not the whole history (bankmkt.warehouse.history_slices). 0: one build.
    warehouse_slice_months: int = 1
    # Landing contract: the bank's own formats of its customer and account numbers (rule pattern),
    # in place of the contract's C + 7 digits and A + 8 digits. Empty: the contract's.
    customer_number_pattern: str = ""
    account_number_pattern: str = ""
    # Landing contract, rule spend_beyond_income: a customer's debits on one day may not exceed this
    # many times their monthly income (judged against at least spend_income_floor; 0 turns it off).
    # The synthetic bank's largest day is about 80x (moving savings into investments).
    spend_income_factor: float = 200.0
    spend_income_floor: float = 1000.0
    # The feature server answers 422 for customer ids that do not match (bounded length, no free text).
    customer_id_pattern: str = r"[A-Za-z0-9_.-]{1,64}"
    # Retraining triggers (bankmkt.monitoring, the bank_training DAG): a model retrains only when
    # one of these holds. Label surplus: new labelled outcomes since the latest version's training
    # data reach max(retrain_min_new_labels, retrain_new_label_share x its training rows).
    retrain_min_new_labels: int = 200
    retrain_new_label_share: float = 0.25
    # Input drift: population stability index of a served feature (or of the model's score)
    # against the population the champion was trained on.
    retrain_psi_threshold: float = 0.25
    # Decay, on outcomes matured since the champion's training data (at least retrain_min_matured
    # of them, with retrain_min_matured_positives conversions): AUC lower than the champion's
    # holdout AUC by more than retrain_auc_drop (and by two standard errors); observed conversions
    # off the predicted by more than retrain_calibration_tolerance (relative, and outside the 99%
    # band); an uplift model's realised Qini coefficient below retrain_min_qini.
    retrain_min_matured: int = 200
    retrain_min_matured_positives: int = 20
    retrain_auc_drop: float = 0.05
    retrain_calibration_tolerance: float = 0.5
    retrain_min_qini: float = 0.0
    extra: dict = field(default_factory=dict)

    # ---- folders under DATA_DIR -------------------------------------------------
    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def exports_dir(self) -> Path:
        return self.data_dir / "exports"

    @property
    def outputs_dir(self) -> Path:
        return self.data_dir / "outputs"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    def monitoring_dir(self, run_date=None) -> Path:
        """Model monitoring (drift, realised performance, retraining decisions) as Parquet per day."""
        folder = self.outputs_dir / "monitoring"
        return folder if run_date is None else folder / f"dt={run_date.isoformat()}"

    @property
    def training_state_file(self) -> Path:
        """Per model: the labelled outcomes its latest training attempt saw (label-surplus trigger)."""
        return self.data_dir / "models" / "training_state.json"

    @property
    def key_patterns(self) -> dict[str, str]:
        """Landing-contract column -> the bank's format of it (regular expression), where set."""
        return {
            column: getattr(self, field) for column, (_, field) in KEY_PATTERN_VARIABLES.items() if getattr(self, field)
        }

    @property
    def datadocs_assets_dir(self) -> Path:
        """Local copies of the scripts and styles Data Docs load (``make setup``; bankmkt.offline_assets)."""
        return self.project_root / "build" / "datadocs-assets"

    @property
    def duckdb_temp_dir(self) -> Path:
        """Where DuckDB spills what does not fit in its memory limit."""
        return self.data_dir / "tmp" / "duckdb"

    def duckdb_config(self) -> dict[str, str | int]:
        """The configuration of every DuckDB connection the platform opens (and of dbt's, by its profile)."""
        self.duckdb_temp_dir.mkdir(parents=True, exist_ok=True)
        return {
            "memory_limit": self.duckdb_memory_limit,
            "threads": self.duckdb_threads or os.cpu_count() or 1,
            "temp_directory": str(self.duckdb_temp_dir),
        }

    @property
    def customer_lookup_root(self) -> Path:
        """The access-controlled lookup customer_key -> customer_id of the target lists (owner-only)."""
        return self.customer_lookup_dir or self.data_dir / "restricted" / "customer_lookup"

    @property
    def target_lists_dir(self) -> Path:
        """Every run's target lists, one ``dt=`` folder per run date."""
        return self.outputs_dir / "target_lists"

    def target_list_dir(self, run_date) -> Path:
        """Per-campaign target lists of one run (Parquet, CSV and their data dictionary)."""
        return self.target_lists_dir / f"dt={run_date.isoformat()}"

    def churn_risk_dir(self, run_date=None) -> Path:
        """Every customer's churn risk with its reasons, one ``dt=`` folder per run date."""
        folder = self.outputs_dir / "churn_risk"
        return folder if run_date is None else folder / f"dt={run_date.isoformat()}"

    @property
    def quality_reports_dir(self) -> Path:
        """The gate's summaries and profiles, one ``dt=`` folder per run date."""
        return self.reports_dir / "quality"

    @property
    def run_reports_dir(self) -> Path:
        """The day's model reports, one ``dt=`` folder per run date."""
        return self.reports_dir / "runs"

    @property
    def landing_ledger_path(self) -> Path:
        """The contract's ledger of accepted landing files (hashes, rows, when)."""
        return self.runs_dir / "landing_ledger.json"

    @property
    def landing_file_stats_path(self) -> Path:
        return self.runs_dir / "landing_file_stats.json"

    @property
    def landing_key_index_path(self) -> Path:
        """The contract's index of accepted keys (orphans, duplicates across days)."""
        return self.runs_dir / "landing_keys.duckdb"

    @property
    def legacy_landing_key_dir(self) -> Path:
        """The former key cache: one Parquet file per source and accepted day."""
        return self.runs_dir / "landing_keys"

    @property
    def landing_contract_doc_path(self) -> Path:
        return self.project_root / "docs" / "landing_contract.md"

    @property
    def dbt_run_results_path(self) -> Path:
        return self.dbt_target_dir / "run_results.json"

    @property
    def mlflow_database_path(self) -> Path:
        """The local profile's MLflow tracking and registry database."""
        return self.mlflow_dir / "mlflow.db"

    @property
    def mlflow_artifacts_dir(self) -> Path:
        return self.mlflow_dir / "artifacts"

    @property
    def feast_applied_dir(self) -> Path:
        """Fingerprints of the last `feast apply` per feature store file (bankmkt.features.repo)."""
        return self.feast_dir / "applied"

    @property
    def run_lock_path(self) -> Path:
        """The lock a run of the DATA_DIR holds for its life."""
        return self.data_dir / "run.lock"

    @property
    def truth_dir(self) -> Path:
        """Ground truth written by the synthetic generator: read only to evaluate models (never to train or score)."""
        return self.data_dir / "truth"

    @property
    def contact_truth_path(self) -> Path:
        """Every simulated contact's true response probabilities (the generator's truth)."""
        return self.truth_dir / "contact_truth.parquet"

    @property
    def customer_truth_path(self) -> Path:
        return self.truth_dir / "customer_truth.parquet"

    @property
    def do_not_contact_file(self) -> Path:
        """Customers marketing must not contact (CSV with a customer_id column), kept by the bank; optional."""
        return self.data_dir / "reference" / "do_not_contact.csv"

    @property
    def reference_dir(self) -> Path:
        """What the bank and marketing maintain by hand: catalogues, exclusions, attribute declarations."""
        return self.data_dir / "reference"

    @property
    def customer_attributes_file(self) -> Path:
        """The bank's declaration of its own customer attributes (bankmkt.attributes; docs/adapters.md)."""
        return self.reference_dir / "customer_attributes.csv"

    @property
    def campaign_catalogue_file(self) -> Path:
        """Marketing's campaign catalogue (CSV, one row per campaign and channel; docs/campaigns.md)."""
        return self.data_dir / "reference" / "campaign_catalogue.csv"

    @property
    def simulator_dir(self) -> Path:
        """The synthetic bank's state between days when it executes the platform's lists (closed loop)."""
        return self.data_dir / "simulator"

    @property
    def effectiveness_report_dir(self) -> Path:
        """Marketing's morning report: campaigns, uplift with intervals, value, channels, guardrails."""
        return self.reports_dir / "effectiveness"

    @property
    def alerts_file(self) -> Path:
        """Every alert the platform raised (failed tasks, monitoring), one JSON object per line."""
        return self.data_dir / "alerts" / "alerts.jsonl"

    @property
    def runs_dir(self) -> Path:
        """One JSON record per daily run and stage (what was produced, where, how long)."""
        return self.data_dir / "runs"

    @property
    def gx_dir(self) -> Path:
        """Great Expectations file context (suites, validation results)."""
        return self.data_dir / "gx"

    @property
    def data_docs_dir(self) -> Path:
        return self.reports_dir / "data_docs"

    # ---- warehouse ------------------------------------------------------------
    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def warehouse_snapshot_path(self) -> Path:
        """The last validated warehouse, for readers while dbt writes (bankmkt.warehouse.publish_snapshot)."""
        return self.data_dir / "snapshots" / "warehouse.duckdb"

    @property
    def dbt_project_dir(self) -> Path:
        return self.project_root / "dbt_project"

    @property
    def dbt_manifest_path(self) -> Path:
        """Prebuilt manifest (`make setup` runs `dbt parse`): Cosmos renders the DAG from it, never running dbt."""
        return self.dbt_project_dir / "target" / "manifest.json"

    @property
    def dbt_executable(self) -> Path:
        import sys

        # bankmkt-dbt execs dbt after asking the kernel to kill it with its parent (bankmkt/dbt_launcher.py).
        launcher = Path(sys.executable).with_name("bankmkt-dbt")
        return launcher if launcher.exists() else Path(sys.executable).with_name("dbt")

    @property
    def dbt_target_dir(self) -> Path:
        return self.data_dir / "dbt" / "target"

    @property
    def dbt_log_dir(self) -> Path:
        return self.data_dir / "dbt" / "logs"

    # ---- feature store --------------------------------------------------------
    @property
    def feature_repo_dir(self) -> Path:
        return self.project_root / "feature_repo"

    @property
    def feature_store_yaml(self) -> Path:
        name = "feature_store.yaml" if self.platform_env == "local" else "feature_store.prod.yaml"
        return self.feature_repo_dir / name

    @property
    def feature_export_dir(self) -> Path:
        """Parquet export of the feature mart, one ``dt=`` folder per feature date (Feast's offline source)."""
        return self.exports_dir / "customer_features"

    @property
    def feature_export_staging_dir(self) -> Path:
        """Where dbt's ``feature_export`` model writes a run's feature dates (``dt=`` folders) for the gate to
        validate; the publication moves them, once validated, into :attr:`feature_export_dir`."""
        return self.data_dir / "staging" / "customer_features"

    @property
    def attribute_export_path(self) -> Path:
        """The bank's declared customer attributes, one row per customer and change with every attribute's
        value after it (Feast's ``customer_attributes`` view reads it; rewritten by each publication)."""
        return self.exports_dir / "customer_attributes" / "customer_attributes.parquet"

    @property
    def feature_export_glob(self) -> str:
        return str(self.feature_export_dir / "dt=*" / "*.parquet")

    def feature_export_file(self, feature_date) -> Path:
        return self.feature_export_dir / f"dt={feature_date.isoformat()}" / "customer_features.parquet"

    @property
    def feast_dir(self) -> Path:
        return self.data_dir / "feast"

    @property
    def feast_registry_path(self) -> Path:
        return self.feast_dir / "registry.db"

    @property
    def feast_online_path(self) -> Path:
        return self.feast_dir / "online_store.db"

    # ---- MLflow ---------------------------------------------------------------
    @property
    def mlflow_dir(self) -> Path:
        return self.data_dir / "mlflow"

    @property
    def mlflow_tracking_uri(self) -> str:
        if self.platform_env == "prod":
            return self.mlflow_server_uri
        return f"sqlite:///{self.mlflow_database_path}"

    @property
    def mlflow_artifact_root(self) -> str:
        return self.mlflow_artifacts_dir.as_uri()

    # ---- Airflow --------------------------------------------------------------
    @property
    def airflow_home(self) -> Path:
        return self.data_dir / "airflow"

    @property
    def dags_dir(self) -> Path:
        return self.project_root / "dags"

    @property
    def postgres_databases(self) -> list[str]:
        """The production databases on the one PostgreSQL server, one per tool (distinct names)."""
        return list(
            dict.fromkeys([self.airflow_database, self.mlflow_database, self.mlflow_auth_database, self.feast_database])
        )

    def database_url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        """URL of one database on the production PostgreSQL server (POSTGRES_URL's server and user)."""
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(self.postgres_url)
        return urlunsplit((driver, parts.netloc, "/" + database, parts.query, ""))

    @property
    def airflow_sql_alchemy_conn(self) -> str:
        if self.platform_env == "prod":
            return self.database_url(self.airflow_database)
        return f"sqlite:///{self.airflow_home / 'airflow.db'}"

    @property
    def mlflow_backend_store_uri(self) -> str:
        """The MLflow server's tracking and registry database (prod)."""
        return self.database_url(self.mlflow_database)

    @property
    def mlflow_auth_config_path(self) -> Path:
        """basic_auth.ini of the MLflow server (written by `bankmkt.cli init`; holds no password)."""
        return self.mlflow_dir / "basic_auth.ini"

    @property
    def feast_sql_registry_url(self) -> str:
        return self.database_url(self.feast_database)

    @property
    def feast_redis_connection(self) -> str:
        """Feast's Redis connection string (host:port[,password=...])."""
        return self.redis_url + (f",password={self.redis_password}" if self.redis_password else "")

    @property
    def online_store_location(self) -> str:
        """Where the online features live, for run records (never a password)."""
        if self.platform_env == "prod":
            return f"redis://{self.redis_url}"
        return str(self.feast_online_path)

    @property
    def celery_broker(self) -> str:
        if self.celery_broker_url:
            return self.celery_broker_url
        auth = f":{self.redis_password}@" if self.redis_password else ""
        return f"redis://{auth}{self.redis_url}/1"

    def production_environment(self) -> dict[str, str]:
        """Airflow, MLflow and PII settings of the production profile (services and workers)."""
        executor = self.airflow_executor
        values = {
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": self.airflow_api_url.rstrip("/") + "/execution/",
            "AIRFLOW__API__BASE_URL": self.airflow_api_url.rstrip("/"),
            "AIRFLOW__API_AUTH__JWT_SECRET": self.airflow_jwt_secret,
            "AIRFLOW__API__SECRET_KEY": self.airflow_jwt_secret,
            "AIRFLOW__CORE__FERNET_KEY": self.airflow_fernet_key,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # Masked in task logs and rendered fields, beside Airflow's own names (password, secret, ...).
            "AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES": "fernet,pii_hash_key,sql_alchemy_conn,registry_url,broker_url,"
            "result_backend,postgres_url",
            # Deployed DAGs run: bank_training must be active for monitor_models' asset to schedule it.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
            "MLFLOW_TRACKING_USERNAME": self.mlflow_admin_user,
            "MLFLOW_TRACKING_PASSWORD": self.mlflow_admin_password,
            "MLFLOW_AUTH_CONFIG_PATH": str(self.mlflow_auth_config_path),
            "MLFLOW_FLASK_SERVER_SECRET_KEY": self.mlflow_secret_key,
            "PII_HASH_KEY": self.pii_hash_key,
            "WAREHOUSE_QUEUE": self.warehouse_queue,
        }
        if executor == "CeleryExecutor":
            values.update(
                {
                    "AIRFLOW__CELERY__BROKER_URL": self.celery_broker,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database_url(self.airflow_database),
                    "AIRFLOW__OPERATORS__DEFAULT_QUEUE": "default",
                }
            )
        return values

    def environment(self) -> dict[str, str]:
        """Environment variables that hand these settings to Airflow, dbt, Feast and MLflow.

        Child processes (``airflow dags test``, ``dbt``, ``feast``) read their
        configuration from the environment; this is the one place it is made.
        """
        return {
            "PLATFORM_ENV": self.platform_env,
            "DATA_DIR": str(self.data_dir),
            "AIRFLOW_HOME": str(self.airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.airflow_sql_alchemy_conn,
            "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "DBT_PROFILES_DIR": str(self.dbt_project_dir),
            "DBT_PROJECT_DIR": str(self.dbt_project_dir),
            "DBT_TARGET_PATH": str(self.dbt_target_dir),
            "DBT_LOG_PATH": str(self.dbt_log_dir),
            "DBT_FEATURE_EXPORT_DIR": str(self.feature_export_dir),
            "DBT_FEATURE_EXPORT_STAGING_DIR": str(self.feature_export_staging_dir),
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "WAREHOUSE_PATH": str(self.warehouse_path),
            "LANDING_DIR": str(self.landing_dir),
            "FEAST_REGISTRY_PATH": str(self.feast_registry_path),
            "FEAST_ONLINE_PATH": str(self.feast_online_path),
            "FEAST_OFFLINE_SOURCE": self.feature_export_glob,
            "FEAST_ATTRIBUTE_SOURCE": str(self.attribute_export_path),
            "FEAST_CUSTOMER_ATTRIBUTES": str(self.customer_attributes_file),
            "FEAST_REDIS_URL": self.feast_redis_connection,
            "FEAST_SQL_REGISTRY_URL": self.feast_sql_registry_url,
            "FEAST_USAGE": "False",
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "GX_ANALYTICS_ENABLED": "False",
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            # The watcher producer backs its XComs up to an Airflow Variable for a retry; by default it
            # rewrites the whole growing backup on every node's push (quadratic in the nodes, about
            # 1 s of a daily run at 100k customers). Off, it writes the backup once, when it fails.
            "AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY": "False",
            "DO_NOT_TRACK": "1",
            "TARGETING_POLICY": self.targeting_policy,
            "DUCKDB_MEMORY_LIMIT": self.duckdb_memory_limit,
            "DUCKDB_THREADS": str(self.duckdb_threads or os.cpu_count() or 1),
            "DUCKDB_TEMP_DIRECTORY": str(self.duckdb_temp_dir),
            "WAREHOUSE_SLICE_MONTHS": str(self.warehouse_slice_months),
            # Only when set: exported by default it would tie a later DATA_DIR to this one's lookup.
            **({"CUSTOMER_LOOKUP_DIR": str(self.customer_lookup_dir)} if self.customer_lookup_dir else {}),
            **{name: str(getattr(self, key)) for name, (key, _, _) in RETRAINING_VARIABLES.items()},
            **(self.production_environment() if self.platform_env == "prod" else {}),
            **({"PII_HASH_KEY": self.effective_pii_hash_key} if self.effective_pii_hash_key else {}),
        }

    @property
    def pii_key_file(self) -> Path:
        """The local profile's PII hash key, generated per DATA_DIR (never committed; prod sets PII_HASH_KEY)."""
        return self.data_dir / "secrets" / "pii_hash_key"

    @property
    def effective_pii_hash_key(self) -> str:
        if self.pii_hash_key:
            return self.pii_hash_key
        try:
            return self.pii_key_file.read_text().strip()
        except FileNotFoundError:
            return ""

    def ensure_pii_key(self) -> None:
        """Local profile without PII_HASH_KEY: a random key of this DATA_DIR's own (readable by its owner only).

        A DATA_DIR whose warehouse was built before keys were generated keeps the old development
        key, so that its hashed identifiers stay comparable; a new one never uses a known key.
        """
        if self.pii_hash_key or self.pii_key_file.exists():
            return
        import secrets

        legacy = self.warehouse_path.exists()
        self.pii_key_file.parent.mkdir(parents=True, exist_ok=True)
        self.pii_key_file.parent.chmod(0o700)
        from bankmkt.runtime import write_atomically

        def write(partial: Path) -> None:
            partial.touch(mode=0o600)
            partial.write_text("local-development-key\n" if legacy else secrets.token_urlsafe(32) + "\n")

        write_atomically(self.pii_key_file, write)

    @property
    def daily_dag_schedule(self) -> str | None:
        """bank_daily's schedule for Airflow (None: only triggered runs)."""
        value = self.daily_schedule.strip()
        return None if value.lower() in ("", "none", "manual") else value

    def dbt_environment(self) -> dict[str, str]:
        """What dbt needs of the settings (paths, profile, flags): no Airflow, MLflow or database
        secrets, because a task's environment shows among its rendered fields. dbt's children
        inherit the worker's environment (PII_HASH_KEY among it)."""
        return {
            name: value
            for name, value in self.environment().items()
            if name.startswith(("DBT_", "DUCKDB_", "DO_NOT_TRACK"))
            or name in ("PLATFORM_ENV", "DATA_DIR", "WAREHOUSE_PATH", "LANDING_DIR")
        }

    def ensure_dirs(self) -> None:
        for folder in (
            self.landing_dir,
            self.quarantine_dir,
            self.exports_dir,
            self.feature_export_staging_dir,  # dbt's feature_export writes here (DuckDB creates no parents)
            self.outputs_dir,
            self.reports_dir,
            self.runs_dir,
            self.feast_dir,
            self.mlflow_dir,
            self.airflow_home,
            self.dbt_target_dir,
            self.dbt_log_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)


def _read(env: dict[str, str] | os._Environ) -> Settings:
    platform_env = env.get("PLATFORM_ENV", "local").strip().lower() or "local"
    if platform_env not in ENVIRONMENTS:
        raise SettingsError(f"PLATFORM_ENV={platform_env!r} is not one of {', '.join(ENVIRONMENTS)}")
    if not env.get("DATA_DIR"):
        _check_checkout()
    data_dir = Path(env.get("DATA_DIR", "") or PROJECT_ROOT / "data").expanduser().resolve()
    kwargs = {}
    for name, key in PRODUCTION_VARIABLES.items():
        if env.get(name):
            kwargs[key] = env[name].strip()
    if kwargs.get("airflow_executor", "LocalExecutor") not in EXECUTORS:
        raise SettingsError(f"AIRFLOW_EXECUTOR={kwargs['airflow_executor']!r} is not one of {', '.join(EXECUTORS)}")
    if platform_env == "prod":
        _check_production(env, kwargs)
    if env.get("BERKA_DIR"):
        kwargs["berka_dir"] = Path(env["BERKA_DIR"]).expanduser().resolve()
    if env.get("CUSTOMER_LOOKUP_DIR"):
        kwargs["customer_lookup_dir"] = Path(env["CUSTOMER_LOOKUP_DIR"]).expanduser().resolve()
    if env.get("TARGET_LIST_SIZE"):
        kwargs["target_list_size"] = int(env["TARGET_LIST_SIZE"])
    for name, key in (
        ("ALERT_WEBHOOK_URL", "alert_webhook_url"),
        ("ALERT_SMTP_HOST", "alert_smtp_host"),
        ("ALERT_EMAIL_TO", "alert_email_to"),
        ("ALERT_EMAIL_FROM", "alert_email_from"),
    ):
        if env.get(name):
            kwargs[key] = env[name].strip()
    if env.get("ALERT_SMTP_PORT"):
        try:
            kwargs["alert_smtp_port"] = int(env["ALERT_SMTP_PORT"])
        except ValueError:
            raise SettingsError(f"ALERT_SMTP_PORT={env['ALERT_SMTP_PORT']!r} is not a port number") from None
    if kwargs.get("alert_smtp_host") and not kwargs.get("alert_email_to"):
        raise SettingsError("ALERT_SMTP_HOST is set but ALERT_EMAIL_TO is not: who should the alerts go to?")
    kwargs.update(_retraining_settings(env))
    for name, key in (("CUSTOMER_ID_PATTERN", "customer_id_pattern"), *KEY_PATTERN_VARIABLES.values()):
        if env.get(name):
            import re

            try:
                re.compile(env[name])
            except re.error as error:
                raise SettingsError(f"{name}={env[name]!r} is not a regular expression: {error}") from None
            kwargs[key] = env[name]
    for name, key in (("SPEND_INCOME_FACTOR", "spend_income_factor"), ("SPEND_INCOME_FLOOR", "spend_income_floor")):
        if env.get(name):
            try:
                kwargs[key] = float(env[name])
            except ValueError:
                raise SettingsError(f"{name}={env[name]!r} is not a number") from None
            if kwargs[key] < 0:
                raise SettingsError(f"{name}={env[name]} must be 0 or more")
    if env.get("DUCKDB_MEMORY_LIMIT"):
        import re

        limit = env["DUCKDB_MEMORY_LIMIT"].strip()
        if not re.fullmatch(r"(?i)\d+(\.\d+)?\s*(%|[kmgt]i?b|bytes?)", limit):
            raise SettingsError(f"DUCKDB_MEMORY_LIMIT={limit!r} is not a size like 6GB or 512MiB, or a share like 50%")
        kwargs["duckdb_memory_limit"] = limit
    if env.get("DUCKDB_THREADS"):
        try:
            kwargs["duckdb_threads"] = int(env["DUCKDB_THREADS"])
        except ValueError:
            raise SettingsError(f"DUCKDB_THREADS={env['DUCKDB_THREADS']!r} is not a whole number") from None
        if kwargs["duckdb_threads"] < 0:
            raise SettingsError("DUCKDB_THREADS must be 0 (one per core) or more")
    if env.get("WAREHOUSE_SLICE_MONTHS"):
        try:
            kwargs["warehouse_slice_months"] = int(env["WAREHOUSE_SLICE_MONTHS"])
        except ValueError:
            raise SettingsError(
                f"WAREHOUSE_SLICE_MONTHS={env['WAREHOUSE_SLICE_MONTHS']!r} is not a whole number of months"
            ) from None
        if kwargs["warehouse_slice_months"] < 0:
            raise SettingsError("WAREHOUSE_SLICE_MONTHS must be 0 (one build) or more")
    if env.get("CONTROL_SHARE"):
        share = float(env["CONTROL_SHARE"])
        if not 0.0 <= share < 1.0:
            raise SettingsError(f"CONTROL_SHARE={share} must be in [0, 1)")
        kwargs["control_share"] = share
    return Settings(platform_env=platform_env, data_dir=data_dir, **kwargs)


def _checkout_of(folder: Path) -> Path | None:
    """The platform checkout (pyproject.toml of the bankmkt project) that holds ``folder``, if any."""
    for candidate in (folder, *folder.parents):
        project = candidate / "pyproject.toml"
        if project.is_file() and 'name = "bankmkt"' in project.read_text(errors="replace"):
            return candidate
    return None


def _check_checkout() -> None:
    """Refuse to default DATA_DIR to another checkout's data/ (a copied checkout with the original's .venv)."""
    try:
        here = _checkout_of(Path.cwd())
    except OSError:  # a working directory that no longer exists
        return
    if here is not None and here.resolve() != PROJECT_ROOT:
        raise SettingsError(
            f"this shell is in the checkout {here}, but the bankmkt installed in this environment is {PROJECT_ROOT}: "
            f"its code, DAGs and dbt project would run, and its data/ would take the writes. Run `make setup` in "
            f"{here} (it gets its own .venv) or set DATA_DIR"
        )


FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
# The one-slot Airflow pool of the tasks that write the DuckDB warehouse (one writer per file).
WAREHOUSE_POOL = "warehouse_writer"
# Environment variable -> field of the production profile's settings (plain strings).
PRODUCTION_VARIABLES = {
    "POSTGRES_URL": "postgres_url",
    "AIRFLOW_DATABASE": "airflow_database",
    "MLFLOW_DATABASE": "mlflow_database",
    "MLFLOW_AUTH_DATABASE": "mlflow_auth_database",
    "FEAST_DATABASE": "feast_database",
    "REDIS_URL": "redis_url",
    "REDIS_PASSWORD": "redis_password",
    "MLFLOW_SERVER_URI": "mlflow_server_uri",
    "AIRFLOW_EXECUTOR": "airflow_executor",
    "AIRFLOW_API_URL": "airflow_api_url",
    "CELERY_BROKER_URL": "celery_broker_url",
    "WAREHOUSE_QUEUE": "warehouse_queue",
    "AIRFLOW_JWT_SECRET": "airflow_jwt_secret",
    "AIRFLOW_FERNET_KEY": "airflow_fernet_key",
    "AIRFLOW_ADMIN_USER": "airflow_admin_user",
    "AIRFLOW_ADMIN_PASSWORD": "airflow_admin_password",
    "MLFLOW_ADMIN_USER": "mlflow_admin_user",
    "MLFLOW_ADMIN_PASSWORD": "mlflow_admin_password",
    "MLFLOW_SECRET_KEY": "mlflow_secret_key",
    "PII_HASH_KEY": "pii_hash_key",
    "DAILY_SCHEDULE": "daily_schedule",
}
# Secrets PLATFORM_ENV=prod cannot start without (the env file; .env.example lists them).
PRODUCTION_SECRETS = (
    "POSTGRES_URL",
    "AIRFLOW_JWT_SECRET",
    "AIRFLOW_FERNET_KEY",
    "AIRFLOW_ADMIN_PASSWORD",
    "MLFLOW_ADMIN_PASSWORD",
    "MLFLOW_SECRET_KEY",
    "PII_HASH_KEY",
)
# Secret values that are only placeholders (as in .env.example): refused like a missing secret.
PLACEHOLDER_PREFIXES = ("change-me", "changeme", "replace-me")


def _check_production(env, kwargs: dict) -> None:
    missing = [name for name in PRODUCTION_SECRETS if not (env.get(name) or "").strip()]
    if missing:
        raise SettingsError(
            f"PLATFORM_ENV=prod needs {', '.join(missing)}, which {'is' if len(missing) == 1 else 'are'} not set. "
            "Secrets come from the environment: copy .env.example to .env, fill it in (never commit it) "
            "and start the services with it (docker-compose reads .env; elsewhere `set -a; . ./.env`)."
        )
    placeholders = [
        name
        for name in PRODUCTION_SECRETS
        if env[name].strip().lower().startswith(PLACEHOLDER_PREFIXES) or "change-me" in env[name].lower()
    ]
    if placeholders:
        raise SettingsError(
            f"PLATFORM_ENV=prod: {', '.join(placeholders)} still hold the example's placeholder; "
            "set real secrets in .env"
        )


# Landing-contract column -> (environment variable, field) of the bank's own format of it (rule pattern).
KEY_PATTERN_VARIABLES = {
    "customers.customer_id": ("CUSTOMER_NUMBER_PATTERN", "customer_number_pattern"),
    "accounts.account_id": ("ACCOUNT_NUMBER_PATTERN", "account_number_pattern"),
}

# Environment variable -> (field, type, lowest allowed value) of the targeting and retraining settings.
RETRAINING_VARIABLES = {
    "RETRAIN_MIN_NEW_LABELS": ("retrain_min_new_labels", int, 1),
    "RETRAIN_NEW_LABEL_SHARE": ("retrain_new_label_share", float, 0.0),
    "RETRAIN_PSI_THRESHOLD": ("retrain_psi_threshold", float, 0.0),
    "RETRAIN_MIN_MATURED": ("retrain_min_matured", int, 1),
    "RETRAIN_MIN_MATURED_POSITIVES": ("retrain_min_matured_positives", int, 1),
    "RETRAIN_AUC_DROP": ("retrain_auc_drop", float, 0.0),
    "RETRAIN_CALIBRATION_TOLERANCE": ("retrain_calibration_tolerance", float, 0.0),
    "RETRAIN_MIN_QINI": ("retrain_min_qini", float, -1.0),
}
TARGETING_POLICIES = ("uplift", "propensity")


def _retraining_settings(env) -> dict:
    kwargs = {}
    if env.get("TARGETING_POLICY"):
        policy = env["TARGETING_POLICY"].strip().lower()
        if policy not in TARGETING_POLICIES:
            raise SettingsError(f"TARGETING_POLICY={policy!r} is not one of {', '.join(TARGETING_POLICIES)}")
        kwargs["targeting_policy"] = policy
    for name, (key, kind, lowest) in RETRAINING_VARIABLES.items():
        if not env.get(name):
            continue
        try:
            value = kind(env[name])
        except ValueError:
            raise SettingsError(f"{name}={env[name]!r} is not a{'n integer' if kind is int else ' number'}") from None
        if value < lowest:
            raise SettingsError(f"{name}={value} must be at least {lowest}")
        kwargs[key] = value
    return kwargs


@cache
def _cached(key: tuple) -> Settings:
    return _read({name: value for name, value in key if name != "cwd"})


def get_settings() -> Settings:
    """Settings for the current environment (re-read when the variables change)."""
    names = (
        "PLATFORM_ENV",
        "DATA_DIR",
        *PRODUCTION_VARIABLES,
        "TARGET_LIST_SIZE",
        "CUSTOMER_LOOKUP_DIR",
        "SPEND_INCOME_FACTOR",
        "SPEND_INCOME_FLOOR",
        "DUCKDB_MEMORY_LIMIT",
        "DUCKDB_THREADS",
        "WAREHOUSE_SLICE_MONTHS",
        *(name for name, _ in KEY_PATTERN_VARIABLES.values()),
        "CONTROL_SHARE",
        "BERKA_DIR",
        "ALERT_WEBHOOK_URL",
        "ALERT_SMTP_HOST",
        "ALERT_SMTP_PORT",
        "ALERT_EMAIL_TO",
        "ALERT_EMAIL_FROM",
        "TARGETING_POLICY",
        "CUSTOMER_ID_PATTERN",
        *RETRAINING_VARIABLES,
    )
    key = tuple((n, os.environ.get(n, "")) for n in names)
    if not os.environ.get("DATA_DIR"):  # the default DATA_DIR depends on the checkout the shell is in
        try:
            key += (("cwd", os.getcwd()),)
        except OSError:
            pass
    return _cached(key)


def _print_shell_exports() -> None:
    """`python -m bankmkt.settings --shell`: export lines for a shell (used by the UI targets)."""
    import shlex

    for name, value in get_settings().environment().items():
        print(f"export {name}={shlex.quote(value)}")


if __name__ == "__main__":
    import sys

    if "--shell" in sys.argv:
        _print_shell_exports()
    else:
        import re

        for name, value in get_settings().environment().items():
            secret = any(word in name for word in ("SECRET", "PASSWORD", "FERNET", "KEY")) and value
            value = re.sub(r"(://[^:/@]+:)[^@]+@", r"\1********@", value)  # a password inside a URL
            print(f"{name}={'********' if secret else value}")
