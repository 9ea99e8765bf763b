"""The day's model report: one self-contained HTML page (charts embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import logging
import tempfile
from pathlib import Path

import pandas as pd

from ml import as_date

log = logging.getLogger(__name__)

METRIC_COLUMNS = (
    "roc_auc",
    "pr_auc",
    "lift_top_decile",
    "brier",
    "profit_at_k",
    "holdout_base_rate",
    "holdout_mean_propensity",
    "train_rows",
    "holdout_rows",
    "holdout_positives",
    "num_trees",
)
CHARTS = ("calibration", "cumulative_gain", "lift", "feature_importance")

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th { background: #f3f3f3; }
img { max-width: 420px; margin: 4px; border: 1px solid #eee; }
.skipped { color: #a60; }
"""


def _table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p><em>none</em></p>"
    return frame.to_html(index=False, border=0, float_format=lambda x: f"{x:,.4g}", na_rep="")


def _metrics_table(training_results: list[dict]) -> pd.DataFrame:
    rows = []
    for result in training_results:
        row = {
            "product_code": result.get("product_code", ""),
            "status": result.get("status", ""),
            "model": result.get("model_name", ""),
            "version": result.get("version", ""),
            "promoted": result.get("promoted", ""),
            "champion": result.get("champion_version", ""),
        }
        row.update({name: result.get("metrics", {}).get(name) for name in METRIC_COLUMNS})
        row["note"] = result.get("reason", "")
        rows.append(row)
    return pd.DataFrame(rows)


def _charts(run_id: str, settings) -> dict[str, str]:
    """Chart name → base64 PNG, downloaded from the run's MLflow artifacts."""
    import mlflow

    from ml.registry import use_tracking
    from ml.training import CHART_DIR

    use_tracking(settings)
    charts = {}
    with tempfile.TemporaryDirectory() as folder:
        try:
            local = Path(mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=CHART_DIR, dst_path=folder))
        except Exception as error:
            log.warning("charts of run %s unavailable: %s", run_id, error)
            return charts
        for name in CHARTS:
            png = local / f"{name}.png"
            if png.exists():
                charts[name] = base64.b64encode(png.read_bytes()).decode("ascii")
    return charts


def _mix(target_list: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    if target_list.empty:
        return pd.DataFrame(), pd.DataFrame()
    by_product = (
        target_list.groupby("product_code")
        .agg(
            customers=("customer_id", "size"),
            contacted=("is_control", lambda c: int((~c.astype(bool)).sum())),
            control=("is_control", lambda c: int(c.astype(bool).sum())),
            mean_propensity=("propensity", "mean"),
            expected_value=("expected_value", "sum"),
            model_version=("model_version", "first"),
        )
        .reset_index()
    )
    segments = target_list.assign(segment=target_list["segment"].fillna("unknown"))
    by_segment = pd.crosstab(segments["segment"], segments["product_code"], margins=True, margins_name="total")
    return by_product, by_segment.reset_index()


def _oracle_section(oracle: pd.DataFrame | None) -> list[str]:
    if oracle is None:
        return []
    from ml.evaluation import ORACLE_RATIO_TARGET

    return [
        "<h2>Against the truth (synthetic bank)</h2>",
        "<p>Holdout ROC AUC of each model and of the generator's true probabilities (the oracle) "
        f"on the same contacts; target ratio &ge; {ORACLE_RATIO_TARGET}.</p>",
        _table(pd.DataFrame(oracle).drop(columns=["run_id"], errors="ignore")),
    ]


def write_run_report(
    run_date,
    training_results: list[dict],
    target_list: pd.DataFrame,
    settings=None,
    oracle: pd.DataFrame | None = None,
) -> Path:
    """Write ``reports/runs/dt=D/models.html``: metrics per model, the logged charts,
    the comparison with the truth (``oracle``, from :func:`ml.evaluation.oracle_comparison`,
    when given) and the product and segment mix of the day's target lists. Returns the path."""
    if settings is None:
        from bankmkt.settings import get_settings

        settings = get_settings()
    run_day = as_date(run_date).isoformat()
    path = settings.reports_dir / "runs" / f"dt={run_day}" / "models.html"
    path.parent.mkdir(parents=True, exist_ok=True)

    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>Models {run_day}</title>",
        f"<style>{STYLE}</style></head><body>",
        f"<h1>Propensity models, run {run_day}</h1>",
        "<h2>Training and promotion</h2>",
        _table(_metrics_table(training_results)),
    ]
    for result in training_results:
        product = html.escape(str(result.get("product_code", "")))
        if result.get("status") != "trained":
            reason = html.escape(str(result.get("reason", "")))
            parts.append(f"<h3>{product}</h3><p class='skipped'>skipped: {reason}</p>")
            continue
        parts.append(
            f"<h3>{product}: {html.escape(str(result['model_name']))} v{html.escape(str(result['version']))}"
            f" ({'champion' if result.get('promoted') else 'challenger'})</h3>"
        )
        for name, png in _charts(result["run_id"], settings).items():
            parts.append(f"<img alt='{name}' title='{name}' src='data:image/png;base64,{png}'>")
        if result.get("segment_metrics"):
            parts += ["<h4>Holdout by segment</h4>", _table(pd.DataFrame(result["segment_metrics"]))]

    parts += _oracle_section(oracle)
    by_product, by_segment = _mix(target_list)
    parts += [
        "<h2>Target lists</h2>",
        "<h3>By product</h3>",
        _table(by_product),
        "<h3>Segment by product</h3>",
        _table(by_segment),
        "</body></html>",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
