"""A DATA_DIR that is copied or moved runs on its own files and never touches the one it came from.

Two stores of the local profile record absolute paths inside DATA_DIR:

* Feast's file registry keeps its infrastructure (the SQLite online store's tables, by path).
  On the copy, `feast apply` would see the source's tables as infrastructure to tear down and
  drop every table of the source's online store.
* MLflow's tracking database keeps absolute artifact locations (experiments, runs, model
  versions, logged models): the copy would write new models into the source's folder and
  load its champions from there.

``DATA_DIR/.bankmkt-data-dir`` records the folder the state was made in. When a stage starts
in a different folder (a copy, or a move), :func:`adopt_data_dir` points that state at the
current folder: the registry forgets its infrastructure (the next `feast apply` recreates the
tables in the copy's own online store, which already holds the copied rows) and MLflow's paths
are rewritten from the old folder to the new one; then the marker is updated and a line says
what happened. The production profile keeps the registry, MLflow and the online store in
PostgreSQL and Redis, which a copy would share with its source: there a moved DATA_DIR is refused
with the reason.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from bankmkt.settings import Settings

MARKER = ".bankmkt-data-dir"
# MLflow's tables and columns that hold artifact locations (absent ones are skipped).
MLFLOW_PATH_COLUMNS = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("model_versions", "source"),
    ("model_versions", "storage_location"),
    ("logged_models", "artifact_location"),
)


class DataDirMoved(RuntimeError):
    """The DATA_DIR's state belongs to another folder and cannot be adopted here."""


def marker_path(settings: Settings) -> Path:
    return settings.data_dir / MARKER


def recorded_data_dir(settings: Settings) -> Path | None:
    path = marker_path(settings)
    if not path.exists():
        return None
    return Path(json.loads(path.read_text())["data_dir"])


def _write_marker(settings: Settings) -> None:
    from bankmkt.runtime import write_atomically

    write_atomically(
        marker_path(settings),
        lambda partial: partial.write_text(json.dumps({"data_dir": str(settings.data_dir)}) + "\n"),
    )


def adopt_data_dir(settings: Settings, log=print) -> dict | None:
    """Make the state in DATA_DIR point at DATA_DIR; None when it already does."""
    previous = recorded_data_dir(settings)
    if previous == settings.data_dir:
        return None
    if previous is None:
        _write_marker(settings)
        return None
    if settings.platform_env == "prod":
        raise DataDirMoved(
            f"{settings.data_dir} was made as {previous} (copied or moved). Under PLATFORM_ENV=prod the Feast "
            "registry, MLflow and the online store live in PostgreSQL and Redis, which this copy would share with "
            f"its source: give it databases and a Redis of its own, then delete {marker_path(settings)} to adopt it"
        )
    done = {
        "from": str(previous),
        "to": str(settings.data_dir),
        "feast_infra_forgotten": _forget_feast_infra(settings),
        "mlflow_paths_rewritten": _rewrite_mlflow_paths(settings, previous),
    }
    _write_marker(settings)
    log(
        f"[data-dir] {settings.data_dir} was made as {previous}: adopted it (Feast's registry no longer "
        f"refers to the source's online store; {done['mlflow_paths_rewritten']} MLflow artifact locations now "
        "point inside this DATA_DIR)"
    )
    return done


def _forget_feast_infra(settings: Settings) -> bool:
    """Empty the file registry's infrastructure record (it names the source's SQLite tables)."""
    if not settings.feast_registry_path.exists():
        return False
    from feast import FeatureStore
    from feast.infra.infra_object import Infra

    # The environment already names this DATA_DIR's registry (runtime.apply_environment).
    store = FeatureStore(repo_path=str(settings.feature_repo_dir), fs_yaml_file=settings.feature_store_yaml)
    store.registry.update_infra(Infra(), store.project, commit=True)
    return True


def _rewrite_mlflow_paths(settings: Settings, previous: Path) -> int:
    database = settings.mlflow_database_path
    if not database.exists():
        return 0
    old_dir, new_dir = previous / "mlflow", settings.mlflow_dir
    pairs = [(old_dir.as_uri(), new_dir.as_uri()), (str(old_dir), str(new_dir))]
    changed = 0
    with sqlite3.connect(database) as con:
        tables = {row[0] for row in con.execute("select name from sqlite_master where type = 'table'")}
        for table, column in MLFLOW_PATH_COLUMNS:
            if table not in tables:
                continue
            for old, new in pairs:
                cursor = con.execute(
                    f"update {table} set {column} = ? || substr({column}, ?) where substr({column}, 1, ?) = ?",
                    (new, len(old) + 1, len(old), old),
                )
                changed += cursor.rowcount
    return changed
