"""The Feast repository of the current profile: the store, `feast apply`, trial projects, definitions."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path

from bankmkt.features.common import FEATURE_SERVICE
from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings


def feature_store(settings: Settings | None = None, plain: bool = False):
    """The Feast store of the current profile; ``plain``: with Feast's plain stores and local engine in place
    of the platform's plugin (same storage, Feast's own speed)."""
    from feast import FeatureStore

    settings = apply_environment(settings or get_settings())
    _importable_repo(settings)
    if not plain:
        return FeatureStore(repo_path=str(settings.feature_repo_dir), fs_yaml_file=settings.feature_store_yaml)
    import yaml
    from feast.repo_config import RepoConfig

    from bankmkt.feast_plugin import plain_config

    config = yaml.safe_load(os.path.expandvars(settings.feature_store_yaml.read_text()))
    config["repo_path"] = settings.feature_repo_dir
    return FeatureStore(config=RepoConfig(**plain_config(config)))


@dataclasses.dataclass(frozen=True)
class _ProjectSettings(Settings):
    store_yaml: Path | None = None

    @property
    def feature_store_yaml(self) -> Path:
        return self.store_yaml or super().feature_store_yaml


def settings_for_project(
    project: str, folder: Path, settings: Settings | None = None, file_registry: bool = False
) -> Settings:
    """The profile's feature store under another Feast project name (benchmarks, tests, trial runs).

    The same definitions and online store server, but every key, table and
    registry entry belongs to ``project``, so nothing the platform serves is
    touched. ``file_registry`` puts the registry in a file under ``folder``
    instead of the profile's (the SQL registry of ``prod``).
    """
    settings = settings or get_settings()
    text = settings.feature_store_yaml.read_text()
    text = re.sub(r"(?m)^project: .*$", f"project: {project}", text)
    if file_registry:
        registry = f"registry:\n  registry_type: file\n  path: {folder / 'registry.db'}\n"
        text = re.sub(r"(?m)^registry:\n(?:[ ]+.*\n)+", registry, text)
    folder.mkdir(parents=True, exist_ok=True)
    store_yaml = folder / f"feature_store.{project}.yaml"
    store_yaml.write_text(text)
    return settings_with_store_yaml(store_yaml, settings)


def settings_with_store_yaml(store_yaml: Path, settings: Settings | None = None) -> Settings:
    """The settings, with Feast configured by ``store_yaml`` instead of the profile's file."""
    settings = settings or get_settings()
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)}
    return _ProjectSettings(**values, store_yaml=Path(store_yaml))


def remove_project(settings: Settings) -> None:
    """Delete a project's online data and its registry entries; other projects stay."""
    from bankmkt.feast_plugin import drop_project

    store = feature_store(settings)
    drop_project(store.config, store.list_feature_views())
    store.registry.delete_project(store.project, commit=True)


def _importable_repo(settings: Settings) -> None:
    repo = str(settings.feature_repo_dir)
    if repo not in sys.path:
        sys.path.insert(0, repo)  # the definition files import each other by module name


def _forget_repo_modules(settings: Settings) -> None:
    """Drop the definition modules so that `feast apply` re-imports them with the current settings.

    data_sources.py reads the export path from the settings at import time; a
    process that applies for a second DATA_DIR (tests, a backfill into another
    directory) would otherwise register the first one's path.
    """
    repo = settings.feature_repo_dir.resolve()
    for name in [path.stem for path in repo.glob("*.py")]:
        origin = getattr(sys.modules.get(name), "__file__", None)
        if origin and Path(origin).resolve().parent == repo:
            del sys.modules[name]


def feature_columns(settings: Settings | None = None) -> dict[str, object]:
    """Every feature of the repo's views (name -> Feast type), read from the definition files."""
    import importlib

    settings = settings or get_settings()
    _importable_repo(settings)
    views = importlib.import_module("feature_views").ALL_VIEWS
    return {f.name: f.dtype for view in views for f in view.features}


def apply_feature_repo(settings: Settings | None = None) -> dict:
    """`feast apply` of feature_repo/ (idempotent: an unchanged repo changes nothing)."""
    from feast.repo_config import load_repo_config
    from feast.repo_operations import apply_total

    settings = apply_environment(settings or get_settings())
    repo = settings.feature_repo_dir
    _importable_repo(settings)
    _forget_repo_modules(settings)
    config = load_repo_config(repo, settings.feature_store_yaml)
    cwd = os.getcwd()
    try:
        apply_total(config, repo, skip_source_validation=True)
    finally:
        os.chdir(cwd)  # apply_total changes directory into the repo
    store = feature_store(settings)
    return {
        "project": store.project,
        "feature_views": sorted(v.name for v in store.list_feature_views()),
        "feature_services": sorted(s.name for s in store.list_feature_services()),
    }


def feature_names(settings: Settings | None = None, service: str = FEATURE_SERVICE) -> list[str]:
    """Feature columns of a feature service, in definition order."""
    store = feature_store(settings)
    fs = store.get_feature_service(service)
    return [f.name for projection in fs.feature_view_projections for f in projection.features]
