"""One run at a time per DATA_DIR: a second run stops at once and names the first."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date

import pytest

from bankmkt.runtime import RunLocked, run_lock
from bankmkt.settings import Settings

HOLD = """
import sys, time
from pathlib import Path
from bankmkt.runtime import run_lock
from bankmkt.settings import Settings
with run_lock(Settings(platform_env="local", data_dir=Path(sys.argv[1])), "`run` for 2024-03-05..2024-03-05"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_second_run_fails_naming_the_first_and_the_lock_dies_with_its_holder(tmp_path, monkeypatch):
    settings = Settings(platform_env="local", data_dir=tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(RunLocked, match=r"in use by `run` for 2024-03-05\.\.2024-03-05 \(process \d+, since"),
            run_lock(settings, "a second run"),
        ):
            pass
        # The command line says the same, and starts nothing.
        from bankmkt import cli

        monkeypatch.setenv("DATA_DIR", str(tmp_path))
        monkeypatch.setattr(cli, "init_platform", lambda: settings)
        monkeypatch.setattr(cli, "_run_days", lambda *args: pytest.fail("a locked run must not start"))
        with pytest.raises(SystemExit, match=r"\[run\] .* is in use by `run` for 2024-03-05"):
            cli.run_days(date(2024, 3, 6), date(2024, 3, 6))
    finally:
        holder.kill()  # killed, not released: the kernel frees the lock
        holder.wait()
    deadline = time.time() + 10
    while True:
        try:
            with run_lock(settings, "after the holder died"):
                break
        except RunLocked:
            assert time.time() < deadline, "the lock outlived its holder"
            time.sleep(0.2)
    with run_lock(settings, "sequential runs"):  # released on exit: the next run takes it
        pass


STAGE = """
import sys
from pathlib import Path
from bankmkt.runtime import RunLocked, refuse_while_another_run_holds
from bankmkt.settings import Settings
try:
    refuse_while_another_run_holds(Settings(platform_env="local", data_dir=Path(sys.argv[1])), "bank_daily for 2024-03-06")
except RunLocked as error:
    print(error)
    sys.exit(3)
print("started")
"""


def test_a_scheduled_run_stops_while_a_command_line_run_holds_the_data_dir_but_its_own_tasks_go_on(tmp_path):
    """A task of a scheduler's run (no token) refuses naming the holder; the holder's own tasks (its token) start."""
    import os

    settings = Settings(platform_env="local", data_dir=tmp_path)
    with run_lock(settings, "`run` for 2024-03-06..2024-03-06"):
        own = subprocess.run([sys.executable, "-c", STAGE, str(tmp_path)], capture_output=True, text=True)
        assert (own.returncode, own.stdout.strip()) == (0, "started"), own.stderr
        foreign_env = {k: v for k, v in os.environ.items() if k != "BANKMKT_RUN_TOKEN"}
        foreign = subprocess.run(
            [sys.executable, "-c", STAGE, str(tmp_path)], capture_output=True, text=True, env=foreign_env
        )
        assert foreign.returncode == 3, foreign.stdout + foreign.stderr
        assert "in use by `run` for 2024-03-06..2024-03-06 (process" in foreign.stdout
        assert "before starting bank_daily for 2024-03-06" in foreign.stdout
    assert "BANKMKT_RUN_TOKEN" not in os.environ
    # Free again: a scheduled run starts (and holds nothing after its check).
    free = subprocess.run([sys.executable, "-c", STAGE, str(tmp_path)], capture_output=True, text=True)
    assert free.stdout.strip() == "started"
    with run_lock(settings, "the next run"):
        pass


PARENT = """
import subprocess, sys, time
# As Cosmos starts dbt: a session of its own, so a kill of the run's process group misses it.
child = subprocess.Popen(sys.argv[1:], start_new_session=True)
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.mark.parametrize("launcher", [True, False], ids=["bankmkt-dbt", "without it"])
def test_dbt_dies_with_the_process_that_started_it(tmp_path, monkeypatch, launcher):
    """Killing a run (dbt's parent) takes dbt with it through bankmkt-dbt; without it dbt outlives its parent.

    DBT_EXECUTABLE stands a long command in for dbt (a real dbt call can end before the kill lands)."""
    import shutil

    import psutil

    from bankmkt.settings import get_settings

    launcher_path = get_settings().dbt_executable
    assert launcher_path.name == "bankmkt-dbt"
    monkeypatch.setenv("DBT_EXECUTABLE", shutil.which("sleep"))
    command = [str(launcher_path), "60"] if launcher else [shutil.which("sleep"), "60"]
    parent = subprocess.Popen([sys.executable, "-c", PARENT, *command], stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    try:
        deadline = time.monotonic() + 10
        while "sleep" not in child.name() and time.monotonic() < deadline:  # the launcher has exec'ed
            time.sleep(0.05)
        assert child.name() == "sleep"
        parent.kill()
        parent.wait()
        time.sleep(0.5)
        dead = not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
        assert dead is launcher
    finally:
        if child.is_running():
            child.kill()


def test_a_failed_run_shows_the_whole_failure_text(tmp_path):
    """`make run` used to cut a gate's message to its first line: the details are what a person needs."""
    from bankmkt.cli import _failure_excerpt

    log = tmp_path / "2024-03-05.log"
    log.write_text(
        "2026-12-07T06:58:39.1Z [info     ] Task started validate_features\n"
        "Traceback (most recent call last):\n"
        '  File "pipeline.py", line 1, in validate_features\n'
        "bankmkt.quality.QualityGateFailed: quality gate failed for 2024-03-05:\n"
        "customer_segments: 2 failure-level expectation(s) failed\n"
        "  - lifecycle_stage: expect_column_values_to_be_in_set ['mature'] for at least 76.5% of rows\n"
        "  Data Docs: /data/reports/data_docs/validations/customer_segments.html\n"
        "report: /data/reports/quality/dt=2024-03-05/summary.html\n"
        "2026-12-07T06:58:40.2Z [error    ] Task failed with exception\n"
    )
    excerpt = _failure_excerpt(log)
    assert excerpt.splitlines()[-5:] == [
        "bankmkt.quality.QualityGateFailed: quality gate failed for 2024-03-05:",
        "customer_segments: 2 failure-level expectation(s) failed",
        "  - lifecycle_stage: expect_column_values_to_be_in_set ['mature'] for at least 76.5% of rows",
        "  Data Docs: /data/reports/data_docs/validations/customer_segments.html",
        "report: /data/reports/quality/dt=2024-03-05/summary.html",
    ]
