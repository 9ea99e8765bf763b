"""Latency of the online feature service (python -m bankmkt.serving) under a steady load.

    .venv/bin/python benchmarks/serving_latency.py [--store sqlite|redis|both] [--customers 100000]
                                                   [--requests 2000] [--rate 200] [--rate-batch 20] [--max-seconds 60]

Publishes a synthetic day of ``--customers`` customers (the real feature
columns) into a temporary DATA_DIR, starts the service on 127.0.0.1 (a free
port, loopback only) once per reader (``direct``: decodes Feast's storage;
``sdk``: FeatureStore.get_online_features), and for 1 and for 100 customers
per request sends ``--requests`` requests at a fixed rate (``--rate`` for one
customer, ``--rate-batch`` for 100) on one keep-alive connection, after 100
warm-up requests. Every scenario stops after
``--requests`` or ``--max-seconds``, whichever comes first.

Latency is measured by the client from sending the request to reading the
whole response (``p50``/``p99``/``max``, milliseconds). ``late`` counts
requests sent more than 5 ms after their slot because the previous answer
had not arrived (one connection; not hidden: the sent-late requests' own
latency is what is reported).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from materialize import profile_settings, quietly, synthetic_partition, write_export  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_server(settings, reader: str):
    """The service as its own process on a free loopback port; stopped (its pid only) on exit."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "bankmkt.serving",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--reader",
        reader,
        "--feature-store-yaml",
        str(settings.feature_store_yaml),
    ]
    # stdout (the start-up line) is dropped; errors still show on stderr.
    process = subprocess.Popen(
        command, env={**os.environ, **settings.environment()}, cwd=ROOT, stdout=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/health")
                if connection.getresponse().status == 200:
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the feature service did not start") from None
                time.sleep(0.5)
        yield port
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=20)
        if process.poll() is None:
            process.kill()


def steady_load(port: int, customer_ids: list[str], batch: int, requests: int, rate: float, max_seconds: float) -> dict:
    rng = np.random.default_rng(batch)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def one() -> float:
        picked = [customer_ids[i] for i in rng.integers(0, len(customer_ids), batch)]
        began = time.perf_counter()
        if batch == 1:
            connection.request("GET", f"/customers/{picked[0]}/features")
        else:
            connection.request(
                "POST",
                "/features",
                body=json.dumps({"customer_ids": picked}),
                headers={"Content-Type": "application/json"},
            )
        response = connection.getresponse()
        body = response.read()
        elapsed = time.perf_counter() - began
        if response.status != 200 or not body:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        return elapsed

    for _ in range(100):  # warm-up: connections, statement caches, registry
        one()
    interval = 1.0 / rate
    latencies, late = [], 0
    start = time.perf_counter()
    for i in range(requests):
        slot = start + i * interval
        now = time.perf_counter()
        if now - start > max_seconds:
            break
        if slot > now:
            time.sleep(slot - now)
        elif now - slot > 0.005:
            late += 1
        latencies.append(one())
    connection.close()
    ms = np.array(latencies) * 1000
    return {
        "requests": len(ms),
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "max": float(ms.max()),
        "late": late,
        "seconds": time.perf_counter() - start,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "redis", "both"), default="both")
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second, 1 customer each")
    parser.add_argument("--rate-batch", type=float, default=20.0, help="requests per second, 100 customers each")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time cap per scenario")
    parser.add_argument("--readers", default="direct,sdk")
    args = parser.parse_args(argv)

    from bankmkt import features

    workdir = Path(tempfile.mkdtemp(prefix="bankmkt-bench-serving-"))
    day = date(2024, 3, 15)
    partition = synthetic_partition(args.customers, day)
    customer_ids = partition.column("customer_id").to_pylist()
    stores = ("sqlite", "redis") if args.store == "both" else (args.store,)
    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.customers:,} customers; "
        f"per scenario {args.requests} requests at {args.rate:.0f}/s (1 customer) or {args.rate_batch:.0f}/s (100), "
        f"at most {args.max_seconds:.0f} s"
    )
    print(f"{'store':<8}{'reader':<8}{'batch':>6}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'late':>6}")
    try:
        for store_type in stores:
            settings = profile_settings(store_type, workdir / store_type, f"latency_{uuid.uuid4().hex[:8]}")
            write_export(settings, partition, day)
            quietly(features.apply_feature_repo, settings)
            quietly(features.materialize_day, day, settings)
            try:
                for reader in args.readers.split(","):
                    with running_server(settings, reader) as port:
                        for batch in (1, 100):
                            rate = args.rate if batch == 1 else args.rate_batch
                            r = steady_load(port, customer_ids, batch, args.requests, rate, args.max_seconds)
                            print(
                                f"{store_type:<8}{reader:<8}{batch:>6}{r['requests']:>9}{r['p50']:>9.2f}"
                                f"{r['p99']:>9.2f}{r['max']:>9.1f}{r['late']:>6}",
                                flush=True,
                            )
            finally:
                with contextlib.redirect_stdout(io.StringIO()):
                    features.remove_project(settings)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
