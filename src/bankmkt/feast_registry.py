"""The file registry of feature_repo/, through Feast's public registry-store extension point.

``feature_repo/feature_store.yaml`` takes its paths from variables (``${FEAST_REGISTRY_PATH}``,
``${FEAST_ONLINE_PATH}``) that the platform exports for the DATA_DIR it runs on. Feast expands
them with :func:`os.path.expandvars`, which leaves an unset variable as its literal text: a
notebook's ``FeatureStore(repo_path="feature_repo")`` in a plain shell would then read an empty
registry at ``feature_repo/${FEAST_REGISTRY_PATH}`` and an online store file of that name, without
a word. Named in the YAML as ``registry_store_type``, :class:`PlatformFileRegistryStore` is the
plain file store once the path is a path, and refuses, naming every unset variable and how to set
them, while it is not.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from feast.infra.registry.file import FileRegistryStore
from feast.repo_config import RegistryConfig

__all__ = ["FeatureRepoNotConfigured", "PlatformFileRegistryStore", "unset_variables"]

PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


class FeatureRepoNotConfigured(RuntimeError):
    """feature_store.yaml still holds variables the environment does not set."""


def unset_variables(text: str) -> list[str]:
    """The ``${NAME}`` / ``$NAME`` variables in ``text`` that the environment does not set."""
    names = [braced or bare for braced, bare in PLACEHOLDER.findall(text)]
    return sorted({name for name in names if name not in os.environ})


class PlatformFileRegistryStore(FileRegistryStore):
    """Feast's file registry store, refusing a path whose variables were never set."""

    def __init__(self, registry_config: RegistryConfig, repo_path: Path):
        missing = unset_variables(registry_config.path)
        if missing:
            yaml_file = Path(repo_path) / "feature_store.yaml"  # the repo's other variables, to name them all
            if yaml_file.is_file():
                text = "\n".join(
                    line
                    for line in yaml_file.read_text(errors="replace").splitlines()
                    if not line.lstrip().startswith("#")
                )
                missing = sorted(set(missing) | set(unset_variables(text)))
            raise FeatureRepoNotConfigured(
                f"{Path(repo_path) / 'feature_store.yaml'} needs {', '.join(missing)}, not set in this "
                "environment (the platform exports them for its DATA_DIR). In a shell: "
                'eval "$(python -m bankmkt.settings --shell)" (after DATA_DIR=... if the data is not in ./data); '
                "in Python: from bankmkt.features import feature_store; store = feature_store()."
            )
        super().__init__(registry_config, repo_path)
