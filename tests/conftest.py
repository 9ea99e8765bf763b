"""Test-session set-up shared by every test.

Airflow reads its configuration once, at first import, so the session's
environment (a throw-away DATA_DIR with its own AIRFLOW_HOME) is exported here,
before any test module imports Airflow.
"""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

SESSION_DATA_DIR = Path(tempfile.mkdtemp(prefix="bankmkt-tests-"))
os.environ["DATA_DIR"] = str(SESSION_DATA_DIR)
os.environ["PLATFORM_ENV"] = "local"

from bankmkt.settings import get_settings  # noqa: E402

os.environ.update(get_settings().environment())

if not get_settings().dbt_manifest_path.exists():  # `make setup` builds it; plain pytest may not have
    from bankmkt.warehouse import parse_project

    parse_project()


def pytest_sessionfinish(session, exitstatus):
    if exitstatus == 0:
        shutil.rmtree(SESSION_DATA_DIR, ignore_errors=True)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def redis_server() -> str:
    """Address of the Redis server of the production profile; skips when none runs."""
    if not _reachable("127.0.0.1", 6379):
        if os.environ.get("CI"):
            pytest.fail("CI must have Redis on 127.0.0.1:6379")
        pytest.skip("no Redis server on 127.0.0.1:6379 (start one to run the production-profile tests)")
    return "127.0.0.1:6379"


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """URL of the PostgreSQL server of the production profile; skips when none runs."""
    if not _reachable("127.0.0.1", 5432):
        if os.environ.get("CI"):
            pytest.fail("CI must have PostgreSQL on 127.0.0.1:5432")
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432 (start one to run the production-profile tests)")
    return "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def find_chromium():
    """``find_chromium(why)``: the headless browser's path; a test without it skips with ``why`` (fails in CI)."""

    def find(why: str) -> str:
        import shutil

        chromium = shutil.which("chromium") or shutil.which("chromium-browser")
        if chromium is None:
            if os.environ.get("CI"):
                pytest.fail("Chromium is not installed (make setup installs Debian's chromium when it can)")
            pytest.skip(f"Chromium is not installed: {why} needs Debian's chromium package")
        return chromium

    return find
