"""The Feast repository of the current profile: the store, `feast apply`, trial projects, definitions."""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from pathlib import Path

from bankmkt.features.common import FEATURE_SERVICE, FeaturePublicationError
from bankmkt.runtime import apply_environment
from bankmkt.settings import Settings, get_settings


def feature_store(settings: Settings | None = None, plain: bool = False):
    """The Feast store of the current profile; ``plain``: with Feast's plain stores and local engine in place
    of the platform's plugin (same storage, Feast's own speed)."""
    from feast import FeatureStore

    settings = apply_environment(settings or get_settings())
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


def feature_columns(settings: Settings | None = None) -> dict[str, object]:
    """Every feature of the repo's customer-feature views (name -> Feast type), in definition order, read from
    the definition files as Feast's command line reads them (the repo folder on the path meanwhile)."""
    import importlib

    settings = apply_environment(settings or get_settings())
    repo = str(settings.feature_repo_dir)
    sys.path.insert(0, repo)  # the definition files import each other by module name
    try:
        views = importlib.import_module("feature_views").ALL_VIEWS
    finally:
        sys.path.remove(repo)
    return {f.name: f.dtype for view in views for f in view.features}


def apply_feature_repo(settings: Settings | None = None) -> dict:
    """`feast apply` of feature_repo/, run by Feast's own command line in a child process.

    The child imports the definitions afresh with the settings' variables (the export glob, the
    registry and online store paths), so one process can apply for several DATA_DIRs or trial
    projects. A repo whose definitions, configuration and variables have not changed since its
    last apply is not applied again (the fingerprint beside the registry says so).
    """
    import hashlib
    import subprocess

    settings = apply_environment(settings or get_settings())
    repo = settings.feature_repo_dir
    variables = {k: v for k, v in settings.environment().items() if k.startswith("FEAST_")}
    digest = hashlib.sha256()
    for path in sorted(repo.glob("*.py")) + [settings.feature_store_yaml]:
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(repr(sorted(variables.items())).encode())
    if settings.customer_attributes_file.is_file():  # the attribute view's fields come from the declaration
        digest.update(settings.customer_attributes_file.read_bytes())
    fingerprint = digest.hexdigest()
    marker = settings.feast_applied_dir / f"{settings.feature_store_yaml.name}.sha256"
    store = feature_store(settings)
    current = marker.exists() and marker.read_text().strip() == fingerprint and store.list_feature_views()
    if not current:
        feast = Path(sys.executable).with_name("feast")
        done = subprocess.run(
            [str(feast), "-c", str(repo), "-f", str(settings.feature_store_yaml), "apply", "--skip-source-validation"],
            env={**os.environ, **settings.environment()},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise FeaturePublicationError(f"feast apply failed: {(done.stderr or done.stdout).strip()[-3000:]}")
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(fingerprint + "\n")
        store = feature_store(settings)
    return {
        "project": store.project,
        "applied": not current,
        "feature_views": sorted(v.name for v in store.list_feature_views()),
        "feature_services": sorted(s.name for s in store.list_feature_services()),
    }


def feature_names(settings: Settings | None = None, service: str = FEATURE_SERVICE) -> list[str]:
    """Feature columns of a feature service, in definition order."""
    store = feature_store(settings)
    fs = store.get_feature_service(service)
    return [f.name for projection in fs.feature_view_projections for f in projection.features]


def model_feature_names(settings: Settings | None = None) -> list[str]:
    """What the product propensity models use: the service's customer features, then the contact's own
    (``ml.CONTACT_FEATURE_COLUMNS``: known per contact in training, for the next day's contact in scoring)."""
    from ml import CONTACT_FEATURE_COLUMNS

    return [*feature_names(settings), *CONTACT_FEATURE_COLUMNS]
