"""Run-time plumbing shared by the stages: environment hand-off, run records, the run date and atomic writes."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path

from bankmkt.settings import Settings, get_settings

# The run-date parser and the atomic writer live in the lowest layer (ml imports nothing of the
# platform); the platform's stages take them from here.
from ml.runtime import parse_run_date as parse_run_date
from ml.runtime import write_atomically as write_atomically


def apply_environment(settings: Settings | None = None) -> Settings:
    """Export the settings as the variables dbt, Feast, MLflow and Airflow read."""
    from bankmkt.relocation import adopt_data_dir

    settings = settings or get_settings()
    settings.ensure_dirs()
    settings.ensure_pii_key()
    os.environ.update(settings.environment())
    adopt_data_dir(settings)  # a copied or moved DATA_DIR first points its own state at itself
    return settings


def json_safe(value):
    """``value`` with NaN and infinities as None (strict JSON: what Airflow's XCom and the run records need)."""
    import math

    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if type(value).__module__ == "numpy" and type(value).__name__.startswith(("float", "int", "uint", "bool")):
        value = value.item()  # numpy numbers and flags as Python ones
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def record_stage(run_date: date, stage: str, result: dict, seconds: float, settings: Settings | None = None) -> Path:
    """Write what a stage produced to DATA_DIR/runs/dt=D/<stage>.json (read by the run summary).

    Beside the wall ``seconds``: when ``seconds`` comes from :func:`timed`, the block's ``cpu_seconds``
    and ``started_at`` (to the millisecond: the stage's time line); and the process's peak memory so
    far (:func:`peak_rss_mb`).
    """
    settings = settings or get_settings()
    folder = settings.runs_dir / f"dt={run_date.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{stage}.json"
    record = {
        "stage": stage,
        "run_date": run_date.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(seconds, 2),
    }
    if isinstance(seconds, Seconds):  # timed by timed(): its start and CPU came along
        record["started_at"] = datetime.fromtimestamp(seconds.started_at, UTC).isoformat(timespec="milliseconds")
        record["cpu_seconds"] = round(seconds.cpu_seconds, 2)
    record["peak_rss_mb"] = peak_rss_mb()
    record["result"] = json_safe(result)
    path.write_text(json.dumps(record, indent=2, default=str, allow_nan=False) + "\n")
    return path


def cpu_seconds() -> float:
    """CPU seconds (user and system) so far of this process, all its threads, and its waited-for children."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB: the high-water mark of its whole life, not of
    one block (in ``airflow dags test`` every task shares one process). Its children's peaks are not
    here: the kernel counts a forked child's pages from the fork, so a child of a large process reports
    at least its parent's size (a ``/bin/true`` started from 600 MB of Python reports 611 MB)."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


class Seconds(float):
    """Wall seconds of a timed block, carrying the block's CPU seconds and its start (epoch seconds)."""

    cpu_seconds: float
    started_at: float


class Clock(dict):
    """Elapsed wall and CPU time since the clock started, readable inside and after the block."""

    def __init__(self) -> None:
        super().__init__()
        self._start, self._cpu_start, self._started_at = time.perf_counter(), cpu_seconds(), time.time()
        self._stop: float | None = None
        self._cpu_stop: float | None = None

    def __getitem__(self, key):
        if key != "seconds":
            raise KeyError(key)
        elapsed = Seconds((self._stop or time.perf_counter()) - self._start)
        elapsed.cpu_seconds = (self._cpu_stop or cpu_seconds()) - self._cpu_start
        elapsed.started_at = self._started_at
        return elapsed


@contextmanager
def timed() -> Iterator[Clock]:
    """Time a block: ``clock["seconds"]`` is its wall seconds, whose ``cpu_seconds`` is the CPU the
    process and the children it waited for used meanwhile (what :func:`record_stage` records)."""
    clock = Clock()
    try:
        yield clock
    finally:
        clock._stop, clock._cpu_stop = time.perf_counter(), cpu_seconds()


def progress(total: int, description: str, unit: str = "day", stream=None):
    """A callback for long work, called once per step with a line about it.

    On a terminal: a progress bar (tqdm) with the step's line beside it. Elsewhere (task logs, CI,
    a pipe): the line itself, one per step, so a log shows the same progress.
    """
    import sys

    stream = stream or sys.stderr
    if not stream.isatty():
        return lambda line: print(line, flush=True)
    from tqdm import tqdm

    bar = tqdm(total=total, desc=description, unit=unit, file=stream, dynamic_ncols=True, leave=True)

    def step(line: str) -> None:
        bar.set_postfix_str(line.strip(), refresh=False)
        bar.update(1)
        if bar.n >= total:
            bar.close()

    return step


RUN_TOKEN = "BANKMKT_RUN_TOKEN"


class RunLocked(RuntimeError):
    """Another run holds DATA_DIR: the message names it."""


@contextmanager
def run_lock(settings: Settings, what: str) -> Iterator[Path]:
    """Hold DATA_DIR's run lock for a run's life; a second run fails at once, naming the first.

    An advisory ``flock`` on ``DATA_DIR/run.lock``: the kernel releases it when the holder
    exits, even when killed, so a crashed run never leaves a stale lock behind. The file
    keeps the holder's description (what, process id, since) for the message.
    """
    import fcntl

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    path = settings.run_lock_path
    handle = open(path, "a+")  # noqa: SIM115 - held open for the run's life, closed in the finally below
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.readline().strip() or "another process"
        handle.close()
        raise RunLocked(
            f"{settings.data_dir} is in use by {holder}; wait for it to finish (or stop it) before starting {what}"
        ) from None
    import uuid

    token = uuid.uuid4().hex
    outer = os.environ.get(RUN_TOKEN)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(
            f"{what} (process {os.getpid()}, since {datetime.now(UTC).isoformat(timespec='seconds')})\n{token}\n"
        )
        handle.flush()
        os.environ[RUN_TOKEN] = token  # the run's own tasks (child processes) see that they belong to it
        yield path
    finally:
        if outer is None:
            os.environ.pop(RUN_TOKEN, None)
        else:
            os.environ[RUN_TOKEN] = outer
        handle.seek(0)
        handle.truncate()
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def refuse_while_another_run_holds(settings: Settings, what: str) -> None:
    """The first task of a scheduled run: stop, naming the holder, while a command-line run holds DATA_DIR.

    A run started by the command line holds DATA_DIR's lock (:func:`run_lock`) for its life, and
    its own tasks carry its token; a task of a scheduler's run carries none, so it finds the lock
    held and stops before it changes anything. A free lock is taken and released at once:
    scheduled runs are kept one at a time by the scheduler itself (``max_active_runs=1``).
    """
    path = settings.run_lock_path
    token = os.environ.get(RUN_TOKEN)
    if token and path.exists() and token in path.read_text(errors="replace").split():
        return  # a task of the command-line run that holds the lock
    with run_lock(settings, what):
        pass
