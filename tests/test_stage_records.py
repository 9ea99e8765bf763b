"""Stage records carry CPU seconds and peak memory beside the wall time (what `make bench-daily` reads)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta


def test_a_stage_record_carries_the_cpu_of_the_block_and_of_its_children_and_the_memory_peaks(tmp_path, monkeypatch):
    from bankmkt.runtime import record_stage, timed
    from bankmkt.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PLATFORM_ENV", "local")
    settings = get_settings()
    burn = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    before = datetime.now(UTC)
    with timed() as clock:
        exec(burn)  # this process: 0.3 s of CPU
        subprocess.run([sys.executable, "-c", burn], check=True)  # a child, as dbt is: 0.3 s more
    seconds = clock["seconds"]
    assert seconds.cpu_seconds >= 0.55
    assert clock["seconds"] == seconds  # stopped: the same figures after the block

    path = record_stage(date(2024, 3, 20), "build_warehouse", {"rows": 1}, seconds, settings)
    record = json.loads(path.read_text())
    assert record["seconds"] >= 0.3 and record["cpu_seconds"] >= 0.55
    started = datetime.fromisoformat(record["started_at"])  # to the millisecond: the stage's time line
    assert before - timedelta(milliseconds=1) <= started <= before + timedelta(seconds=0.2)
    assert record["peak_rss_mb"] > 10
    assert record["result"] == {"rows": 1}

    # A stage timed some other way (the DAG's dbt stage, from time stamps) has no CPU figure, and no
    # made-up one; the memory peak is still there.
    record = json.loads(record_stage(date(2024, 3, 20), "build_warehouse", {}, 12.5, settings).read_text())
    assert record["seconds"] == 12.5 and "cpu_seconds" not in record and "started_at" not in record
    assert record["peak_rss_mb"] > 10
