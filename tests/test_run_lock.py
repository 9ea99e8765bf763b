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
        with pytest.raises(RunLocked, match=r"in use by `run` for 2024-03-05\.\.2024-03-05 \(process \d+, since"):
            with run_lock(settings, "a second run"):
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
