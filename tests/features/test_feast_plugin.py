"""The platform's Feast plugin (bankmkt.feast_plugin): reached through Feast's own entry points, pinned to the
Feast versions it was checked against, the only place that uses Feast's private names."""

from __future__ import annotations

import ast
import inspect
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from bankmkt import feast_plugin, features

ROOT = Path(__file__).resolve().parents[2]
# Where private names of Feast, Great Expectations and Airflow may be used: the plugin and the
# version-guarded compatibility modules.
ALLOWED = ("src/bankmkt/feast_plugin/feast_internals.py", "src/bankmkt/gx_compat.py", "src/bankmkt/airflow_compat.py")
SCANNED = ("src", "ml", "dags", "feature_repo", "benchmarks", "tests")


def _tables(settings) -> dict[str, list[tuple]]:
    store = features.feature_store(settings)
    with sqlite3.connect(settings.feast_online_path) as con:
        return {
            view.name: con.execute(
                f'select entity_key, feature_name, value, event_ts from "{store.project}_{view.name}" '
                "order by entity_key, feature_name"
            ).fetchall()
            for view in store.list_feature_views()
        }


def test_the_repo_names_the_plugin_at_feasts_extension_points(local_store):
    store = features.feature_store(local_store)

    assert isinstance(store.config.online_store, feast_plugin.FastSqliteOnlineStoreConfig)
    assert store.config.batch_engine_config["type"] == "bankmkt.feast_plugin.FastComputeEngine"
    for name in ("feature_store.yaml", "feature_store.prod.yaml"):
        text = (ROOT / "feature_repo" / name).read_text()
        assert "type: bankmkt.feast_plugin.FastComputeEngine" in text, name
    assert (
        "type: bankmkt.feast_plugin.FastRedisOnlineStore" in (ROOT / "feature_repo/feature_store.prod.yaml").read_text()
    )


def test_feast_materialize_goes_through_the_engine_and_stores_what_feast_stores(local_store, days, tmp_path):
    fast = features.settings_for_project(days.unique_project("plugin"), tmp_path, local_store)
    plain = features.settings_for_project(days.unique_project("plain"), tmp_path, local_store)
    for settings in (fast, plain):
        days.quiet_apply(settings)
    start, end = features.materialization_window(days.RUN_DAY)

    with feast_plugin.publication_report() as reports:
        features.feature_store(fast).materialize(start_date=start, end_date=end)  # Feast's own entry point
    features.feature_store(plain, plain=True).materialize(start_date=start, end_date=end)

    assert len(reports) == 1 and reports[0]["customers"] == len(days.CUSTOMERS)
    assert len(reports[0]["feature_views"]) == 7  # one read of the shared source for every view
    assert _tables(fast) == _tables(plain)  # keys, ValueProtos and event times, byte for byte
    # Read back through Feast's plain SQLite store: the same values.
    served = features.feature_store(fast, plain=True).get_online_features(
        features=features.feature_store(fast).get_feature_service(features.FEATURE_SERVICE),
        entity_rows=[{"customer_id": c} for c in days.CUSTOMERS],
    )
    pd.testing.assert_frame_equal(days.feature_frame(served.to_df()), days.feature_frame(days.partition(days.RUN_DAY)))


def test_the_feast_command_line_materialises_through_the_plugin(local_store, days, tmp_path):
    """`feast materialize` from a shell, as a Feast user would run it."""
    settings = features.settings_for_project(days.unique_project("cli"), tmp_path, local_store)
    days.quiet_apply(settings)
    environment = {**os.environ, **settings.environment()}
    start, end = features.materialization_window(days.RUN_DAY)
    feast = str(Path(sys.executable).with_name("feast"))
    done = subprocess.run(
        [feast, "-c", str(settings.feature_repo_dir), "-f", str(settings.feature_store_yaml)]
        + ["--log-level", "INFO", "materialize", start.isoformat(), end.isoformat()],
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert "INFO:bankmkt.feast_plugin.engine:published 4 customers x 7 views" in done.stderr, done.stderr[-3000:]
    served = days.feature_frame(features.online_features(days.CUSTOMERS, settings))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


def test_what_the_engine_does_not_handle_goes_through_feasts_own_engine(local_store, days, tmp_path, caplog):
    settings = features.settings_for_project(days.unique_project("fallback"), tmp_path, local_store)
    days.quiet_apply(settings)
    start, end = features.materialization_window(days.RUN_DAY)

    with caplog.at_level(logging.WARNING, "bankmkt.feast_plugin.engine"), feast_plugin.publication_report() as done:
        features.feature_store(settings).materialize(start_date=start, end_date=end, disable_event_timestamp=True)

    assert done == []  # nothing published by the fast path
    assert "Feast's own materialisation (disable_event_timestamp)" in caplog.text
    served = days.feature_frame(features.online_features(days.CUSTOMERS, settings))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


def test_publication_reports_its_progress_in_logs(local_store, days, tmp_path, caplog):
    settings = features.settings_for_project(days.unique_project("progress"), tmp_path, local_store)
    days.quiet_apply(settings)

    with caplog.at_level(logging.INFO, "bankmkt.feast_plugin.engine"):
        features.materialize_day(days.RUN_DAY, settings)

    written = [r.getMessage() for r in caplog.records if "values written" in r.getMessage()]
    values = len(days.CUSTOMERS) * sum(len(v.features) for v in features.feature_store(settings).list_feature_views())
    assert len(written) == 7  # a line per view and chunk
    assert written[-1] == f"publishing 7 views: {values} of {values} values written"


@pytest.mark.parametrize("version", ["0.66.2", "0.68.0", "1.0.0"])
def test_an_unchecked_feast_version_is_refused_with_what_to_do(version):
    with pytest.raises(feast_plugin.UnsupportedFeastVersion) as refused:
        feast_plugin._check_feast_version(version)
    message = str(refused.value)
    assert f"Feast {version} is installed" in message and "0.67.x" in message
    assert "online_store type: sqlite or redis" in message and "SUPPORTED_FEAST" in message


def test_the_installed_feast_is_one_the_plugin_supports():
    import feast

    assert ".".join(feast.__version__.split(".")[:2]) in feast_plugin.SUPPORTED_FEAST


def _private_library_names() -> set[str]:
    """Private (single underscore) names of the Feast modules and classes the platform works with."""
    import feast.feature_store
    import feast.infra.online_stores.helpers
    import feast.infra.online_stores.redis
    import feast.infra.online_stores.sqlite
    import feast.infra.passthrough_provider
    import feast.repo_config

    names = set()
    for module in (
        feast.feature_store,
        feast.infra.online_stores.helpers,
        feast.infra.online_stores.redis,
        feast.infra.online_stores.sqlite,
        feast.infra.passthrough_provider,
        feast.repo_config,
    ):
        for name, member in vars(module).items():
            names.add(name)
            if inspect.isclass(member):
                names.update(vars(member))
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _python_files():
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if ".venv" not in relative and not relative.startswith(ALLOWED):
                yield relative, ast.parse(path.read_text(), filename=relative)


def test_no_private_feast_great_expectations_or_airflow_name_outside_the_plugin_and_compat_modules():
    libraries = ("feast", "great_expectations", "airflow")
    private = _private_library_names()
    ours = set()  # private names the project defines itself (self._cache, def _helper) are its own
    files = list(_python_files())
    for _, tree in files:
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                ours.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                ours.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                ours.add(node.id)
    found = []
    for relative, tree in files:
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in libraries:
                found += [f"{relative}:{node.lineno} imports {a.name}" for a in node.names if a.name.startswith("_")]
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for module in modules:
                    if module.split(".")[0] in libraries and any(p.startswith("_") for p in module.split(".")):
                        found.append(f"{relative}:{node.lineno} imports module {module}")
            elif isinstance(node, ast.Attribute) and node.attr in private and node.attr not in ours:
                found.append(f"{relative}:{node.lineno} uses .{node.attr}")
    assert not found, "\n".join(found)


def test_the_plugins_tables_are_one_btree_each_and_feasts_plain_store_works_on_them(local_store, days, tmp_path):
    settings = features.settings_for_project(days.unique_project("btree"), tmp_path, local_store)
    days.quiet_apply(settings)
    store = features.feature_store(settings)
    with sqlite3.connect(settings.feast_online_path) as con:
        schema = dict(con.execute("select name, sql from sqlite_master where tbl_name like ?", [f"{store.project}_%"]))
    assert len(schema) == 7 and all(sql.endswith("WITHOUT ROWID") for sql in schema.values())  # no extra index

    plain = features.feature_store(settings, plain=True)  # Feast's own SQLite store and engine
    plain.materialize(*features.materialization_window(days.DAY_BEFORE))
    features.materialize_day(days.RUN_DAY, settings)  # then the plugin, over Feast's rows

    served = days.feature_frame(
        plain.get_online_features(
            features=plain.get_feature_service(features.FEATURE_SERVICE),
            entity_rows=[{"customer_id": c} for c in days.CUSTOMERS],
        ).to_df()
    )
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


@pytest.mark.parametrize("full_feature_names", [False, True])
def test_training_sets_equal_feasts_own_point_in_time_join(local_store, days, full_feature_names, caplog):
    """The offline store's ASOF join against Feast's DuckDB join: every time that matters, both TTLs."""
    from datetime import timedelta

    moments = []
    for day in (days.DAY_BEFORE, days.RUN_DAY):
        known = pd.Timestamp(days.known_at(day))
        moments += [known - timedelta(microseconds=1), known, known + timedelta(hours=9)]
    last = pd.Timestamp(days.known_at(days.RUN_DAY))
    moments += [last + timedelta(days=3), last + timedelta(days=3, microseconds=1), last + timedelta(days=40)]
    entity_df = pd.DataFrame(
        [(c, m, f"row{i}") for i, (c, m) in enumerate((c, m) for c in days.CUSTOMERS + ["C9999999"] for m in moments)],
        columns=["customer_id", "event_timestamp", "row"],
    )
    refs = [
        f"{view.name}:{feature.name}"
        for view in features.feature_store(local_store).list_feature_views()
        for feature in view.features
    ]

    with caplog.at_level(logging.INFO, "bankmkt.feast_plugin.offline"):
        fast = features.feature_store(local_store).get_historical_features(
            entity_df=entity_df, features=refs, full_feature_names=full_feature_names
        )
        fast = fast.to_df()
    plain = features.feature_store(local_store, plain=True).get_historical_features(
        entity_df=entity_df, features=refs, full_feature_names=full_feature_names
    )
    plain = plain.to_df()

    assert "Feast's own join" not in caplog.text  # the ASOF path ran
    assert sorted(fast.columns) == sorted(plain.columns)
    fast, plain = (f.sort_values("row").reset_index(drop=True)[sorted(plain.columns)] for f in (fast, plain))
    pd.testing.assert_frame_equal(fast, plain, check_dtype=False)
    filled = fast.drop(columns=["customer_id", "event_timestamp", "row"]).notna().sum()
    assert filled.min() > 0 and filled.max() < len(fast)  # some values found, some expired or unknown


def test_materialize_incremental_continues_from_the_last_window_through_the_engine(local_store, days, tmp_path):
    settings = features.settings_for_project(days.unique_project("incremental"), tmp_path, local_store)
    days.quiet_apply(settings)
    features.materialize_day(days.DAY_BEFORE, settings)
    store = features.feature_store(settings)

    with feast_plugin.publication_report() as reports:
        store.materialize_incremental(end_date=features.materialization_window(days.RUN_DAY)[1])

    assert len(reports) == 1 and reports[0]["customers"] == len(days.CUSTOMERS)  # one read, every view
    served = days.feature_frame(features.online_features(days.CUSTOMERS, settings))
    pd.testing.assert_frame_equal(served, days.feature_frame(days.partition(days.RUN_DAY)))


def test_feast_serve_answers_from_the_plugins_store(local_store, days, tmp_path):
    """`feast serve`, Feast's own feature server, reads what the plugin published."""
    import json
    import socket
    import time
    import urllib.request

    settings = features.settings_for_project(days.unique_project("serve"), tmp_path, local_store)
    days.quiet_apply(settings)
    features.materialize_day(days.RUN_DAY, settings)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    feast = str(Path(sys.executable).with_name("feast"))
    server = subprocess.Popen(
        [feast, "-c", str(settings.feature_repo_dir), "-f", str(settings.feature_store_yaml)]
        + ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env={**os.environ, **settings.environment()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    body = json.dumps(
        {"feature_service": features.FEATURE_SERVICE, "entities": {"customer_id": days.CUSTOMERS}}
    ).encode()
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/get-online-features",
                    data=body,
                    headers={"Content-Type": "application/json"},
                )
                with urllib.request.urlopen(request, timeout=5) as answer:
                    reply = json.loads(answer.read())
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-3000:]
                assert time.monotonic() < deadline, "feast serve did not answer within 90 s"
                time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(timeout=30)

    names = reply["metadata"]["feature_names"]
    served = pd.DataFrame({name: result["values"] for name, result in zip(names, reply["results"])})
    pd.testing.assert_frame_equal(days.feature_frame(served), days.feature_frame(days.partition(days.RUN_DAY)))
