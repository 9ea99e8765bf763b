"""A day's DAG runs in one process: `airflow dags test` of each DAG in turn, Airflow started once.

    python -m bankmkt.dagrun D DAG_ID=LOG [DAG_ID=LOG ...]

`python -m bankmkt.cli run` calls this for bank_daily and then bank_training. Each DAG's run
is exactly what `airflow dags test DAG_ID D` does (the same CLI command, parsed by Airflow's
own parser), with its output (file descriptors 1 and 2, so dbt's and every child's too) in its
own log file. What one process saves is Airflow's start-up between the two runs: Python and
Airflow imported again, the DAG folder parsed again (Cosmos renders bank_daily's 100 tasks),
the in-process execution API started again, and the first process's exit.

Exit status: 0 when every DAG run succeeded; otherwise 10 + the index of the DAG whose run
failed (10: the first), and the later DAGs do not run. After each run, one JSON line on the
original standard output: the DAG, its wall seconds, and whether it succeeded.
"""

from __future__ import annotations

import json
import os
import sys
import time

FAILED_BASE = 10


def _output_to(path: str) -> None:
    """Point file descriptors 1 and 2 (Python's, Airflow's log handlers', children's) at ``path``."""
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    day, runs = argv[0], [item.split("=", 1) for item in argv[1:]]
    report = os.fdopen(os.dup(1), "w")
    _output_to(runs[0][1])  # Airflow's start-up says what it says into the first DAG's log
    from airflow import configuration  # first, as airflow/__main__.py does
    from airflow.cli import cli_parser

    configuration.write_default_airflow_configuration_if_needed()
    parser = cli_parser.get_parser()
    for index, (dag_id, log) in enumerate(runs):
        if index:
            _output_to(log)
        started = time.perf_counter()
        succeeded = True
        try:
            args = parser.parse_args(["dags", "test", dag_id, day])
            args.func(args)
        except SystemExit as stop:  # `dags test` exits with "DagRun failed"
            succeeded = stop.code in (None, 0)
            if not succeeded:
                print(stop.code, file=sys.stderr)
        except Exception:
            import traceback

            traceback.print_exc()
            succeeded = False
        sys.stdout.flush()
        sys.stderr.flush()
        record = {"dag_id": dag_id, "seconds": round(time.perf_counter() - started, 3), "succeeded": succeeded}
        report.write(json.dumps(record) + "\n")
        report.flush()
        if not succeeded:
            return FAILED_BASE + index
    return 0


if __name__ == "__main__":
    sys.exit(main())
