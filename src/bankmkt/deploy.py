"""The production profile's services: initialisation, start commands and health checks.

`python -m bankmkt.deploy <command>` (docker-compose.yml calls it; so do the scheduler tests):

    init                      create the databases, migrate Airflow and MLflow (each in its own database),
                              create or update the Airflow admin from the settings, create the warehouse
                              pool, write the MLflow server's auth configuration
    serve SERVICE             start one service with the settings' environment (replaces this process):
                              airflow-api-server, airflow-scheduler, airflow-dag-processor,
                              airflow-triggerer, airflow-worker, mlflow, feature-server
    health SERVICE            exit 0 when the service answers (compose health checks)

Under ``PLATFORM_ENV=local`` nothing here is needed: ``make run`` and ``make demo`` run the DAGs
in-process on SQLite. See docs/operations.md.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from bankmkt.settings import WAREHOUSE_POOL, Settings, SettingsError, get_settings

SERVICES = (
    "airflow-api-server",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
    "mlflow",
    "feature-server",
)
# Where each service listens (inside its container or on this host); the api-server's port comes
# from AIRFLOW_API_URL, MLflow's from MLFLOW_SERVER_URI.
FEATURE_SERVER_PORT = 6566
SCHEDULER_HEALTH_PORT = 8974


class DeployError(RuntimeError):
    """A step of the production set-up failed; the message says which and why."""


def environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, **settings.environment()}


def _require_prod(settings: Settings) -> None:
    if settings.platform_env != "prod":
        raise DeployError(
            "bankmkt.deploy sets up the production profile: set PLATFORM_ENV=prod "
            "(the local profile needs no services: make demo / make run)"
        )


# ---- init ----------------------------------------------------------------------------


def create_databases(settings: Settings) -> list[str]:
    """Create the databases of Airflow, MLflow, MLflow's users and Feast's registry when missing."""
    import psycopg

    created = []
    try:
        with psycopg.connect(settings.postgres_url, autocommit=True, connect_timeout=10) as con:
            existing = {row[0] for row in con.execute("select datname from pg_database").fetchall()}
            for name in settings.postgres_databases:
                if name not in existing:
                    con.execute(f'create database "{name}"')
                    created.append(name)
    except psycopg.OperationalError as error:
        host = settings.postgres_url.split("@")[-1]
        raise DeployError(f"cannot reach PostgreSQL at {host}: {str(error).strip()}") from None
    return created


def _run(command: list[str], settings: Settings, what: str, timeout: float = 600) -> str:
    completed = subprocess.run(command, env=environment(settings), capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise DeployError(f"{what} failed (exit {completed.returncode}):\n{tail}")
    return completed.stdout


def airflow(settings: Settings, *args: str, what: str | None = None) -> str:
    return _run([sys.executable, "-m", "airflow", *args], settings, what or f"airflow {' '.join(args[:2])}")


def ensure_admin(settings: Settings) -> str:
    """The Airflow admin of the settings (FAB user, role Admin); its password follows the settings."""
    users = airflow(settings, "users", "list", "--output", "json", what="listing Airflow users")
    import json

    names = {user["username"] for user in json.loads(users[users.index("[") :] if "[" in users else "[]")}
    if settings.airflow_admin_user in names:
        airflow(
            settings,
            "users",
            "reset-password",
            "--username",
            settings.airflow_admin_user,
            "--password",
            settings.airflow_admin_password,
            what="setting the Airflow admin's password",
        )
        return "updated"
    airflow(
        settings,
        "users",
        "create",
        "--username",
        settings.airflow_admin_user,
        "--role",
        "Admin",
        "--password",
        settings.airflow_admin_password,
        "--firstname",
        "Platform",
        "--lastname",
        "Admin",
        "--email",
        f"{settings.airflow_admin_user}@bankmkt.invalid",
        what="creating the Airflow admin",
    )
    return "created"


def write_mlflow_auth_config(settings: Settings) -> Path:
    """basic_auth.ini for `mlflow server --app-name basic-auth`: users in their own database,
    read-only by default; the admin's password comes from MLFLOW_AUTH_ADMIN_PASSWORD, not the file."""
    path = settings.mlflow_auth_config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {settings.database_url(settings.mlflow_auth_database)}\n"
        f"admin_username = {settings.mlflow_admin_user}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
    )
    return path


def init(settings: Settings | None = None, log=print) -> dict:
    """Everything the services need before they start; safe to run again (each step is idempotent)."""
    settings = settings or get_settings()
    _require_prod(settings)
    settings.ensure_dirs()
    created = create_databases(settings)
    log(
        f"[init] databases on {settings.postgres_url.split('@')[-1].split('/')[0]}: "
        f"{', '.join(created) if created else 'all present'}"
    )
    airflow(settings, "db", "migrate", what="migrating Airflow's database")
    log(f"[init] Airflow database {settings.airflow_database} migrated")
    admin = ensure_admin(settings)
    log(f"[init] Airflow admin {settings.airflow_admin_user!r} {admin}")
    airflow(
        settings,
        "pools",
        "set",
        WAREHOUSE_POOL,
        "1",
        "tasks that write the DuckDB warehouse (one writer)",
        what=f"creating the pool {WAREHOUSE_POOL}",
    )
    _run(
        [sys.executable, "-m", "mlflow", "db", "upgrade", settings.mlflow_backend_store_uri],
        settings,
        "migrating MLflow's database",
    )
    log(f"[init] MLflow database {settings.mlflow_database} migrated")
    config = write_mlflow_auth_config(settings)
    log(f"[init] MLflow auth configuration {config} (users in {settings.mlflow_auth_database})")
    if not settings.dbt_manifest_path.exists():
        from bankmkt.warehouse import parse_project

        parse_project(settings)
        log(f"[init] dbt manifest {settings.dbt_manifest_path}")
    return {"databases_created": created, "admin": admin, "pool": WAREHOUSE_POOL}


# ---- services ------------------------------------------------------------------------


def _port(url: str, default: int) -> int:
    from urllib.parse import urlsplit

    return urlsplit(url).port or default


def service_command(
    service: str,
    settings: Settings,
    host: str = "0.0.0.0",
    queues: str | None = None,
    concurrency: int | None = None,
    celery_hostname: str | None = None,
) -> list[str]:
    """The argv that starts one service of the production profile."""
    python = sys.executable
    if service == "airflow-api-server":
        return [
            python,
            "-m",
            "airflow",
            "api-server",
            "--host",
            host,
            "--port",
            str(_port(settings.airflow_api_url, 8080)),
        ]
    if service in ("airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"):
        return [python, "-m", "airflow", service.removeprefix("airflow-")]
    if service == "airflow-worker":
        if settings.airflow_executor != "CeleryExecutor":
            raise DeployError(
                "airflow-worker needs AIRFLOW_EXECUTOR=CeleryExecutor (LocalExecutor runs tasks inside the scheduler)"
            )
        command = [
            python,
            "-m",
            "airflow",
            "celery",
            "worker",
            "--queues",
            queues or f"default,{settings.warehouse_queue}",
        ]
        command += ["--concurrency", str(concurrency)] if concurrency else []
        return command + (["--celery-hostname", celery_hostname] if celery_hostname else [])
    if service == "mlflow":
        from urllib.parse import urlsplit

        allowed = {urlsplit(settings.mlflow_server_uri).hostname or "localhost", "localhost", "127.0.0.1"}
        port = _port(settings.mlflow_server_uri, 5000)
        allowed |= {f"{name}:{port}" for name in list(allowed)}
        return [
            python,
            "-m",
            "mlflow",
            "server",
            "--app-name",
            "basic-auth",
            "--host",
            host,
            "--port",
            str(port),
            "--backend-store-uri",
            settings.mlflow_backend_store_uri,
            "--artifacts-destination",
            str(settings.mlflow_artifacts_dir),
            "--allowed-hosts",
            ",".join(sorted(allowed)),
            "--workers",
            "2",
        ]
    if service == "feature-server":
        return [python, "-m", "bankmkt.serving", "--host", host, "--port", str(FEATURE_SERVER_PORT)]
    raise DeployError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")


def service_environment(service: str, settings: Settings) -> dict[str, str]:
    env = environment(settings)
    if service == "mlflow":
        # The auth app creates the admin from this the first time it starts on an empty user store.
        env["MLFLOW_AUTH_ADMIN_PASSWORD"] = settings.mlflow_admin_password
        # No server-side job runner (GenAI scoring, trace archival; the platform uses neither):
        # it would start five more processes, about 1.2 GB.
        env.setdefault("MLFLOW_SERVER_ENABLE_JOB_EXECUTION", "false")
    return env


def serve(service: str, settings: Settings | None = None, **options) -> None:
    """Replace this process with the service (signals from compose reach it directly)."""
    settings = settings or get_settings()
    _require_prod(settings)
    command = service_command(service, settings, **options)
    os.execvpe(command[0], command, service_environment(service, settings))


def health_url(service: str, settings: Settings, host: str = "127.0.0.1", environ=None) -> str | None:
    environ = os.environ if environ is None else environ
    if service == "airflow-api-server":
        return f"http://{host}:{_port(settings.airflow_api_url, 8080)}/api/v2/monitor/health"
    if service == "airflow-scheduler":
        port = environ.get("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT") or SCHEDULER_HEALTH_PORT
        return f"http://{host}:{port}/health"
    if service == "mlflow":
        return f"http://{host}:{_port(settings.mlflow_server_uri, 5000)}/health"
    if service == "feature-server":
        return f"http://{host}:{FEATURE_SERVER_PORT}/health"
    return None


def healthy(service: str, settings: Settings | None = None, environ=None) -> bool:
    settings = settings or get_settings()
    url = health_url(service, settings, environ=environ)
    if url is not None:
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status == 200
        except OSError:
            return False
    if service in ("airflow-dag-processor", "airflow-triggerer"):
        job = {"airflow-dag-processor": "DagProcessorJob", "airflow-triggerer": "TriggererJob"}[service]
        command = [sys.executable, "-m", "airflow", "jobs", "check", "--job-type", job, "--local"]
    elif service == "airflow-worker":
        import socket

        command = [
            sys.executable,
            "-m",
            "celery",
            "--app",
            "airflow.providers.celery.executors.celery_executor.app",
            "inspect",
            "ping",
            "-d",
            f"celery@{socket.gethostname()}",
        ]
    else:
        raise DeployError(f"unknown service {service!r}; one of {', '.join(SERVICES)}")
    env = {**environment(settings), **(environ or {})}
    return subprocess.run(command, env=env, capture_output=True, timeout=60).returncode == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.deploy", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init")
    serve_ = commands.add_parser("serve")
    serve_.add_argument("service", choices=SERVICES)
    serve_.add_argument("--host", default="0.0.0.0")
    serve_.add_argument("--queues", help="airflow-worker: the Celery queues it takes tasks from")
    serve_.add_argument("--concurrency", type=int, help="airflow-worker: task slots")
    serve_.add_argument("--celery-hostname", help="airflow-worker: its name (several workers on one host)")
    health = commands.add_parser("health")
    health.add_argument("service", choices=SERVICES)
    args = parser.parse_args(argv)
    try:
        settings = get_settings()
        if args.command == "init":
            init(settings)
        elif args.command == "serve":
            serve(
                args.service,
                settings,
                host=args.host,
                queues=args.queues,
                concurrency=args.concurrency,
                celery_hostname=args.celery_hostname,
            )
        elif args.command == "health":
            return 0 if healthy(args.service, settings) else 1
    except (SettingsError, DeployError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
