"""One way for the platform to say that something needs a person: failed tasks and fired monitors.

:func:`send_alert` always appends the alert to ``DATA_DIR/alerts/alerts.jsonl`` (one JSON
object per line), then, when configured, POSTs it as JSON to ``ALERT_WEBHOOK_URL`` and
e-mails it through ``ALERT_SMTP_HOST``/``ALERT_SMTP_PORT`` to ``ALERT_EMAIL_TO``. A
channel that cannot be reached is recorded on the alert's line (``delivery``) and never
fails the caller: an alert about a failure must not become a second failure.

:class:`PlatformNotifier` is the Airflow notifier the DAGs hand to ``on_failure_callback``:
Airflow calls it once when a task has failed for good (after its retries).

:data:`RETRY_WITH_BACKOFF` is the retry policy both DAGs give the tasks a retry can help
(the ones that talk to a store that can be briefly away); the notifier fires after it.

Kept light on imports: DAG files import this module at parse time.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from airflow.sdk import BaseNotifier

# For the tasks a retry can help: 30 s, then 60 s, then 120 s (at most 5 minutes).
RETRY_WITH_BACKOFF = {
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=5),
}


def send_alert(alert: dict, settings=None) -> dict:
    """Record ``alert`` (``kind``, ``summary`` and any detail) and deliver it; returns it with ``delivery``."""
    from bankmkt.runtime import apply_environment

    settings = settings or apply_environment()
    record = {"at": datetime.now(UTC).isoformat(timespec="seconds"), **alert, "delivery": {}}
    if settings.alert_webhook_url:
        record["delivery"]["webhook"] = _post(settings.alert_webhook_url, record)
    if settings.alert_smtp_host:
        record["delivery"]["email"] = _mail(settings, record)
    path = settings.alerts_file
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as alerts:  # one short line: appends do not interleave
        alerts.write(json.dumps(record, default=str) + "\n")
    return record


def _post(url: str, record: dict) -> str:
    import urllib.request

    body = json.dumps({k: v for k, v in record.items() if k != "delivery"}, default=str).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return f"sent (HTTP {response.status})"
    except Exception as error:
        return f"not sent: {error}"


def _mail(settings, record: dict) -> str:
    import smtplib
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = f"[bankmkt] {record.get('summary', record.get('kind', 'alert'))}"
    message["From"] = settings.alert_email_from
    message["To"] = settings.alert_email_to
    message.set_content(json.dumps({k: v for k, v in record.items() if k != "delivery"}, indent=2, default=str))
    try:
        with smtplib.SMTP(settings.alert_smtp_host, settings.alert_smtp_port, timeout=10) as smtp:
            smtp.send_message(message)
        return f"sent to {settings.alert_email_to}"
    except Exception as error:
        return f"not sent: {error}"


class PlatformNotifier(BaseNotifier):
    """Airflow notifier: a task that failed for good becomes one alert."""

    def notify(self, context) -> None:
        task_instance = context.get("ti") or context.get("task_instance")
        dag_run = context.get("dag_run")
        exception = context.get("exception")
        task_id = getattr(task_instance, "task_id", "?")
        dag_id = getattr(task_instance, "dag_id", None) or getattr(dag_run, "dag_id", "?")
        logical = context.get("ds") or str(context.get("logical_date", ""))[:10]
        send_alert(
            {
                "kind": "task_failed",
                "summary": f"{dag_id}.{task_id} failed for {logical}",
                "dag_id": dag_id,
                "task_id": task_id,
                "run_id": getattr(dag_run, "run_id", None) or context.get("run_id"),
                "logical_date": logical,
                "try_number": getattr(task_instance, "try_number", None),
                "error": f"{type(exception).__name__}: {exception}" if exception else None,
            }
        )
