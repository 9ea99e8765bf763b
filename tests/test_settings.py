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


def test_prod_profile_uses_postgres_redis_and_mlflow_server(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "prod")
    monkeypatch.setenv("REDIS_URL", "redis.internal:6379")
    settings = get_settings()
    assert settings.feature_store_yaml.name == "feature_store.prod.yaml"
    assert settings.mlflow_tracking_uri.startswith("http://")
    assert settings.airflow_sql_alchemy_conn.startswith("postgresql+psycopg://")
    assert settings.environment()["FEAST_REDIS_URL"] == "redis.internal:6379"


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
    for name, value in (("TARGETING_POLICY", "propensity"), ("RETRAIN_PSI_THRESHOLD", "0.1"),
                        ("RETRAIN_MIN_NEW_LABELS", "50"), ("CUSTOMER_ID_PATTERN", "C[0-9]{7}")):
        monkeypatch.setenv(name, value)
    settings = get_settings()
    assert (settings.targeting_policy, settings.retrain_psi_threshold, settings.retrain_min_new_labels,
            settings.customer_id_pattern) == ("propensity", 0.1, 50, "C[0-9]{7}")
    assert settings.environment()["RETRAIN_PSI_THRESHOLD"] == "0.1"  # handed on to Airflow's task processes
    for name, value, message in (("RETRAIN_PSI_THRESHOLD", "abc", "is not a number"),
                                 ("RETRAIN_MIN_NEW_LABELS", "0", "must be at least 1"),
                                 ("TARGETING_POLICY", "magic", "is not one of uplift, propensity"),
                                 ("CUSTOMER_ID_PATTERN", "[a-", "is not a regular expression")):
        with monkeypatch.context() as patch:
            patch.setenv(name, value)
            with pytest.raises(SettingsError, match=message):
                get_settings()
