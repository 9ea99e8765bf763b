"""The production profile as processes on this host: the services of docker-compose.yml without Docker.

Used by the scheduler tests and ``make bench-scheduler``; also a way to try the production profile
on one machine. Every service is a child process started with ``bankmkt.deploy serve`` (the
same entry point as the compose file), each in its own session with its log under ``log_dir``;
:meth:`ServiceStack.stop` ends each with its whole process tree.

    stack = ServiceStack(env, log_dir, celery_workers=2)
    stack.start()                                  # init, then every service, healthy
    run_id = stack.trigger("bank_daily", day)      # through the REST API, as the admin
    stack.wait_for_run("bank_daily", run_id)       # -> the run's final state
    stack.stop()
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from bankmkt.settings import Settings, _read

FINISHED = ("success", "failed")


class StackError(RuntimeError):
    """A service did not start, or a run did not finish; the message names it and its log."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ServiceStack:
    env: dict[str, str]
    log_dir: Path
    celery_workers: int = 0
    worker_concurrency: int = 4
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    _token: str | None = None

    def __post_init__(self):
        self.log_dir = Path(self.log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {
            **self.env,
            "PLATFORM_ENV": "prod",
            "AIRFLOW_EXECUTOR": "CeleryExecutor" if self.celery_workers else "LocalExecutor",
        }
        # Ports of the Airflow processes' own small servers: free ones, so that the stack does not
        # collide with another Airflow on this host (and two workers not with each other).
        self.env.setdefault("AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT", str(free_port()))
        self.env.setdefault("AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT", str(free_port()))
        self.settings: Settings = _read(self.env)

    # ---- processes ---------------------------------------------------------------------

    def _environment(self, extra: dict | None = None) -> dict[str, str]:
        return {**os.environ, **self.env, **self.settings.environment(), **(extra or {})}

    def init(self) -> str:
        completed = subprocess.run(
            [sys.executable, "-m", "bankmkt.deploy", "init"],
            env=self._environment(),
            capture_output=True,
            text=True,
            timeout=900,
        )
        (self.log_dir / "init.log").write_text(completed.stdout + completed.stderr)
        if completed.returncode != 0:
            raise StackError(f"bankmkt.deploy init failed:\n{(completed.stdout + completed.stderr)[-3000:]}")
        return completed.stdout

    def _spawn(self, name: str, service: str, *options: str, extra: dict | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - the service's log, open while it runs
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "bankmkt.deploy", "serve", service, "--host", "127.0.0.1", *options],
            env=self._environment(extra),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start(self, timeout: float = 240) -> None:
        self.init()
        for service in (
            "mlflow",
            "airflow-api-server",
            "airflow-dag-processor",
            "airflow-scheduler",
            "airflow-triggerer",
        ):
            self._spawn(service, service)
        for number in range(1, self.celery_workers + 1):
            # The first worker also takes the warehouse queue (the DuckDB writer's host).
            queues = f"default,{self.settings.warehouse_queue}" if number == 1 else "default"
            self._spawn(
                f"airflow-worker-{number}",
                "airflow-worker",
                "--queues",
                queues,
                "--concurrency",
                str(self.worker_concurrency),
                "--celery-hostname",
                f"worker{number}@%h",
                extra={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())},
            )
        self.wait_until_healthy(timeout)

    def wait_until_healthy(self, timeout: float) -> None:
        from bankmkt import deploy

        pending = {name: name if not name.startswith("airflow-worker") else "airflow-worker" for name in self.processes}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for name, service in list(pending.items()):
                process = self.processes[name]
                if process.poll() is not None:
                    raise StackError(
                        f"{name} exited with {process.returncode} while starting; log: "
                        f"{self.log_dir / (name + '.log')}:\n{self.log_tail(name)}"
                    )
                if service == "airflow-worker":
                    ready = "ready." in (self.log_dir / f"{name}.log").read_text(errors="replace")
                else:
                    ready = deploy.healthy(service, self.settings, environ=self._environment())
                if ready:
                    del pending[name]
            time.sleep(1)
        if pending:
            raise StackError(f"not healthy after {timeout:.0f}s: {', '.join(pending)} (logs in {self.log_dir})")

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def stop(self) -> None:
        import psutil

        for _name, process in self.processes.items():
            try:
                parent = psutil.Process(process.pid)
                family = [*parent.children(recursive=True), parent]
            except psutil.NoSuchProcess:
                continue
            for member in family:
                try:
                    member.terminate()
                except psutil.NoSuchProcess:
                    pass
            _, alive = psutil.wait_procs(family, timeout=20)
            for member in alive:
                member.kill()
        self.processes.clear()

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- REST API ----------------------------------------------------------------------

    def api(self, method: str, path: str, body: dict | None = None):
        url = self.settings.airflow_api_url.rstrip("/") + path
        headers = {"Content-Type": "application/json"}
        if not path.startswith("/auth/"):
            headers["Authorization"] = f"Bearer {self.token()}"
        request = urllib.request.Request(
            url, method=method, headers=headers, data=json.dumps(body).encode() if body is not None else None
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise StackError(f"{method} {path} answered {error.code}: {error.read()[:500]!r}") from None

    def token(self, user: str | None = None, password: str | None = None) -> str:
        if user is None and self._token:
            return self._token
        answer = self.api(
            "POST",
            "/auth/token",
            {
                "username": user or self.settings.airflow_admin_user,
                "password": password or self.settings.airflow_admin_password,
            },
        )
        if user is None:
            self._token = answer["access_token"]
        return answer["access_token"]

    def trigger(self, dag_id: str, day: date, run_id: str | None = None) -> str:
        run_id = run_id or f"api__{day.isoformat()}"
        self.api(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            {"dag_run_id": run_id, "logical_date": f"{day.isoformat()}T00:00:00Z"},
        )
        return run_id

    def runs(self, dag_id: str) -> list[dict]:
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=start_date&limit=100")["dag_runs"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """Every task instance of the run, page by page: the API returns at most its
        ``maximum_page_limit`` (100) per call, and bank_daily has more tasks than that."""
        found: list[dict] = []
        while True:
            page = self.api(
                "GET",
                f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=100&offset={len(found)}&order_by=id",
            )
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 900) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in FINISHED:
                return run
            self._check_alive()
            time.sleep(2)
        raise StackError(f"{dag_id} run {run_id} not finished after {timeout:.0f}s")

    def wait_for_triggered_run(self, dag_id: str, after: int = 0, timeout: float = 900) -> dict:
        """The (after+1)-th run of an asset-scheduled DAG, once finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            runs = self.runs(dag_id)
            if len(runs) > after:
                return self.wait_for_run(dag_id, runs[after]["dag_run_id"], max(deadline - time.monotonic(), 1))
            self._check_alive()
            time.sleep(2)
        raise StackError(f"no run of {dag_id} was scheduled within {timeout:.0f}s")

    def _check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise StackError(f"{name} died (exit {process.returncode}):\n{self.log_tail(name)}")

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        return [t["task_id"] for t in self.task_instances(dag_id, run_id) if t["state"] not in ("success", "skipped")]

    @staticmethod
    def seconds(run: dict) -> float:
        from datetime import datetime

        start, end = (datetime.fromisoformat(run[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
        return (end - start).total_seconds()


def trial_environment(
    data_dir: Path,
    prefix: str,
    redis: str = "127.0.0.1:6379",
    online_db: int = 4,
    broker_db: int = 5,
    postgres_url: str = "postgresql://postgres@127.0.0.1:5432/postgres",
    **extra: str,
) -> dict[str, str]:
    """Settings of a throw-away production stack: its own databases (named from ``prefix``), Redis
    databases, free ports and freshly generated secrets; bank_daily runs only when triggered."""
    import secrets

    from cryptography.fernet import Fernet

    return {
        "DATA_DIR": str(data_dir),
        "POSTGRES_URL": postgres_url,
        "AIRFLOW_DATABASE": f"{prefix}_airflow",
        "MLFLOW_DATABASE": f"{prefix}_mlflow",
        "MLFLOW_AUTH_DATABASE": f"{prefix}_mlflow_auth",
        "FEAST_DATABASE": f"{prefix}_feast",
        "REDIS_URL": f"{redis},db={online_db}",
        "CELERY_BROKER_URL": f"redis://{redis}/{broker_db}",
        "AIRFLOW_API_URL": f"http://127.0.0.1:{free_port()}",
        "MLFLOW_SERVER_URI": f"http://127.0.0.1:{free_port()}",
        "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(32),
        "AIRFLOW_FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "MLFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(12),
        "MLFLOW_SECRET_KEY": secrets.token_urlsafe(24),
        "PII_HASH_KEY": secrets.token_urlsafe(24),
        "DAILY_SCHEDULE": "none",
        **extra,
    }


def drop_databases(settings: Settings) -> None:
    """Remove the stack's databases (tests and benchmarks name their own)."""
    import psycopg

    with psycopg.connect(settings.postgres_url, autocommit=True) as con:
        for name in settings.postgres_databases:
            con.execute(f'drop database if exists "{name}" with (force)')
