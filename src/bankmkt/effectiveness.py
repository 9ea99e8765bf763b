"""Marketing effectiveness: the morning report on what the campaigns did, and the check against the truth.

:func:`write_effectiveness_report` reads the warehouse (read-only: ``campaign_effectiveness``,
``int_campaign_contacts_evaluated``, ``fct_target_lists``, ``customer_lifecycle_history``)
and writes one self-contained HTML page (charts embedded, nothing loaded from the
internet) to ``reports/effectiveness/index.html`` and ``reports/effectiveness/dt=D/``:
campaigns over time with uplift and its 95% interval, incremental value and ROI, the
channel mix, the experience guardrails and the life-cycle movement of the customers
contacted. On a synthetic bank, :func:`truth_comparison` sets each measured uplift beside
the simulator's true uplift, and the report shows it.

Command line: ``python -m bankmkt.effectiveness --date D`` (also ``--coverage``).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import json
import sys
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

from bankmkt.runtime import write_atomically
from bankmkt.settings import Settings, get_settings

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1f2933; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #d9e2ec; }
p.lead { color: #52606d; margin-top: 0; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #d9e2ec; border-radius: 6px; padding: 0.7em 1.1em; min-width: 150px; background: #f8fafc; }
.card .value { font-size: 1.5em; font-weight: 600; } .card .label { color: #52606d; font-size: 0.85em; }
table { border-collapse: collapse; margin: 0.5em 0 1.2em; font-size: 0.88em; width: 100%; }
th, td { border-bottom: 1px solid #e4e7eb; padding: 5px 8px; text-align: right; white-space: nowrap; }
th { background: #f0f4f8; font-weight: 600; } td:first-child, th:first-child { text-align: left; }
td.text, th.text { text-align: left; } td.wrap { white-space: normal; }
.scroll { overflow-x: auto; }
img { max-width: 100%; border: 1px solid #e4e7eb; border-radius: 4px; margin: 0.3em 0; }
.note { color: #52606d; font-size: 0.85em; }
.bad { color: #b42318; } .good { color: #027a48; }
"""

HEADERS = {
    "campaign_id": "Campaign",
    "campaign_name": "Name",
    "product_code": "Product",
    "lifecycle_stage": "Stage",
    "channel": "Channel",
    "contact_week": "Week",
    "treated_contacts": "Contacted",
    "control_contacts": "Control",
    "treated_conversion_rate": "Conv. contacted",
    "control_conversion_rate": "Conv. control",
    "uplift": "Uplift",
    "uplift_interval": "95% interval",
    "incremental_conversions": "Incr. conversions",
    "incremental_value_eur": "Incr. value (EUR)",
    "cost_eur": "Cost (EUR)",
    "roi": "ROI",
    "open_rate": "Opened",
    "click_rate": "Clicked",
    "visit_rate": "Visited",
    "control_visit_rate": "Visited, control",
    "visit_uplift": "Visit uplift",
    "visit_interval": "95% interval (visits)",
    "amount_uplift_per_contact_eur": "Amount uplift per contact",
    "experiment_id": "Experiment",
    "has_shared_control": "Shared control",
    "treated_complaint_rate": "Complaints, contacted",
    "control_complaint_rate": "Complaints, control",
    "treated_mean_nps": "NPS, contacted",
    "control_mean_nps": "NPS, control",
    "true_uplift": "True uplift",
    "covered": "Interval covers truth",
    "delivered_contacts": "Delivered",
    "feature": "Feature",
    "model_name": "Model",
    "psi": "PSI",
    "run_date": "Day",
    "models_checked": "Models checked",
    "training_triggered": "Training triggered",
    "triggers": "Triggers that fired (model trained, or skipped with its reason)",
}
PERCENT = {
    "treated_conversion_rate",
    "control_conversion_rate",
    "uplift",
    "open_rate",
    "click_rate",
    "visit_rate",
    "treated_complaint_rate",
    "control_complaint_rate",
    "true_uplift",
    "roi",
    "control_visit_rate",
    "visit_uplift",
}


def effectiveness_data(run_date: date, settings: Settings) -> dict[str, pd.DataFrame]:
    """Everything the report shows, read from the warehouse as of D."""
    from bankmkt import warehouse

    with warehouse.read_only_connection(settings) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        if "campaign_effectiveness" not in tables:
            raise RuntimeError(f"{settings.warehouse_path} has no campaign_effectiveness yet: run the daily DAG first")
        measured = con.execute("select * from campaign_effectiveness order by first_contact_at, campaign_id").df()
        movement = con.execute(
            """
            select contacts.is_control, contacts.lifecycle_stage as stage_at_contact,
                   coalesce(now.lifecycle_stage, 'unknown') as stage_now,
                   count(distinct contacts.customer_id) as customers
            from int_campaign_contacts_evaluated as contacts
            left join customer_lifecycle_history as now
                on now.customer_id = contacts.customer_id and now.segment_date = ?
            where contacts.is_platform_list
            group by all
            """,
            [run_date],
        ).df()
        lists = (
            con.execute(
                """
                select run_date, campaign_id, channel, is_control, count(*) as customers
                from fct_target_lists group by all order by run_date
                """
            ).df()
            if "fct_target_lists" in tables
            else pd.DataFrame(columns=["run_date", "campaign_id", "channel", "is_control", "customers"])
        )
        monitoring = (
            con.execute("select * from fct_model_monitoring where run_date <= ? order by run_date", [run_date]).df()
            if "fct_model_monitoring" in tables
            else pd.DataFrame()
        )
        decisions = (
            con.execute("select * from fct_retraining_decisions where run_date <= ? order by run_date", [run_date]).df()
            if "fct_retraining_decisions" in tables
            else pd.DataFrame()
        )
    return {
        "measured": measured,
        "movement": movement,
        "lists": lists,
        "monitoring": monitoring,
        "decisions": decisions,
    }


def truth_comparison(settings: Settings, grain: str = "campaign_segment", platform_only: bool = True) -> pd.DataFrame:
    """Measured uplift and its interval beside the simulator's true uplift, per cell of ``grain``.

    The true uplift of a cell is the mean, over its contacts (both arms, intent to treat),
    of the truth's ``true_uplift``: what listing those customers for contact changed.
    Empty on a real bank (no truth file).
    """
    from bankmkt import warehouse

    truth = settings.contact_truth_path
    if not truth.exists():
        return pd.DataFrame()
    keys = {
        "campaign": [],
        "campaign_segment": ["lifecycle_stage"],
        "campaign_channel": ["channel"],
        "campaign_week": ["contact_week"],
    }[grain]
    select_keys = "".join(f", contacts.{k}" for k in keys)
    join_keys = "".join(f" and measured.{k} = true_cells.{k}" for k in keys)
    with warehouse.read_only_connection(settings) as con:
        frame = con.execute(
            f"""
            with true_cells as (
                select contacts.campaign_id{select_keys}, avg(truth.true_uplift) as true_uplift
                from int_campaign_contacts_evaluated as contacts
                inner join read_parquet(?) as truth using (contact_id)
                group by all
            )
            select measured.campaign_id, measured.product_code, measured.lifecycle_stage, measured.channel,
                   measured.contact_week, measured.is_platform_campaign, measured.treated_contacts,
                   measured.control_contacts, measured.uplift, measured.uplift_ci_low, measured.uplift_ci_high,
                   true_cells.true_uplift
            from campaign_effectiveness as measured
            inner join true_cells on measured.campaign_id = true_cells.campaign_id{join_keys}
            where measured.grain = ?
            order by measured.campaign_id
            """,
            [str(truth), grain],
        ).df()
    if platform_only:
        frame = frame.loc[frame["is_platform_campaign"].astype(bool)]
    frame = frame.loc[frame["uplift_ci_low"].notna() & frame["uplift_ci_high"].notna()].copy()
    frame["covered"] = (frame["uplift_ci_low"] <= frame["true_uplift"]) & (
        frame["true_uplift"] <= frame["uplift_ci_high"]
    )
    return frame.reset_index(drop=True)


# ---- rendering -----------------------------------------------------------------------


def _figure_png(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _forest(rows: pd.DataFrame, label: str, title: str, truth: pd.Series | None = None) -> str:
    """Uplift and its interval per row (a forest plot), the truth as a marker when known."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = rows.reset_index(drop=True)
    height = max(2.2, 0.32 * len(rows) + 1.0)
    figure, axis = plt.subplots(figsize=(9, height))
    y = range(len(rows))[::-1]
    axis.errorbar(
        rows["uplift"] * 100,
        list(y),
        xerr=[(rows["uplift"] - rows["uplift_ci_low"]) * 100, (rows["uplift_ci_high"] - rows["uplift"]) * 100],
        fmt="o",
        color="#1f4e79",
        ecolor="#8fb3d9",
        capsize=3,
        label="measured, 95% interval",
    )
    if truth is not None:
        axis.scatter(
            truth.reset_index(drop=True) * 100,
            list(y),
            marker="x",
            color="#c2410c",
            zorder=3,
            label="true uplift (simulator)",
        )
    axis.axvline(0, color="#999", linewidth=1)
    axis.set_yticks(list(y), rows[label].astype(str).tolist())
    axis.set_xlabel("uplift: conversion rate contacted - control (percentage points)")
    axis.set_title(title, loc="left", fontsize=11)
    axis.legend(loc="lower right", fontsize=8)
    axis.grid(axis="x", color="#eee")
    return _figure_png(figure)


def _bars(frame: pd.DataFrame, index: str, columns: str, values: str, title: str, ylabel: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = frame.pivot_table(index=index, columns=columns, values=values, aggfunc="sum", fill_value=0)
    figure, axis = plt.subplots(figsize=(9, 3.2))
    table.plot(kind="bar", stacked=True, ax=axis, width=0.8, colormap="tab20")
    axis.set_title(title, loc="left", fontsize=11)
    axis.set_ylabel(ylabel)
    axis.set_xlabel("")
    axis.legend(fontsize=7, ncol=min(6, len(table.columns)), loc="upper left")
    axis.tick_params(axis="x", labelsize=7, labelrotation=60)
    return _figure_png(figure)


def _format(column: str, value) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "&ndash;"
    if column in PERCENT:
        signed = ("uplift", "true_uplift", "roi", "visit_uplift")
        return f"{value * 100:+.1f}%" if column in signed else f"{value * 100:.1f}%"
    if hasattr(value, "strftime"):  # contact weeks: the Monday's date
        return value.strftime("%Y-%m-%d")
    if isinstance(value, bool):
        return "yes" if value else "<span class='bad'>no</span>"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


WRAPPED = {"triggers"}


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    if frame.empty:
        return "<p class='note'>Nothing measured yet.</p>"
    text_columns = {
        "campaign_id",
        "campaign_name",
        "product_code",
        "lifecycle_stage",
        "channel",
        "contact_week",
        "uplift_interval",
        "visit_interval",
        "experiment_id",
        "feature",
        "model_name",
        "triggers",
        "run_date",
    }
    head = "".join(f"<th class='{'text' if c in text_columns else ''}'>{HEADERS.get(c, c)}</th>" for c in columns)
    body = []
    for record in frame[columns].to_dict(orient="records"):
        cells = "".join(
            f"<td class='{'text' if c in text_columns else ''}{' wrap' if c in WRAPPED else ''}'>"
            f"{_format(c, record[c]) if c not in ('uplift_interval', 'visit_interval') else record[c]}</td>"
            for c in columns
        )
        body.append(f"<tr>{cells}</tr>")
    return f"<div class='scroll'><table><tr>{head}</tr>{''.join(body)}</table></div>"


def _with_interval(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    frame["uplift_interval"] = [
        "&ndash;" if pd.isna(low) else f"[{low * 100:+.1f}, {high * 100:+.1f}]"
        for low, high in zip(frame["uplift_ci_low"], frame["uplift_ci_high"])
    ]
    return frame


def render_report(run_date: date, data: dict[str, pd.DataFrame], truth: pd.DataFrame | None = None) -> str:
    """The report's HTML (self-contained)."""
    measured = data["measured"]
    campaigns = _with_interval(measured.loc[measured["grain"] == "campaign"])
    platform = campaigns.loc[campaigns["is_platform_campaign"].astype(bool)]
    sections = []
    total_incremental = platform["incremental_value_eur"].sum()
    total_cost = platform["cost_eur"].sum()
    cards = [
        ("Campaigns measured", f"{len(platform):,}"),
        ("Customers contacted", f"{int(platform['treated_contacts'].sum()):,}"),
        ("Held out as control", f"{int(platform['control_contacts'].sum()):,}"),
        ("Incremental conversions", f"{platform['incremental_conversions'].sum():,.1f}"),
        ("Incremental value", f"EUR {total_incremental:,.0f}"),
        ("Cost", f"EUR {total_cost:,.0f}"),
        ("ROI", "&ndash;" if not total_cost else f"{(total_incremental - total_cost) / total_cost * 100:+.0f}%"),
    ]
    sections.append(
        "<div class='cards'>"
        + "".join(f"<div class='card'><div class='value'>{v}</div><div class='label'>{k}</div></div>" for k, v in cards)
        + "</div>"
    )

    sections.append("<h2>Campaigns: uplift, value, return</h2>")
    sections.append(
        "<p class='note'>Contacts whose response window has closed. Uplift = conversion rate of the "
        "customers listed for contact (delivered or not) minus that of the campaign's control group, "
        "with a 95% Newcombe interval. Source-system campaigns are listed below the platform's own.</p>"
    )
    # The forest plot shows the platform's campaigns once any is measured, else the source system's.
    shown = platform if platform["uplift_ci_low"].notna().any() else campaigns
    shown = shown.loc[shown["uplift_ci_low"].notna()]
    if not shown.empty:
        true_uplift = None
        if truth is not None and not truth.empty:
            true_uplift = shown[["campaign_id"]].merge(
                truth[["campaign_id", "true_uplift"]], on="campaign_id", how="left"
            )["true_uplift"]
        title = "Uplift per campaign" + ("" if shown is not campaigns else " (source-system campaigns)")
        sections.append(f"<img alt='uplift per campaign' src='{_forest(shown, 'campaign_id', title, true_uplift)}'>")
    columns = [
        "campaign_id",
        "product_code",
        "treated_contacts",
        "control_contacts",
        "treated_conversion_rate",
        "control_conversion_rate",
        "uplift",
        "uplift_interval",
        "incremental_conversions",
        "incremental_value_eur",
        "cost_eur",
        "roi",
    ]
    sections.append(_table(platform, columns))
    source = campaigns.loc[~campaigns["is_platform_campaign"].astype(bool)]
    if not source.empty:
        sections.append(
            "<details><summary>Source-system campaigns (before the platform's lists)</summary>"
            + _table(source, columns)
            + "</details>"
        )

    # Visits and amounts, and experiments whose arms share one control (docs/campaigns.md).
    other = campaigns.loc[
        (campaigns["visit_rate"].fillna(0) > 0)
        | (campaigns["control_visit_rate"].fillna(0) > 0)
        | campaigns["has_shared_control"].fillna(False).astype(bool)
    ].copy()
    if not other.empty:
        other["visit_interval"] = [
            "&ndash;" if pd.isna(low) else f"[{low * 100:+.1f}, {high * 100:+.1f}]"
            for low, high in zip(other["visit_uplift_ci_low"], other["visit_uplift_ci_high"])
        ]
        sections.append("<h2>Visits, amounts and shared controls</h2>")
        sections.append(
            "<p class='note'>Visit uplift = visit rate of the customers listed for contact minus the "
            "control's, with its 95% interval; amount uplift = converted amount (spend, sums placed) per "
            "contacted customer minus per control customer. Arms of one experiment are measured against "
            "its whole shared control group.</p>"
        )
        sections.append(
            _table(
                other,
                [
                    "campaign_id",
                    "experiment_id",
                    "has_shared_control",
                    "treated_contacts",
                    "control_contacts",
                    "visit_rate",
                    "control_visit_rate",
                    "visit_uplift",
                    "visit_interval",
                    "amount_uplift_per_contact_eur",
                ],
            )
        )

    truth = truth.loc[truth["is_platform_campaign"].astype(bool)] if truth is not None and len(truth) else truth
    if truth is not None and not truth.empty:
        sections.append("<h2>Check against the simulator's truth</h2>")
        sections.append(
            f"<p class='note'>Synthetic bank only. The 95% intervals cover the true uplift in "
            f"{truth['covered'].mean() * 100:.0f}% of {len(truth)} campaigns.</p>"
        )
        shown = _with_interval(truth)
        sections.append(
            _table(
                shown,
                [
                    "campaign_id",
                    "treated_contacts",
                    "control_contacts",
                    "uplift",
                    "uplift_interval",
                    "true_uplift",
                    "covered",
                ],
            )
        )

    weeks = _with_interval(measured.loc[(measured["grain"] == "campaign_week") & measured["is_platform_campaign"]])
    sections.append("<h2>Over time</h2>")
    if not data["lists"].empty:
        lists = data["lists"].assign(run_date=lambda f: pd.to_datetime(f["run_date"]).dt.strftime("%m-%d"))
        sections.append(
            f"<img alt='daily lists' src='{_bars(lists.loc[~lists['is_control'].astype(bool)], 'run_date', 'campaign_id', 'customers', 'Customers listed for contact per day and campaign', 'customers')}'>"
        )
    if not weeks.empty:
        weeks = weeks.assign(label=weeks["campaign_id"] + " " + weeks["contact_week"].astype(str))
        measurable = weeks.loc[weeks["uplift_ci_low"].notna()]
        if not measurable.empty:
            sections.append(
                f"<img alt='uplift per week' src='{_forest(measurable, 'label', 'Uplift per campaign and contact week')}'>"
            )
    sections.append(
        _table(
            weeks,
            [
                "campaign_id",
                "contact_week",
                "treated_contacts",
                "control_contacts",
                "uplift",
                "uplift_interval",
                "incremental_value_eur",
                "cost_eur",
                "roi",
            ],
        )
    )

    channels = _with_interval(
        measured.loc[(measured["grain"] == "campaign_channel") & measured["is_platform_campaign"]]
    )
    sections.append("<h2>Channels</h2>")
    if not channels.empty:
        sections.append(
            f"<img alt='channel mix' src='{_bars(channels, 'campaign_id', 'channel', 'treated_contacts', 'Channel mix of the contacts', 'contacts')}'>"
        )
    sections.append(
        _table(
            channels,
            [
                "campaign_id",
                "channel",
                "treated_contacts",
                "delivered_contacts",
                "control_contacts",
                "open_rate",
                "click_rate",
                "visit_rate",
                "uplift",
                "uplift_interval",
                "cost_eur",
            ],
        )
    )

    sections.append("<h2>Customer experience guardrails</h2>")
    sections.append(
        "<p class='note'>Within each contact's response window: share of customers who complained, "
        "mean NPS of surveys answered. A contacted rate well above the control's is a warning.</p>"
    )
    sections.append(
        _table(
            platform,
            [
                "campaign_id",
                "treated_contacts",
                "control_contacts",
                "treated_complaint_rate",
                "control_complaint_rate",
                "treated_mean_nps",
                "control_mean_nps",
            ],
        )
    )

    segments = _with_interval(
        measured.loc[(measured["grain"] == "campaign_segment") & measured["is_platform_campaign"]]
    )
    sections.append("<h2>Life cycle</h2>")
    sections.append(
        _table(
            segments,
            [
                "campaign_id",
                "lifecycle_stage",
                "treated_contacts",
                "control_contacts",
                "uplift",
                "uplift_interval",
                "incremental_value_eur",
            ],
        )
    )
    movement = data["movement"]
    if not movement.empty:
        for is_control, title in ((False, "contacted"), (True, "control")):
            part = movement.loc[movement["is_control"] == is_control]
            if part.empty:
                continue
            table = part.pivot_table(
                index="stage_at_contact", columns="stage_now", values="customers", aggfunc="sum", fill_value=0
            ).reset_index()
            table.columns = [str(c) for c in table.columns]
            sections.append(
                f"<p class='note'>Customers {title}: life-cycle stage at contact (rows) and on "
                f"{run_date} (columns).</p>"
            )
            sections.append(_table(table, list(table.columns)))

    sections += _model_health(data.get("monitoring"), data.get("decisions"))

    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Marketing effectiveness, {run_date}</title>
<style>{STYLE}</style></head><body>
<h1>Marketing effectiveness</h1>
<p class="lead">As of {run_date}. What the campaigns' contacts changed, measured against their control groups.</p>
{"".join(sections)}
</body></html>
"""


def _lines(
    frame: pd.DataFrame, title: str, ylabel: str, threshold: float | None = None, baselines: pd.Series | None = None
) -> str:
    """One line per column of ``frame`` (index: run dates), a dashed threshold, dotted baselines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(9, 3.2))
    colours = plt.get_cmap("tab10")
    for i, column in enumerate(frame.columns):
        axis.plot(pd.to_datetime(frame.index), frame[column], marker=".", label=column, color=colours(i % 10))
        if baselines is not None and column in baselines.index and pd.notna(baselines[column]):
            axis.axhline(baselines[column], color=colours(i % 10), linestyle=":", linewidth=1)
    if threshold is not None:
        axis.axhline(threshold, color="#b42318", linestyle="--", linewidth=1, label=f"retraining threshold {threshold}")
        axis.set_ylim(0, max(threshold * 1.25, float(np.nanmax(frame.to_numpy())) * 1.1))
    import matplotlib.dates as mdates

    axis.xaxis.set_major_locator(mdates.AutoDateLocator(minticks=3, maxticks=12))
    axis.xaxis.set_major_formatter(mdates.DateFormatter("%m-%d"))
    axis.set_title(title, loc="left", fontsize=11)
    axis.set_ylabel(ylabel)
    axis.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    axis.grid(color="#eee")
    return _figure_png(figure)


def _model_health(monitoring: pd.DataFrame | None, decisions: pd.DataFrame | None) -> list[str]:
    """The models' drift, realised performance and the retraining decisions, over time."""
    sections = ["<h2>Model health and retraining</h2>"]
    if monitoring is None or monitoring.empty:
        return sections + ["<p class='note'>No model monitoring loaded yet (it starts with the first champion).</p>"]
    from bankmkt.settings import get_settings

    settings = get_settings()
    sections.append(
        "<p class='note'>Every day each champion is measured: the population stability index (PSI) of "
        "its input features and of its scores against the customers it was trained on, and its realised "
        "performance on the outcomes that matured since its training data. The training DAG retrains a "
        "model only when a trigger fires (settings <code>RETRAIN_*</code>).</p>"
    )
    features = monitoring.loc[monitoring["metric"] == "feature_psi"]
    if not features.empty:
        worst = features.groupby(["run_date", "model_name"])["value"].max().unstack("model_name")
        sections.append(
            f"<img alt='feature drift' src='{_lines(worst, 'Largest feature PSI per champion', 'PSI', settings.retrain_psi_threshold)}'>"
        )
    scores = monitoring.loc[monitoring["metric"] == "prediction_psi"]
    if not scores.empty:
        table = scores.pivot_table(index="run_date", columns="model_name", values="value", aggfunc="max")
        sections.append(
            f"<img alt='prediction drift' src='{_lines(table, 'Prediction drift: PSI of the scores', 'PSI', settings.retrain_psi_threshold)}'>"
        )
    auc = monitoring.loc[monitoring["metric"] == "realised_auc"]
    if not auc.empty:
        table = auc.pivot_table(index="run_date", columns="model_name", values="value", aggfunc="max")
        holdout = monitoring.loc[monitoring["metric"] == "holdout_roc_auc"].groupby("model_name")["value"].last()
        sections.append(
            f"<img alt='realised AUC' src='{_lines(table, 'Realised AUC on matured outcomes (dotted: the champion holdout AUC)', 'AUC', None, holdout)}'>"
        )
    latest_day = features["run_date"].max() if not features.empty else None
    if latest_day is not None:
        top = (
            features.loc[features["run_date"] == latest_day]
            .sort_values("value", ascending=False)
            .drop_duplicates("feature")
            .head(8)[["feature", "model_name", "value"]]
            .rename(columns={"value": "psi"})
        )
        sections.append(f"<p class='note'>Most drifted features on {pd.Timestamp(latest_day):%Y-%m-%d}:</p>")
        sections.append(_table(top, ["feature", "model_name", "psi"]))
    if decisions is not None and not decisions.empty:
        per_day = []
        for day, part in decisions.groupby("run_date"):
            fired = part.loc[part["fired"]]
            per_day.append(
                {
                    "run_date": day,
                    "models_checked": part["model_name"].nunique(),
                    "training_triggered": fired["model_name"].nunique(),
                    "triggers": "; ".join(
                        f"{name}: {', '.join(sorted(rows['model_name'].unique()))}"
                        for name, rows in fired.groupby("trigger_name")
                    )
                    or "none needed",
                }
            )
        sections.append("<p class='note'>Retraining decisions (a day's decisions arrive with the next day's load).</p>")
        sections.append(_table(pd.DataFrame(per_day), ["run_date", "models_checked", "training_triggered", "triggers"]))
    return sections


def write_effectiveness_report(run_date: date, settings: Settings | None = None) -> Path:
    """Write the report for D (``reports/effectiveness/dt=D/index.html``, and ``index.html`` = the latest)."""
    settings = settings or get_settings()
    data = effectiveness_data(run_date, settings)
    truth = truth_comparison(settings, grain="campaign", platform_only=False)
    page = render_report(run_date, data, truth)
    folder = settings.effectiveness_report_dir
    dated = folder / f"dt={run_date.isoformat()}"
    dated.mkdir(parents=True, exist_ok=True)
    for path in (dated / "index.html", folder / "index.html"):
        write_atomically(path, lambda partial: partial.write_text(page, encoding="utf-8"))
    return folder / "index.html"


def main(argv: list[str] | None = None) -> int:
    from bankmkt.runtime import apply_environment, parse_run_date

    parser = argparse.ArgumentParser(prog="python -m bankmkt.effectiveness")
    parser.add_argument("--date", required=True, help="run date, YYYY-MM-DD")
    parser.add_argument(
        "--coverage",
        action="store_true",
        help="print measured against true uplift per campaign and segment (synthetic bank)",
    )
    args = parser.parse_args(argv)
    settings = apply_environment()
    day = parse_run_date(args.date)
    if args.coverage:
        cells = truth_comparison(settings)
        print(cells.to_string(index=False))
        print(json.dumps({"cells": len(cells), "coverage": float(cells["covered"].mean()) if len(cells) else None}))
        return 0
    print(write_effectiveness_report(day, settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
