from pathlib import Path

import pytest

from bankmkt.settings import SettingsError, get_settings


def test_paths_derive_from_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    settings = get_settings()
    assert settings.warehouse_path == tmp_path / "warehouse.duckdb"
    assert settings.landing_dir == tmp_path / "landing"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    assert settings.feature_store_yaml.name == "feature_store.yaml"
    env = settings.environment()
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("sqlite:///")
    assert all(str(tmp_path) in env[k] for k in ("WAREHOUSE_PATH", "FEAST_ONLINE_PATH", "FEAST_REGISTRY_PATH"))


PROD_SECRETS = {
    "POSTGRES_URL": "postgresql://platform:pg-secret@db.internal:5432/postgres",
    "AIRFLOW_JWT_SECRET": "jwt-secret",
    "AIRFLOW_FERNET_KEY": "fernet-key",
    "AIRFLOW_ADMIN_PASSWORD": "admin-pw",
    "MLFLOW_ADMIN_PASSWORD": "mlflow-pw",
    "MLFLOW_SECRET_KEY": "flask-key",
    "PII_HASH_KEY": "pii-key",
}


def _prod(monkeypatch, tmp_path, **extra):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    for name, value in {**PROD_SECRETS, **extra}.items():
        monkeypatch.setenv(name, value)


def test_prod_profile_uses_postgres_redis_and_mlflow_server(tmp_path, monkeypatch):
    _prod(monkeypatch, tmp_path, REDIS_URL="redis.internal:6379", REDIS_PASSWORD="r-pw")
    settings = get_settings()
    assert settings.feature_store_yaml.name == "feature_store.prod.yaml"
    assert settings.mlflow_tracking_uri.startswith("http://")
    env = settings.environment()
    assert env["FEAST_REDIS_URL"] == "redis.internal:6379,password=r-pw"
    # One database per tool on the one server: no shared alembic_version table.
    assert (
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg://platform:pg-secret@db.internal:5432/airflow"
    )
    assert settings.mlflow_backend_store_uri.endswith("@db.internal:5432/mlflow")
    assert env["FEAST_SQL_REGISTRY_URL"].endswith("@db.internal:5432/feast")
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("FabAuthManager")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"] == "jwt-secret" and env["PII_HASH_KEY"] == "pii-key"
    assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor" and "AIRFLOW__CELERY__BROKER_URL" not in env
    assert settings.online_store_location == "redis://redis.internal:6379"  # the run records, without a password


def test_prod_celery_executor_uses_redis_broker_and_postgres_results(tmp_path, monkeypatch):
    _prod(monkeypatch, tmp_path, REDIS_URL="redis.internal:6379", AIRFLOW_EXECUTOR="CeleryExecutor")
    env = get_settings().environment()
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis.internal:6379/1"
    assert (
        env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg://platform:pg-secret@db.internal:5432/airflow"
    )


def test_prod_refuses_to_start_without_its_secrets(tmp_path, monkeypatch):
    _prod(monkeypatch, tmp_path)
    monkeypatch.delenv("PII_HASH_KEY")
    monkeypatch.delenv("AIRFLOW_JWT_SECRET")
    with pytest.raises(SettingsError, match=r"needs AIRFLOW_JWT_SECRET, PII_HASH_KEY.*\.env\.example"):
        get_settings()
    monkeypatch.setenv("PII_HASH_KEY", "change-me")
    monkeypatch.setenv("AIRFLOW_JWT_SECRET", "jwt")
    with pytest.raises(SettingsError, match="PII_HASH_KEY still hold the example's placeholder"):
        get_settings()
    monkeypatch.setenv("PII_HASH_KEY", "pii")
    monkeypatch.setenv("AIRFLOW_EXECUTOR", "SequentialExecutor")
    with pytest.raises(SettingsError, match="AIRFLOW_EXECUTOR"):
        get_settings()


def test_settings_printout_masks_secrets(tmp_path, monkeypatch):
    import subprocess
    import sys

    _prod(monkeypatch, tmp_path)
    printed = subprocess.run(
        [sys.executable, "-m", "bankmkt.settings"], capture_output=True, text=True, check=True
    ).stdout
    assert "AIRFLOW__API_AUTH__JWT_SECRET=********" in printed
    assert not any(secret in printed for secret in ("jwt-secret", "admin-pw", "mlflow-pw", "pii-key", "pg-secret"))


def test_default_data_dir_is_the_git_ignored_data_folder(monkeypatch):
    monkeypatch.delenv("DATA_DIR", raising=False)
    settings = get_settings()
    assert settings.data_dir == Path(__file__).resolve().parents[1] / "data"


@pytest.mark.parametrize("variable, value", [("PLATFORM_ENV", "staging"), ("CONTROL_SHARE", "1.5")])
def test_bad_settings_say_what_is_wrong(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=variable):
        get_settings()


def test_targeting_and_retraining_settings_come_from_the_environment(monkeypatch, tmp_path):
    from bankmkt.settings import SettingsError, get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name, value in (
        ("TARGETING_POLICY", "propensity"),
        ("RETRAIN_PSI_THRESHOLD", "0.1"),
        ("RETRAIN_MIN_NEW_LABELS", "50"),
        ("CUSTOMER_ID_PATTERN", "C[0-9]{7}"),
    ):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (
        settings.targeting_policy,
        settings.retrain_psi_threshold,
        settings.retrain_min_new_labels,
        settings.customer_id_pattern,
    ) == ("propensity", 0.1, 50, "C[0-9]{7}")
    assert settings.environment()["RETRAIN_PSI_THRESHOLD"] == "0.1"  # handed on to Airflow's task processes
    for name, value, message in (
        ("RETRAIN_PSI_THRESHOLD", "abc", "is not a number"),
        ("RETRAIN_MIN_NEW_LABELS", "0", "must be at least 1"),
        ("TARGETING_POLICY", "magic", "is not one of uplift, propensity"),
        ("CUSTOMER_ID_PATTERN", "[a-", "is not a regular expression"),
    ):
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(SettingsError, match=message):
                get_settings()


def test_a_copied_checkout_does_not_write_into_the_original(tmp_path, monkeypatch):
    """A checkout copied with its .venv imports the original package: refuse its default DATA_DIR."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "bankmkt"\n')
    (tmp_path / "src").mkdir()
    monkeypatch.chdir(tmp_path / "src")
    monkeypatch.delenv("DATA_DIR", raising=False)
    with pytest.raises(SettingsError, match=rf"checkout {tmp_path}.*make setup"):
        get_settings()
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))  # an explicit DATA_DIR is the user's choice
    assert get_settings().data_dir == tmp_path / "data"


def test_the_local_pii_key_is_generated_per_data_dir_and_never_a_known_one(tmp_path):
    from bankmkt.settings import _read

    first, second = (_read({"DATA_DIR": str(tmp_path / name), "PLATFORM_ENV": "local"}) for name in ("a", "b"))
    for settings in (first, second):
        settings.ensure_pii_key()
        assert settings.pii_key_file.stat().st_mode & 0o077 == 0  # its owner's only
    keys = {first.effective_pii_hash_key, second.effective_pii_hash_key}
    assert len(keys) == 2 and "local-development-key" not in keys and all(len(k) >= 32 for k in keys)
    assert first.environment()["PII_HASH_KEY"] == first.effective_pii_hash_key
    first.ensure_pii_key()  # kept, not regenerated: the warehouse's hashes stay comparable
    assert first.effective_pii_hash_key in keys

    built = _read({"DATA_DIR": str(tmp_path / "built"), "PLATFORM_ENV": "local"})
    built.data_dir.mkdir()
    built.warehouse_path.write_bytes(b"")  # a warehouse hashed with the old development key
    built.ensure_pii_key()
    assert built.effective_pii_hash_key == "local-development-key"


def test_a_relative_data_dir_is_taken_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATA_DIR", "trial")
    monkeypatch.setenv("PLATFORM_ENV", "local")
    assert get_settings().data_dir == tmp_path / "trial"


def test_the_spend_to_income_factor_is_a_non_negative_number(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    monkeypatch.setenv("SPEND_INCOME_FACTOR", "150")
    assert get_settings().spend_income_factor == 150.0
    for bad in ("lots", "-1"):
        monkeypatch.setenv("SPEND_INCOME_FACTOR", bad)
        with pytest.raises(SettingsError, match="SPEND_INCOME_FACTOR"):
            get_settings()


def test_duckdb_memory_and_threads_come_from_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    monkeypatch.setenv("DUCKDB_MEMORY_LIMIT", "6GB")
    monkeypatch.setenv("DUCKDB_THREADS", "3")
    settings = get_settings()
    assert settings.duckdb_config() == {
        "memory_limit": "6GB",
        "threads": 3,
        "temp_directory": str(tmp_path / "tmp" / "duckdb"),
    }
    env = settings.environment()
    assert (env["DUCKDB_MEMORY_LIMIT"], env["DUCKDB_THREADS"]) == ("6GB", "3")
    for name, bad in (("DUCKDB_MEMORY_LIMIT", "plenty"), ("DUCKDB_THREADS", "-2")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name):
            get_settings()
        monkeypatch.setenv(name, "2GB" if name == "DUCKDB_MEMORY_LIMIT" else "2")


def test_warehouse_slice_months_come_from_settings(tmp_path, monkeypatch):
    """WAREHOUSE_SLICE_MONTHS reaches the settings (and the Airflow tasks' environment); bad values are refused."""
    from datetime import date

    from bankmkt.warehouse import history_slices

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    assert get_settings().warehouse_slice_months == 1  # the default: month by month
    monkeypatch.setenv("WAREHOUSE_SLICE_MONTHS", "0")
    settings = get_settings()
    assert settings.warehouse_slice_months == 0
    assert settings.environment()["WAREHOUSE_SLICE_MONTHS"] == "0"
    assert history_slices(date(2024, 6, 28), settings, built_until=date(2023, 12, 31)) == []
    monkeypatch.setenv("WAREHOUSE_SLICE_MONTHS", "2")
    assert history_slices(date(2024, 6, 28), get_settings(), built_until=date(2023, 12, 31)) == [
        date(2024, 2, 29),
        date(2024, 4, 30),
    ]
    for bad in ("monthly", "-1"):
        monkeypatch.setenv("WAREHOUSE_SLICE_MONTHS", bad)
        with pytest.raises(SettingsError, match="WAREHOUSE_SLICE_MONTHS"):
            get_settings()


def test_a_bad_setting_stops_a_command_line_stage_with_its_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    from bankmkt import cli

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("WAREHOUSE_SLICE_MONTHS", "monthly")
    with pytest.raises(SystemExit) as stop:
        cli.main(["stage", "build_history", "--date", "2024-03-01"])
    assert str(stop.value) == (
        "[stage] SettingsError: WAREHOUSE_SLICE_MONTHS='monthly' is not a whole number of months"
    )
