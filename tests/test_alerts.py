"""Alerts: one line in DATA_DIR per alert, delivered to a real local HTTP and SMTP sink, and exactly one
alert for a task that fails for good in a real Airflow run (after its retries)."""

from __future__ import annotations

import json
import threading
import warnings
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from bankmkt.settings import get_settings


@pytest.fixture
def http_sink():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()


@pytest.fixture
def smtp_sink():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import asyncore
        import smtpd

    received: list[tuple[str, list[str], str]] = []

    class Sink(smtpd.SMTPServer):
        def process_message(self, peer, mailfrom, rcpttos, data, **kwargs):
            received.append((mailfrom, rcpttos, data.decode() if isinstance(data, bytes) else data))

    server = Sink(("127.0.0.1", 0), None)
    port = server.socket.getsockname()[1]
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            asyncore.loop(timeout=0.1, count=1)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield port, received
    stop.set()
    server.close()


def _alerts(settings) -> list[dict]:
    if not settings.alerts_file.exists():
        return []
    return [json.loads(line) for line in settings.alerts_file.read_text().splitlines()]


def test_an_alert_is_recorded_posted_and_mailed(monkeypatch, tmp_path, http_sink, smtp_sink):
    from bankmkt.alerts import send_alert

    url, posted = http_sink
    port, mailed = smtp_sink
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERT_WEBHOOK_URL", url)
    monkeypatch.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALERT_SMTP_PORT", str(port))
    monkeypatch.setenv("ALERT_EMAIL_TO", "marketing-ops@bank.example")
    settings = get_settings()
    record = send_alert({"kind": "task_failed", "summary": "bank_daily.train_models failed for 2024-03-15"}, settings)
    assert record["delivery"]["webhook"] == "sent (HTTP 204)"
    assert record["delivery"]["email"] == "sent to marketing-ops@bank.example"
    assert posted == [{k: v for k, v in record.items() if k != "delivery"}]
    assert len(mailed) == 1 and mailed[0][1] == ["marketing-ops@bank.example"]
    assert "Subject: [bankmkt] bank_daily.train_models failed for 2024-03-15" in mailed[0][2]
    assert _alerts(settings) == [record]


def test_an_unreachable_channel_is_recorded_not_raised(monkeypatch, tmp_path):
    from bankmkt.alerts import send_alert

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "http://127.0.0.1:9/nothing-listens-here")
    record = send_alert({"kind": "task_failed", "summary": "x"}, get_settings())
    assert record["delivery"]["webhook"].startswith("not sent: ")
    assert len(_alerts(get_settings())) == 1


def test_smtp_without_a_recipient_is_a_settings_error(monkeypatch):
    from bankmkt.settings import SettingsError

    monkeypatch.setenv("ALERT_SMTP_HOST", "127.0.0.1")
    monkeypatch.delenv("ALERT_EMAIL_TO", raising=False)
    with pytest.raises(SettingsError, match="ALERT_EMAIL_TO"):
        get_settings()


@pytest.fixture(scope="module")
def airflow_db():
    """The session's Airflow metadata database, migrated (idempotent; the e2e test does the same)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, **get_settings().environment()}
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


PROBE_DAG = """
from datetime import datetime, timedelta, timezone

from airflow.sdk import dag, task

from bankmkt.alerts import PlatformNotifier


@dag(dag_id="alert_probe", schedule=None, start_date=datetime(2024, 1, 1, tzinfo=timezone.utc), catchup=False,
     default_args={"on_failure_callback": PlatformNotifier()})
def alert_probe():
    @task(retries=1, retry_delay=timedelta(seconds=0))
    def always_fails():
        raise RuntimeError("the online store is away")

    @task
    def succeeds():
        return "fine"

    succeeds()
    always_fails()


alert_probe()
"""


def test_a_task_that_fails_after_its_retries_raises_exactly_one_alert(airflow_db, http_sink, tmp_path):
    """A real Airflow run (`airflow dags test`) of a DAG wired like bank_daily: a task fails twice, one alert."""
    import os
    import subprocess
    import sys

    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "alert_probe.py").write_text(PROBE_DAG)
    url, posted = http_sink
    settings = get_settings()
    before = len(_alerts(settings))
    env = {**os.environ, **settings.environment(), "AIRFLOW__CORE__DAGS_FOLDER": str(dags), "ALERT_WEBHOOK_URL": url}
    completed = subprocess.run(
        [sys.executable, "-m", "airflow", "dags", "test", "alert_probe", "2024-03-15"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "always_fails" in completed.stdout + completed.stderr
    new = _alerts(settings)[before:]
    assert len(new) == 1, new
    alert = new[0]
    assert alert["kind"] == "task_failed" and alert["task_id"] == "always_fails" and alert["dag_id"] == "alert_probe"
    assert alert["logical_date"] == "2024-03-15"
    assert "the online store is away" in alert["error"]
    assert alert["try_number"] == 2  # alerted after the retry, not at the first failure
    assert alert["delivery"]["webhook"] == "sent (HTTP 204)" and len(posted) == 1
