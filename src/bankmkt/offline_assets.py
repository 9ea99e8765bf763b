"""Great Expectations' Data Docs without the internet: their scripts, styles and fonts served locally.

Data Docs pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from CDNs; inside a
bank, offline, the index is unstyled and its table (filled by bootstrap-table) empty. ``make setup``
fetches those exact files once from the npm registry (``npm pack``: the package tarballs only,
nothing run) into ``build/datadocs-assets`` (:func:`fetch`). After every Data Docs build the gate
copies them next to the site and rewrites each page to use them (:func:`localize_site`); the GX logo,
fetched from a web server with the data context's id in its address, is dropped.

Command line: ``python -m bankmkt.offline_assets fetch [--target DIR]`` (what ``make setup`` runs; the
Dockerfile runs this file alone, which needs only Python and npm).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

__all__ = ["ASSETS", "AssetsMissing", "assets_dir", "fetch", "localize_site"]

# CDN address (as Data Docs write it) -> (npm package@version, file inside the package).
ASSETS: dict[str, tuple[str, str]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap@4.3.1",
        "dist/css/bootstrap.min.css",
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap@4.3.1",
        "dist/js/bootstrap.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery@3.7.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js@1.12.9",
        "dist/umd/popper.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table@1.19.1",
        "dist/bootstrap-table.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css": (
        "bootstrap-table@1.19.1",
        "dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css": (
        "bootstrap-datepicker@1.9.0",
        "dist/css/bootstrap-datepicker.min.css",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js": (
        "bootstrap-datepicker@1.9.0",
        "dist/js/bootstrap-datepicker.min.js",
    ),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "@fortawesome/fontawesome-free@6.6.0",
        "css/all.min.css",
    ),
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css": (
        "@forevolve/bootstrap-dark@1.1.0",
        "dist/css/bootstrap-prefers-dark.css",
    ),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega@5.33.1", "build/vega.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite@5.23.0", "build/vega-lite.min.js"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed@6.29.0", "build/vega-embed.min.js"),
}
# Files a stylesheet above loads by a relative address (Font Awesome's ../webfonts/).
EXTRA_FILES: dict[str, tuple[str, ...]] = {"@fortawesome/fontawesome-free@6.6.0": ("webfonts/",)}
STATIC = "static/offline"  # under the Data Docs site
REMOTE_IMAGE = re.compile(r'<img[^>]+src="https://great-expectations-web-assets[^"]*"[^>]*>')


class AssetsMissing(RuntimeError):
    """The local copies are not there: ``make setup`` (npm) has not fetched them."""


def assets_dir() -> Path:
    from bankmkt.settings import get_settings  # not at import: the image's build stage runs this file alone

    return get_settings().datadocs_assets_dir


def _local_name(package: str, path: str) -> str:
    return f"{package.lstrip('@').replace('/', '__')}/{path}"


def fetch(target: Path | None = None) -> Path:
    """Download the packages' tarballs with ``npm pack`` and keep the files Data Docs use."""
    target = target or assets_dir()
    npm = shutil.which("npm")
    if npm is None:
        raise AssetsMissing("npm is not installed: Data Docs will load their scripts and styles from the internet")
    wanted: dict[str, list[str]] = {}
    for package, path in ASSETS.values():
        wanted.setdefault(package, []).append(path)
    with tempfile.TemporaryDirectory() as scratch:
        subprocess.run([npm, "pack", "--silent", *wanted], cwd=scratch, check=True, capture_output=True, timeout=600)
        tarballs = sorted(Path(scratch).glob("*.tgz"))
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
        try:
            for package, paths in wanted.items():
                name, version = package.rsplit("@", 1)
                stem = f"{name.lstrip('@').replace('/', '-')}-{version}.tgz"
                tarball = next(t for t in tarballs if t.name == stem)
                prefixes = [*paths, *EXTRA_FILES.get(package, ())]
                with tarfile.open(tarball) as archive:
                    for member in archive.getmembers():
                        inner = member.name.removeprefix("package/")
                        if member.isfile() and any(
                            inner == p or (p.endswith("/") and inner.startswith(p)) for p in prefixes
                        ):
                            destination = partial / _local_name(package, inner)
                            destination.parent.mkdir(parents=True, exist_ok=True)
                            with archive.extractfile(member) as source, open(destination, "wb") as out:
                                shutil.copyfileobj(source, out)
            if target.exists():
                shutil.rmtree(target)
            partial.rename(target)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
    return target


def localize_site(site: Path, source: Path | None = None) -> dict:
    """Copy the local assets under ``site`` and point every page of it at them (idempotent).

    Raises :class:`AssetsMissing` when they were never fetched; the pages then keep their CDN links.
    """
    source = source or assets_dir()
    missing = [url for url, (package, path) in ASSETS.items() if not (source / _local_name(package, path)).is_file()]
    if missing:
        raise AssetsMissing(
            f"{source} lacks the local copies of {len(missing)} Data Docs asset(s) (first: "
            f"{missing[0]}); `make setup` fetches them with npm"
        )
    static = site / STATIC
    if not (static / ".complete").exists():
        shutil.copytree(source, static, dirs_exist_ok=True)
        (static / ".complete").touch()
    # Only the pages written since the last run: the rest were pointed at the local copies then.
    marker = static / ".localized"
    since = marker.stat().st_mtime_ns if marker.exists() else 0
    started = time.time_ns()
    pages = 0
    for page in site.rglob("*.html"):
        if page.stat().st_mtime_ns < since:
            continue
        text = page.read_text(encoding="utf-8")
        local = text
        prefix = os.path.relpath(static, page.parent).replace(os.sep, "/")
        for url, (package, path) in ASSETS.items():
            local = local.replace(f'"{url}"', f'"{prefix}/{_local_name(package, path)}"')
        local = REMOTE_IMAGE.sub("", local)
        if local != text:
            page.write_text(local, encoding="utf-8")
            pages += 1
    marker.touch()
    os.utime(marker, ns=(started, started))  # a page GX writes while this runs is looked at next time
    return {"pages_rewritten": pages, "assets": str(static)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bankmkt.offline_assets", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=["fetch"])
    parser.add_argument("--target", type=Path, help="folder to fill (default: the settings' datadocs_assets_dir)")
    args = parser.parse_args(argv)
    try:
        print(f"[setup] Data Docs assets in {fetch(args.target)}")
    except (AssetsMissing, subprocess.SubprocessError, OSError) as error:
        print(
            f"[setup] Data Docs assets not fetched ({error}); the pages will load them from the internet",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
