"""The quality gate on tiny hand-made marts: what stops a run, what only warns, what it leaves behind."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bankmkt import quality
from bankmkt.quality import QualityGateFailed

DAY = date(2024, 3, 15)
YESTERDAY = DAY - timedelta(days=1)


def feature_rows(day: date, n: int = 60, seed: int = 0, **columns) -> pd.DataFrame:
    """``n`` customers' features on ``day``, typed as dbt builds customer_features; ``columns`` overrides."""
    rng = np.random.default_rng(seed)
    ints = lambda low, high: rng.integers(low, high, size=n).astype("int32")  # noqa: E731
    txn_30d = ints(0, 40)
    spend_30d = rng.gamma(2.0, 400.0, size=n).round(2)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "feature_date": [day] * n,
            "event_timestamp": [datetime.combine(day + timedelta(days=1), datetime.min.time())] * n,
            "age": ints(18, 90),
            "tenure_days": ints(0, 9000),
            "monthly_income": rng.uniform(500, 8000, size=n).round(2),
            "is_female": ints(0, 2),
            "has_marketing_consent": (np.arange(n) % 10 < 7).astype("int32"),
            "txn_count_30d": txn_30d,
            "txn_count_90d": txn_30d + ints(0, 60),
            "spend_30d": spend_30d,
            "spend_90d": spend_30d * 3,
            "income_90d": rng.uniform(0, 20000, size=n).round(2),
            "observed_days_90d": ints(1, 91),
            "spend_to_income_90d": rng.uniform(0, 2, size=n),
            "days_since_last_txn": ints(0, 91),
            "balance_total": rng.uniform(-500, 60000, size=n).round(2),
            "balance_savings": rng.uniform(0, 30000, size=n).round(2),
            "balance_avg_30d": rng.uniform(-500, 60000, size=n).round(2),
            "balance_trend_30d": rng.normal(0, 1000, size=n).round(2),
            "spend_share_travel_90d": rng.uniform(0, 0.3, size=n),
            "spend_share_dining_90d": rng.uniform(0, 0.3, size=n),
            "spend_share_groceries_90d": rng.uniform(0, 0.4, size=n),
            "digital_logins_30d": ints(0, 20),
            "product_views_30d": ints(0, 4),
            "n_products_held": ints(0, 4),
            "has_credit_card": ints(0, 2),
            "has_personal_loan": ints(0, 2),
            "has_term_deposit": ints(0, 2),
            "has_wealth_management": ints(0, 2),
            "has_mortgage": ints(0, 2),
            "complaints_90d": ints(0, 2),
            "last_nps": np.where(np.arange(n) % 3 == 0, rng.integers(0, 11, size=n), np.nan),
        }
    )
    for name, values in columns.items():
        frame[name] = values
    return frame


def segment_rows(day: date, n: int = 60, stages=None) -> pd.DataFrame:
    stages = stages or ["new", "growing", "mature", "mature", "declining", "dormant"]
    stage = [stages[i % len(stages)] for i in range(n)]
    tiers = ["platinum"] * 3 + ["gold"] * 9 + ["silver"] * 18
    return pd.DataFrame(
        {
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "segment_date": [day] * n,
            "event_timestamp": [datetime.combine(day + timedelta(days=1), datetime.min.time())] * n,
            "lifecycle_stage": stage,
            "value_tier": [tiers[i] if i < len(tiers) else "bronze" for i in range(n)],
            "needs_segment": [
                None if s == "churned" else ("saver", "spender", "digital")[i % 3] for i, s in enumerate(stage)
            ],
            "value_score": [None if s == "churned" else (i % 50) / 50 for i, s in enumerate(stage)],
            "tenure_days": np.arange(n, dtype="int32") * 10,
            "has_60d_history": [True] * n,
        }
    )


def label_rows(day: date, n: int = 40) -> pd.DataFrame:
    contacted = [
        datetime.combine(day - timedelta(days=20 + i % 10), datetime.min.time()) + timedelta(hours=9) for i in range(n)
    ]
    closes = [datetime.combine(c.date() + timedelta(days=8), datetime.min.time()) for c in contacted]
    return pd.DataFrame(
        {
            "contact_id": [f"CT{i:09d}" for i in range(n)],
            "campaign_id": "CMP00001",
            "customer_id": [f"C{i:07d}" for i in range(1, n + 1)],
            "product_code": ["credit_card", "term_deposit"] * (n // 2),
            "channel": "email",
            "is_control": [i % 10 == 0 for i in range(n)],
            "event_timestamp": contacted,
            "window_closes_at": closes,
            "first_converted_at": [c + timedelta(days=2) if i % 8 == 0 else None for i, c in enumerate(contacted)],
            "label": np.array([1 if i % 8 == 0 else 0 for i in range(n)], dtype="int32"),
        }
    )


def target_list_rows(day: date, per_product: int = 20, built: bool = False) -> pd.DataFrame:
    """Published rows (customer_key), or, ``built``, rows as targeting builds them (customer_id)."""
    from ml.targeting import LIST_COLUMNS, TARGET_COLUMNS

    rows = []
    for p, product in enumerate(("credit_card", "term_deposit")):
        campaign = f"CMP-{product}"
        for rank in range(1, per_product + 1):
            propensity = 0.5 / rank
            customer = f"C{p * 1000 + rank:07d}" if built else f"P{p * 1000 + rank:020x}"
            control = rank % 10 == 3
            rows.append(
                {
                    "run_date": day,
                    "list_row_id": f"{day:%Y%m%d}:{campaign}:{rank}",
                    "campaign_id": campaign,
                    "product_code": product,
                    "offer": "offer",
                    "channel": "email",
                    "customer_id" if built else "customer_key": customer,
                    "rank": rank,
                    "propensity": propensity,
                    "uplift": propensity / 4,
                    "expected_value": propensity * 100 - 0.1,
                    "contact_cost": 0.0 if control else 0.1,
                    "is_control": control,
                    "segment": "mature",
                    "reason_1": "balance_total=1 (+0.3)",
                    "reason_2": None,
                    "reason_3": None,
                    "model_name": f"propensity_{product}",
                    "model_version": "3",
                }
            )
    return pd.DataFrame(rows)[list(LIST_COLUMNS if built else TARGET_COLUMNS)]


def test_a_good_mart_passes_and_leaves_results_data_docs_profile_and_summary(mart_settings, write_marts):
    write_marts(
        mart_settings,
        customer_features=pd.concat([feature_rows(YESTERDAY), feature_rows(DAY, seed=1)], ignore_index=True),
    )

    first = quality.gate_customer_features(YESTERDAY, mart_settings)
    second = quality.gate_customer_features(DAY, mart_settings)

    assert first.success and first.previous_run is None and "first run" in first.note
    assert second.success and second.previous_run == YESTERDAY.isoformat()
    assert second.evaluated > first.evaluated  # the comparisons with yesterday's profile
    assert second.rows == 60
    assert Path(second.data_docs_page).is_file() and Path(second.data_docs).is_file()
    assert Path(second.data_docs_page).is_relative_to(mart_settings.data_docs_dir)
    profile = json.loads(Path(second.profile).read_text())
    assert profile["rows"] == 60 and profile["passed"] is True
    assert profile["shares"]["has_marketing_consent"]["values"]["1"] == pytest.approx(0.7)
    summary = Path(second.summary)
    assert summary == mart_settings.reports_dir / "quality" / f"dt={DAY}" / "summary.html"
    recorded = json.loads(summary.with_suffix(".json").read_text())
    assert recorded["success"] is True and recorded["suites"]["customer_features"]["status"] == "passed"
    link = re.search(r'href="([^"]+)">validation result', summary.read_text()).group(1)
    assert (summary.parent / link).resolve() == Path(second.data_docs_page).resolve()
    # Every run keeps its own result in the GX file context.
    stored = list((mart_settings.gx_dir / "gx" / "uncommitted" / "validations" / "customer_features").rglob("*.json"))
    assert len(stored) == 2


def test_a_failure_level_miss_stops_the_run_and_names_column_rows_and_sample(mart_settings, write_marts):
    ages = feature_rows(DAY)["age"].to_numpy().copy()
    ages[4] = 131
    write_marts(mart_settings, customer_features=feature_rows(DAY, age=ages))

    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_customer_features(DAY, mart_settings)

    message = str(failure.value)
    assert message.splitlines()[:3] == [
        f"quality gate failed for {DAY}:",
        "customer_features: 1 failure-level expectation(s) failed",
        "  - age: expect_column_values_to_be_between [16, 120]: 1 of 60 rows unexpected (1.67%), e.g. [131]",
    ]
    assert message.splitlines()[-1].startswith("report: ") and message.splitlines()[-1].endswith("summary.html")
    recorded = json.loads((mart_settings.reports_dir / "quality" / f"dt={DAY}" / "summary.json").read_text())
    assert recorded["success"] is False


def test_a_warning_level_miss_is_reported_and_the_run_goes_on(mart_settings, write_marts):
    balances = feature_rows(DAY)["balance_total"].to_numpy().copy()
    balances[[1, 2]] = 90_000_000.0  # 2 of 60 above the plausible 50M; allowed for 0.1 % of rows
    write_marts(mart_settings, customer_features=feature_rows(DAY, balance_total=balances))

    result = quality.gate_customer_features(DAY, mart_settings)

    assert result.success and not result.failed_failures
    assert result.failed_warnings == [
        "balance_total: expect_column_values_to_be_between [-100000, 5e+07] for at least 99.9% of rows: "
        "2 of 60 rows unexpected (3.33%), e.g. [90000000.0, 90000000.0]"
    ]


def test_a_stale_mart_fails_freshness(mart_settings, write_marts):
    write_marts(mart_settings, customer_features=feature_rows(YESTERDAY))

    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_customer_features(DAY, mart_settings)

    assert (
        f"  - feature_date: expect_column_max_to_be_between [{DAY} 00:00:00, {DAY} 00:00:00]: "
        f"observed {YESTERDAY} 00:00:00"
    ) in str(failure.value).splitlines()


def test_rows_lost_since_the_previous_run_stop_it(mart_settings, write_marts):
    write_marts(
        mart_settings,
        customer_features=pd.concat([feature_rows(YESTERDAY, n=100), feature_rows(DAY, n=40)], ignore_index=True),
    )
    quality.gate_customer_features(YESTERDAY, mart_settings)

    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_customer_features(DAY, mart_settings)

    assert (
        f"  - table: expect_table_row_count_to_be_between [50, 150]: observed 40 (previous run {YESTERDAY}: "
        "100 rows, allowed change +-50% (at least 5 rows))"
    ) in str(failure.value).splitlines()


def test_withdrawn_consent_is_a_share_shift_that_stops_the_run(mart_settings, write_marts):
    write_marts(
        mart_settings,
        customer_features=pd.concat(
            [feature_rows(YESTERDAY), feature_rows(DAY, has_marketing_consent=np.zeros(60, dtype="int32"))],
            ignore_index=True,
        ),
    )
    quality.gate_customer_features(YESTERDAY, mart_settings)

    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_customer_features(DAY, mart_settings)

    lines = str(failure.value).splitlines()
    assert lines[1] == "customer_features: 1 failure-level expectation(s) failed"
    assert lines[2] == (
        f"  - has_marketing_consent: expect_column_mean_to_be_between [0.5, 0.9]: observed 0 "
        f"(previous run {YESTERDAY}: share 70.0%, allowed +-20 points)"
    )


def test_a_moderate_mean_shift_only_warns(mart_settings, write_marts):
    today = feature_rows(DAY)
    today["spend_30d"] = today["spend_30d"] * 1.4  # about half a standard deviation higher
    write_marts(mart_settings, customer_features=pd.concat([feature_rows(YESTERDAY), today], ignore_index=True))
    quality.gate_customer_features(YESTERDAY, mart_settings)

    result = quality.gate_customer_features(DAY, mart_settings)

    assert result.success
    assert [w.split(":")[0] for w in result.failed_warnings] == ["spend_30d"]
    assert "allowed +-0.25 sd" in result.failed_warnings[0]


def test_a_failed_run_is_no_baseline(mart_settings, write_marts):
    before = DAY - timedelta(days=2)
    write_marts(
        mart_settings,
        customer_features=pd.concat(
            [feature_rows(before), feature_rows(YESTERDAY, n=10), feature_rows(DAY)], ignore_index=True
        ),
    )
    quality.gate_customer_features(before, mart_settings)
    with pytest.raises(QualityGateFailed):
        quality.gate_customer_features(YESTERDAY, mart_settings)  # 60 -> 10 rows

    result = quality.gate_customer_features(DAY, mart_settings)

    assert result.success and result.previous_run == before.isoformat()


def test_gate_marts_runs_every_suite_and_skips_a_mart_not_built_yet(mart_settings, write_marts):
    write_marts(mart_settings, customer_features=feature_rows(DAY), training_labels=label_rows(DAY))

    report = quality.gate_marts(DAY, mart_settings)

    outcome = report.as_dict()
    assert outcome["success"] is True
    assert {name: r["status"] for name, r in outcome["marts"].items()} == {
        "customer_features": "passed",
        "customer_segments": "skipped",
        "training_labels": "passed",
    }
    assert outcome["skipped"] == {
        "customer_segments": "customer_segments is not in the warehouse yet (its dbt model has not been built)"
    }
    summary = json.loads(Path(outcome["summary"]).with_suffix(".json").read_text())
    assert summary["suites"]["customer_segments"]["note"] == outcome["skipped"]["customer_segments"]
    # What the CLI prints for the stage still works on the combined record.
    from bankmkt.cli import _headline

    assert _headline("validate_features", outcome).startswith("passed ")


def test_a_missing_required_mart_fails(mart_settings, write_marts):
    write_marts(mart_settings, customer_features=feature_rows(DAY))

    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_marts(DAY, mart_settings)

    assert (
        "training_labels: not validated: training_labels is not in the warehouse yet (its dbt model has not been built)"
    ) in str(failure.value).splitlines()


def test_segments_suite_checks_codes_and_the_share_of_each_stage(mart_settings, write_marts):
    churned_today = segment_rows(DAY, stages=["churned", "churned", "churned", "mature"])
    write_marts(mart_settings, customer_segments=pd.concat([segment_rows(YESTERDAY), churned_today], ignore_index=True))
    assert quality.run_gate("customer_segments", YESTERDAY, mart_settings).success

    result = quality.run_gate("customer_segments", DAY, mart_settings)

    assert result.failed_failures == [
        "lifecycle_stage: expect_column_values_to_be_in_set ['declining', 'dormant', 'growing', 'mature', 'new'] "
        "for at least 80.0% of rows: 45 of 60 rows unexpected (75.00%), e.g. "
        f"['churned', 'churned', 'churned', 'churned', 'churned'] (previous run {YESTERDAY}: "
        "declining, dormant, growing, mature, new)"
    ]
    assert any(
        w.startswith("lifecycle_stage: expect_column_values_to_be_in_set ['mature'] for at least 28.3% of rows")
        for w in result.failed_warnings
    )


def test_segments_with_an_unknown_tier_fail(mart_settings, write_marts):
    write_marts(mart_settings, customer_segments=segment_rows(DAY).assign(value_tier="diamond"))

    result = quality.run_gate("customer_segments", DAY, mart_settings)

    assert result.failed_failures == [
        "value_tier: expect_column_values_to_be_in_set ['platinum', 'gold', 'silver', 'bronze']: "
        "60 of 60 rows unexpected (100.00%), e.g. ['diamond', 'diamond', 'diamond', 'diamond', 'diamond']"
    ]


def test_labels_whose_window_is_still_open_fail(mart_settings, write_marts):
    labels = label_rows(DAY)
    labels.loc[3, "window_closes_at"] = datetime(2024, 3, 20)
    write_marts(mart_settings, training_labels=labels)

    result = quality.run_gate("training_labels", DAY, mart_settings)

    assert result.failed_failures == [
        "window_closes_at: expect_column_values_to_be_between [-, 2024-03-16 00:00:00]: 1 of 40 rows unexpected "
        "(2.50%), e.g. [2024-03-20 00:00:00]"
    ]


def test_no_labels_yet_only_warns(mart_settings, write_marts):
    write_marts(mart_settings, training_labels=label_rows(DAY).iloc[0:0])

    result = quality.run_gate("training_labels", DAY, mart_settings)

    assert result.success and result.rows == 0
    assert "table: expect_table_row_count_to_be_between [1, -]: observed 0" in result.failed_warnings


def test_target_lists_are_gated_before_and_after_they_are_written(mart_settings):
    import functools

    from bankmkt.campaigns import Campaign
    from bankmkt.pseudonyms import customer_keys, write_lookup
    from ml.targeting import write_target_lists

    good = target_list_rows(DAY)
    campaigns = {
        f"CMP-{product}": Campaign(
            f"CMP-{product}", product, product, "offer", 0.0, DAY, DAY, 14, 0.1, None, None, (), {"email": (100, 0.1)}
        )
        for product in ("credit_card", "term_deposit")
    }
    assert quality.gate_target_lists(DAY, mart_settings, frame=good).success
    assert quality.run_gate("target_lists", DAY, mart_settings).status == "skipped"  # nothing written yet

    bad = target_list_rows(DAY, built=True)
    bad.loc[bad["product_code"] == "term_deposit", "customer_id"] = bad["customer_id"].iloc[:20].to_numpy()
    write_target_lists(
        bad,
        DAY,
        mart_settings,
        campaigns,
        customer_keys=functools.partial(customer_keys, settings=mart_settings),
        write_lookup=functools.partial(write_lookup, settings=mart_settings),
    )
    with pytest.raises(QualityGateFailed) as failure:
        quality.gate_target_lists(DAY, mart_settings)

    assert "  - customer_key: expect_column_values_to_be_unique: 40 of 40 rows unexpected (100.00%)" in str(
        failure.value
    )
    # A list that names customers by their number is refused.
    numbered = good.assign(customer_key=[f"C{i:07d}" for i in range(len(good))])
    with pytest.raises(QualityGateFailed, match="customer_key: expect_column_values_to_match_regex"):
        quality.gate_target_lists(DAY, mart_settings, frame=numbered)


def test_the_docs_table_names_every_comparison():
    text = (Path(__file__).resolve().parents[2] / "docs" / "quality.md").read_text()
    for suite, drifts in quality.DRIFT.items():
        assert f"`{suite}`" in text, suite
        for drift in drifts:
            if drift.column:
                assert f"`{drift.column}`" in text, (suite, drift.column)


def test_an_uplift_outside_minus_one_to_one_stops_the_lists(mart_settings):
    good = target_list_rows(DAY)
    assert quality.gate_target_lists(DAY, mart_settings, frame=good.assign(uplift=float("nan"))).success
    bad = good.copy()
    bad.loc[bad.index[0], "uplift"] = 1.7
    with pytest.raises(QualityGateFailed, match="uplift"):
        quality.gate_target_lists(DAY, mart_settings, frame=bad)


def test_data_docs_render_offline_from_local_copies_of_their_scripts_and_styles(
    mart_settings, write_marts, tmp_path, find_chromium
):
    """No page loads a script, a style or an image from the internet; headless Chromium, offline, fills the
    index's table (bootstrap-table runs from the local copy)."""
    import os
    import subprocess

    if not (mart_settings.datadocs_assets_dir / "jquery@3.7.1" / "dist" / "jquery.min.js").is_file():
        if os.environ.get("CI"):
            pytest.fail(f"{mart_settings.datadocs_assets_dir} is missing: make setup fetches it with npm")
        pytest.skip("the Data Docs assets were not fetched (make setup needs npm for them)")
    write_marts(mart_settings, customer_features=feature_rows(DAY))
    result = quality.gate_customer_features(DAY, mart_settings)
    pages = list(mart_settings.data_docs_dir.rglob("*.html"))
    assert len(pages) >= 3
    remote = re.compile(r'<(?:script|link|img)[^>]+(?:src|href)="https?://')
    assert not [str(page) for page in pages if remote.search(page.read_text())]
    assert (
        mart_settings.data_docs_dir
        / "static"
        / "offline"
        / "fortawesome__fontawesome-free@6.6.0"
        / "webfonts"
        / "fa-solid-900.woff2"
    ).is_file()
    chromium = find_chromium("rendering the page")
    dom = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            Path(result.data_docs).as_uri(),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert f"customer_features_{DAY}" in dom  # a row bootstrap-table built from the page's data
    assert "Showing 1 to 1 of 1 rows" in dom
