"""The day's model report: one self-contained HTML page (charts embedded as base64 PNG)."""

from __future__ import annotations

import base64
import html
import logging
import tempfile
from pathlib import Path

import pandas as pd

from ml.runtime import parse_run_date

log = logging.getLogger(__name__)

CHARTS = ("calibration", "cumulative_gain", "lift", "feature_importance")

# How each column of the report's tables reads: its header and the format of its values.
# Formats: auc and score 3 decimals, ratio 2 decimals, rate a percentage, count with thousands
# separators, money 2 decimals with thousands separators, flag yes/no, product its name.
COLUMNS: dict[str, tuple[str, str]] = {
    "product_code": ("Product", "product"),
    "segment": ("Segment", "text"),
    "status": ("Status", "text"),
    "model": ("Model", "text"),
    "model_name": ("Model", "text"),
    "version": ("Version", "text"),
    "model_version": ("Model version", "text"),
    "promoted": ("Promoted", "flag"),
    "champion": ("Champion version", "text"),
    "roc_auc": ("ROC AUC", "auc"),
    "pr_auc": ("PR AUC", "auc"),
    "lift_top_decile": ("Lift (top decile)", "ratio"),
    "brier": ("Brier score", "score"),
    "profit_at_k": ("Profit at capacity", "money"),
    "holdout_base_rate": ("Holdout conversion rate", "rate"),
    "holdout_mean_propensity": ("Mean propensity", "rate"),
    "train_rows": ("Train rows", "count"),
    "holdout_rows": ("Holdout rows", "count"),
    "holdout_positives": ("Holdout conversions", "count"),
    "num_trees": ("Trees", "count"),
    "rows": ("Rows", "count"),
    "positives": ("Conversions", "count"),
    "conversion_rate": ("Conversion rate", "rate"),
    "mean_propensity": ("Mean propensity", "rate"),
    "model_roc_auc": ("Model ROC AUC", "auc"),
    "oracle_roc_auc": ("Oracle ROC AUC", "auc"),
    "auc_ratio": ("Ratio to oracle", "auc"),
    "meets_target": ("Meets target", "flag"),
    "customers": ("Customers", "count"),
    "contacted": ("Contacted", "count"),
    "control": ("Control", "count"),
    "expected_value": ("Expected value", "money"),
    "total": ("Total", "count"),
    "note": ("Note", "note"),
}
TRAINING_COLUMNS = ("product_code", "status", "model", "version", "promoted", "champion", "train_rows", "note")
METRIC_COLUMNS = (
    "roc_auc",
    "pr_auc",
    "lift_top_decile",
    "brier",
    "profit_at_k",
    "holdout_base_rate",
    "holdout_mean_propensity",
    "holdout_rows",
    "holdout_positives",
    "num_trees",
)
NUMBER_FORMATS = {
    "auc": "{:.3f}",
    "score": "{:.3f}",
    "ratio": "{:.2f}",
    "rate": "{:.1%}",
    "money": "{:,.2f}",
}

# Readable at a laptop's width: the page is at most 1200 px wide, a table wider than the
# page scrolls inside its own box, long notes wrap. No web font or script: it renders offline.
STYLE = """
*, *::before, *::after { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 0; color: #222;
       line-height: 1.4; overflow-wrap: break-word; }
main { max-width: 1200px; margin: 0 auto; padding: 1.5em 2em; }
h2 { margin-top: 1.8em; padding-bottom: 0.2em; border-bottom: 1px solid #ddd; }
h3 { overflow-wrap: anywhere; }
.table-wrap { max-width: 100%; overflow-x: auto; margin: 0.5em 0 1.5em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
tbody tr:nth-child(even) { background: #fafafa; }
th.num, td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.num { white-space: nowrap; }
td.note { min-width: 12em; max-width: 36em; overflow-wrap: anywhere; }
td.product { white-space: nowrap; }
td.missing { color: #999; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(260px, 1fr)); gap: 8px; }
.charts img { width: 100%; height: auto; border: 1px solid #eee; }
.skipped { color: #a60; }
"""


def _product(code) -> str:
    """``credit_card`` -> ``Credit card``."""
    return str(code).replace("_", " ").capitalize()


def _kind(series: pd.Series) -> str:
    """The format of a column :data:`COLUMNS` does not list (a segment table's product columns)."""
    if pd.api.types.is_bool_dtype(series):
        return "flag"
    if pd.api.types.is_numeric_dtype(series):
        numbers = series.dropna()
        return "count" if (numbers == numbers.round()).all() else "score"
    return "text"


def _show(value, kind: str) -> str:
    if kind == "product":
        return _product(value)
    if kind == "flag":
        return "yes" if value in (True, 1, "true", "True") else "no"
    if kind in ("text", "note"):
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if kind == "count":
        return f"{round(number):,}"
    return NUMBER_FORMATS[kind].format(number)


def _css(*names: str) -> str:
    names = tuple(name for name in names if name)
    return f" class='{' '.join(names)}'" if names else ""


def _table(frame: pd.DataFrame) -> str:
    """An HTML table with readable headers, one number format per column and numbers right-aligned."""
    if frame.empty:
        return "<p><em>none</em></p>"
    columns = []
    for name in frame.columns:
        header, kind = COLUMNS.get(str(name), (_product(name), _kind(frame[name])))
        columns.append((name, header, kind, "" if kind in ("text", "note", "product", "flag") else "num"))
    head = "".join(f"<th{_css(css)}>{html.escape(header)}</th>" for _, header, _, css in columns)
    rows = []
    for record in frame.itertuples(index=False):
        cells = []
        for value, (_, _, kind, css) in zip(record, columns, strict=True):
            missing = value is None or value == "" or (not isinstance(value, str) and bool(pd.isna(value)))
            if missing:
                cells.append(f"<td{_css(css, 'missing')}>{'&ndash;' if css else ''}</td>")
            else:
                cells.append(f"<td{_css(css or kind)}>{html.escape(_show(value, kind))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<div class='table-wrap'><table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"


def _training_table(training_results: list[dict]) -> pd.DataFrame:
    rows = []
    for result in training_results:
        rows.append(
            {
                "product_code": result.get("product_code", ""),
                "status": result.get("status", ""),
                "model": result.get("model_name", ""),
                "version": result.get("version", ""),
                "promoted": result.get("promoted") if result.get("status") == "trained" else None,
                "champion": result.get("champion_version", ""),
                "train_rows": result.get("metrics", {}).get("train_rows"),
                "note": result.get("reason", ""),
            }
        )
    return pd.DataFrame(rows, columns=list(TRAINING_COLUMNS))


# Statuses of a model version the report shows with its metrics and charts: trained that day, or
# the champion as the registry holds it (ml.registry.champion_summary).
SHOWN = ("trained", "champion")


def _metrics_table(training_results: list[dict]) -> pd.DataFrame:
    """The holdout metrics of each trained model (or champion)."""
    rows = [
        {"product_code": result.get("product_code", ""), **{n: result["metrics"].get(n) for n in METRIC_COLUMNS}}
        for result in training_results
        if result.get("status") in SHOWN and result.get("metrics")
    ]
    return pd.DataFrame(rows, columns=["product_code", *METRIC_COLUMNS])


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
        # The model's name is in the training table: product and version identify it here.
        _table(pd.DataFrame(oracle).drop(columns=["run_id", "model_name"], errors="ignore")),
    ]


def write_run_report(
    run_date,
    training_results: list[dict],
    target_list: pd.DataFrame,
    settings,
    oracle: pd.DataFrame | None = None,
) -> Path:
    """Write ``reports/runs/dt=D/models.html``: metrics per model (``training_results``: the day's
    training outcomes, or the champions that scored, ``status: "champion"``), the logged charts,
    the comparison with the truth (``oracle``, from :func:`ml.evaluation.oracle_comparison`,
    when given) and the product and segment mix of the day's target lists. Returns the path."""
    run_day = parse_run_date(run_date).isoformat()
    path = settings.run_reports_dir / f"dt={run_day}" / "models.html"
    path.parent.mkdir(parents=True, exist_ok=True)

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        "<meta name='viewport' content='width=device-width, initial-scale=1'>",
        f"<title>Models {run_day}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>Propensity models, run {run_day}</h1>",
        "<h2>Training and promotion</h2>",
        _table(_training_table(training_results)),
        "<h2>Holdout metrics</h2>",
        _table(_metrics_table(training_results)),
    ]
    for result in training_results:
        product = html.escape(_product(result.get("product_code", "")))
        if result.get("status") not in SHOWN:
            reason = html.escape(str(result.get("reason", "")))
            parts.append(f"<h3>{product}</h3><p class='skipped'>skipped: {reason}</p>")
            continue
        role = "champion" if result.get("status") == "champion" or result.get("promoted") else "challenger"
        parts.append(
            f"<h3>{product}: {html.escape(str(result['model_name']))} v{html.escape(str(result['version']))}"
            f" ({role})</h3>"
        )
        charts = _charts(result["run_id"], settings)
        parts.append("<div class='charts'>")
        for name, png in charts.items():
            label = _product(name)
            parts.append(f"<img alt='{label}' title='{label}' src='data:image/png;base64,{png}'>")
        parts.append("</div>")
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
        "</main></body></html>",
    ]
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
