"""`cli run` runs a day's two DAGs in one Airflow process (bankmkt.dagrun) and names the one that failed."""

from __future__ import annotations

import json
import subprocess
from datetime import date

import pytest

from bankmkt import cli
from bankmkt.settings import Settings

DAY = date(2024, 3, 5)


def _fake_dagrun(monkeypatch, returncode: int, ran: list[dict], calls: list) -> None:
    def run(command, **kwargs):
        calls.append(command)
        lines = "".join(json.dumps(record) + "\n" for record in ran)
        return subprocess.CompletedProcess(command, returncode, stdout=lines)

    monkeypatch.setattr(cli.subprocess, "run", run)


def test_both_dags_run_in_one_process_each_with_its_own_log(tmp_path, monkeypatch):
    settings = Settings(platform_env="local", data_dir=tmp_path)
    calls = []
    ran = [
        {"dag_id": "bank_daily", "seconds": 61.5, "succeeded": True},
        {"dag_id": "bank_training", "seconds": 1.2, "succeeded": True},
    ]
    _fake_dagrun(monkeypatch, 0, ran, calls)
    seconds = cli._dags_test(settings, (cli.DAG_ID, cli.TRAINING_DAG_ID), DAY)
    assert seconds == {"bank_daily": 61.5, "bank_training": 1.2}
    (command,) = calls
    assert command[1:4] == ["-m", "bankmkt.dagrun", "2024-03-05"]
    assert command[4:] == [
        f"bank_daily={cli._log_path(settings, 'bank_daily', DAY)}",
        f"bank_training={cli._log_path(settings, 'bank_training', DAY)}",
    ]


@pytest.mark.parametrize(
    ("returncode", "ran", "failed"),
    [
        (10, [{"dag_id": "bank_daily", "seconds": 5.0, "succeeded": False}], "bank_daily"),
        (
            11,
            [
                {"dag_id": "bank_daily", "seconds": 60.0, "succeeded": True},
                {"dag_id": "bank_training", "seconds": 3.0, "succeeded": False},
            ],
            "bank_training",
        ),
        (1, [], "bank_daily"),  # died before it could say: the DAG it was running
    ],
    ids=["daily failed", "training failed", "process died"],
)
def test_a_failed_day_names_the_dag_and_shows_its_log(tmp_path, monkeypatch, capsys, returncode, ran, failed):
    settings = Settings(platform_env="local", data_dir=tmp_path)
    _fake_dagrun(monkeypatch, returncode, ran, [])
    log = cli._log_path(settings, failed, DAY)

    original = cli._failure_excerpt
    monkeypatch.setattr(
        cli, "_failure_excerpt", lambda path: f"excerpt of {path.name}" if path == log else original(path)
    )
    with pytest.raises(SystemExit, match=f"{failed} failed for 2024-03-05") as stop:
        cli._dags_test(settings, (cli.DAG_ID, cli.TRAINING_DAG_ID), DAY)
    assert str(log) in str(stop.value)
    assert f"excerpt of {log.name}" in capsys.readouterr().err
