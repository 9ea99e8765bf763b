"""`bankmkt-dbt`: dbt that dies with the process that started it.

Cosmos starts dbt in a session of its own (``setsid``), so killing a run's process group
(Ctrl-C on `make run`, a stopped container, a killed task) left dbt running and holding the
DuckDB writer's lock. This launcher asks the kernel to kill it when its parent dies
(``PR_SET_PDEATHSIG``, kept across ``exec``), then replaces itself with dbt. Every dbt call of
the platform goes through it (:attr:`bankmkt.settings.Settings.dbt_executable`).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def main() -> None:
    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: dbt runs as before
        pass
    if parent == 1 or os.getppid() != parent:  # the parent died before the request took effect
        raise SystemExit(1)
    # DBT_EXECUTABLE: another dbt than the one installed beside this Python (an absolute path).
    dbt = os.environ.get("DBT_EXECUTABLE") or str(Path(sys.executable).with_name("dbt"))
    os.execv(dbt, [dbt, *sys.argv[1:]])


if __name__ == "__main__":
    main()
