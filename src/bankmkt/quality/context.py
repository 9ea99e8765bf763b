"""The Great Expectations file context under ``gx/`` and its Data Docs site under ``reports/data_docs``."""

from __future__ import annotations

import logging

from bankmkt.settings import Settings

log = logging.getLogger(__name__)

SITE_NAME = "platform_reports"
# The Data Docs index lists this many newest results (older pages stay on disk
# and are linked from each run's summary); rebuilding it reads each listed result.
INDEX_RESULTS = 200


def data_context(settings: Settings):
    """The file context under gx/ with the Data Docs site under reports/data_docs."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    settings.gx_dir.mkdir(parents=True, exist_ok=True)
    context = gx.get_context(mode="file", project_root_dir=str(settings.gx_dir))
    bars = context.variables.progress_bars
    globally = bars.get("globally") if isinstance(bars, dict) else getattr(bars, "globally", None)
    if globally is not False:
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        context.variables.save()  # logs stay readable
    site_config = {
        "class_name": "SiteBuilder",
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder", "validation_results_limit": INDEX_RESULTS},
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(settings.data_docs_dir)},
    }
    sites = context.variables.data_docs_sites or {}
    if SITE_NAME not in sites:
        context.add_data_docs_site(site_name=SITE_NAME, site_config=site_config)
    elif sites[SITE_NAME] != site_config:  # an older DATA_DIR: same site, bounded index
        context.update_data_docs_site(site_name=SITE_NAME, site_config=site_config)
    return context


def offline_data_docs(settings: Settings) -> None:
    """Point the Data Docs pages at local copies of their scripts and styles (bankmkt.offline_assets)."""
    from bankmkt.offline_assets import AssetsMissing, localize_site

    try:
        localize_site(settings.data_docs_dir, settings.datadocs_assets_dir)
    except AssetsMissing as error:
        log.warning("Data Docs keep their internet links: %s", error)
