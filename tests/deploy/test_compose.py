"""docker-compose.yml, the Dockerfile and the service commands, checked without a Docker engine.

`docker-compose config` (Debian's docker-compose, installed by `make setup`) validates the file
with the example env file; each deployment defect the production issue found has a check here or
in test_scheduler.py (which starts the same commands as processes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bankmkt.settings import PRODUCTION_SECRETS, WAREHOUSE_POOL, _read

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"


def _compose(*args: str, env_file: Path = EXAMPLE) -> subprocess.CompletedProcess:
    if shutil.which("docker-compose") is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have docker-compose (make setup installs Debian's package)")
        pytest.skip("docker-compose is not installed (make setup installs it where it can)")
    return subprocess.run(
        [
            "docker-compose",
            "--project-directory",
            str(ROOT),
            "-f",
            str(ROOT / "docker-compose.yml"),
            "--env-file",
            str(env_file),
            *args,
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # only the env file: the process environment would override it (and this session's
        # environment holds the local profile's generated PII key)
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")},
    )


@pytest.fixture(scope="module")
def config() -> dict:
    completed = _compose("--profile", "celery", "config")
    assert completed.returncode == 0, completed.stderr
    return yaml.safe_load(completed.stdout)


def test_the_file_validates_with_the_example_env_file(config):
    assert {
        "postgres",
        "redis",
        "airflow-init",
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-worker",
        "airflow-worker-warehouse",
        "mlflow",
        "feature-server",
    } <= set(config["services"])


def test_a_missing_secret_stops_compose_with_its_name(tmp_path):
    env_file = tmp_path / "env"
    env_file.write_text(
        "".join(line + "\n" for line in EXAMPLE.read_text().splitlines() if not line.startswith("PII_HASH_KEY="))
    )
    completed = _compose("config", "-q", env_file=env_file)
    assert completed.returncode != 0
    assert "set PII_HASH_KEY in .env (copy .env.example)" in completed.stderr


def test_every_secret_comes_from_the_env_file(config):
    example = dict(line.split("=", 1) for line in EXAMPLE.read_text().splitlines() if "=" in line and line[0] != "#")
    for name in PRODUCTION_SECRETS:
        if name != "POSTGRES_URL":
            assert config["services"]["airflow-scheduler"]["environment"][name] == example[name]
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "platform:platform@" not in text
    ignored = subprocess.run(["git", "check-ignore", ".env"], cwd=ROOT, capture_output=True).returncode
    assert ignored == 0, ".env must be git-ignored"


def test_ports_are_published_on_loopback_only(config):
    published = {name: service.get("ports", []) for name, service in config["services"].items()}
    assert {name for name, ports in published.items() if ports} == {"airflow-api-server", "mlflow", "feature-server"}
    for ports in published.values():
        for port in ports:
            host = port["host_ip"] if isinstance(port, dict) else str(port).split(":")[0]  # compose v2 / v1
            assert host == "127.0.0.1", port


def test_every_long_running_service_has_a_health_check(config):
    for name, service in config["services"].items():
        if name != "airflow-init":
            assert "healthcheck" in service and service["healthcheck"]["test"], name


def test_platform_services_run_as_the_image_user_and_through_deploy(config):
    for name, service in config["services"].items():
        if name in ("postgres", "redis"):
            continue
        assert service["user"] == "50000:50000", name
        assert service["command"][:3] == ["python", "-m", "bankmkt.deploy"], name
    assert config["services"]["feature-server"]["command"][-1] == "feature-server"  # bankmkt.serving, validated
    assert config["services"]["airflow-worker-warehouse"]["command"][5:7] == ["--queues", "default,warehouse"]
    assert config["services"]["airflow-worker"]["command"][5:7] == ["--queues", "default"]


def test_the_image_builds_from_a_clean_clone():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "python -m bankmkt.warehouse parse" in dockerfile  # the git-ignored manifest is built in the image
    assert "\nUSER platform" in dockerfile
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "data", ".env"} <= ignored


def _prod_settings(**extra):
    env = {
        "PLATFORM_ENV": "prod",
        "DATA_DIR": "/data",
        **{name: f"x-{name.lower()}" for name in PRODUCTION_SECRETS},
        "POSTGRES_URL": "postgresql://platform:pw@postgres:5432/postgres",
        "MLFLOW_SERVER_URI": "http://mlflow:5000",
        **extra,
    }
    return _read(env)


def test_service_commands():
    from bankmkt.deploy import DeployError, service_command

    settings = _prod_settings()
    mlflow = service_command("mlflow", settings)
    allowed = mlflow[mlflow.index("--allowed-hosts") + 1].split(",")
    assert "mlflow:5000" in allowed and "mlflow" in allowed  # workers reach it by its service name
    assert mlflow[mlflow.index("--app-name") + 1] == "basic-auth"
    assert mlflow[mlflow.index("--backend-store-uri") + 1].endswith("@postgres:5432/mlflow")
    assert service_command("feature-server", settings)[1:3] == ["-m", "bankmkt.serving"]
    with pytest.raises(DeployError, match="CeleryExecutor"):
        service_command("airflow-worker", settings)
    worker = service_command("airflow-worker", _prod_settings(AIRFLOW_EXECUTOR="CeleryExecutor"))
    assert worker[worker.index("--queues") + 1] == "default,warehouse"


def test_deploy_refuses_the_local_profile_and_names_a_missing_secret(tmp_path):
    import sys

    env = {**os.environ, "PLATFORM_ENV": "local", "DATA_DIR": str(tmp_path)}
    local = subprocess.run([sys.executable, "-m", "bankmkt.deploy", "init"], env=env, capture_output=True, text=True)
    assert local.returncode == 2 and "PLATFORM_ENV=prod" in local.stderr
    env["PLATFORM_ENV"] = "prod"
    for name in PRODUCTION_SECRETS:
        env.pop(name, None)
    missing = subprocess.run([sys.executable, "-m", "bankmkt.deploy", "init"], env=env, capture_output=True, text=True)
    assert missing.returncode == 2 and "PII_HASH_KEY" in missing.stderr and "Traceback" not in missing.stderr


def test_the_warehouse_writers_are_pinned_in_the_dag():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    daily = bag.dags["bank_daily"]
    pinned = {t.task_id for t in daily.tasks if t.pool == WAREHOUSE_POOL}
    assert pinned == {
        "build_history",
        "warehouse.dbt_producer_watcher",
        "build_warehouse",
        "validate_features",
        "load_target_lists",
    }
    assert all(daily.get_task(t).queue == "warehouse" for t in pinned)


def test_dbt_tasks_carry_no_secret_in_their_rendered_environment():
    settings = _prod_settings(AIRFLOW_EXECUTOR="CeleryExecutor")
    env = settings.dbt_environment()
    assert {"WAREHOUSE_PATH", "LANDING_DIR", "DBT_PROFILES_DIR", "PLATFORM_ENV", "DUCKDB_MEMORY_LIMIT"} <= set(env)
    secrets = [
        settings.airflow_jwt_secret,
        settings.airflow_fernet_key,
        settings.mlflow_admin_password,
        settings.airflow_admin_password,
        settings.pii_hash_key,
        "platform:pw@",
    ]
    assert not any(secret in value for value in env.values() for secret in secrets)
    names = settings.environment()["AIRFLOW__CORE__SENSITIVE_VAR_CONN_NAMES"].split(",")
    assert {"fernet", "pii_hash_key", "sql_alchemy_conn", "broker_url"} <= set(names)
