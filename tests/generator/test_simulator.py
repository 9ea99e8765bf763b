"""The closed loop on the simulator: published lists are executed the next day, answered from the
truth, measured in the warehouse, and the measured uplift's intervals cover the true uplift.

One bank (2,000 customers, 40 days of history, then 35 days of campaign waves whose lists a
random policy publishes through the platform's own targeting) is shared by the module; the
warehouse is built once at the end (dbt, as the daily run builds it).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from datetime import date, timedelta

import pandas as pd
import pytest

from bankmkt.settings import get_settings

START = date(2024, 1, 1)
HISTORY_DAYS = 40
LOOP_DAYS = 35
FIRST = START + timedelta(days=HISTORY_DAYS - 1)  # the last day of history: its lists open the loop
LAST = FIRST + timedelta(days=LOOP_DAYS)


class preserved_environment:
    """Restore os.environ afterwards: bankmkt.runtime.apply_environment exports a DATA_DIR's settings."""

    def __enter__(self):
        self._saved = dict(os.environ)

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self._saved)
        return False


@pytest.fixture(scope="module")
def loop_bank(tmp_path_factory):
    from bankmkt.campaigns import wave_catalogue, write_catalogue
    from bankmkt.generator import generate_bank
    from bankmkt.generator.policies import run_policy_loop

    root = tmp_path_factory.mktemp("loop_bank")
    settings = dataclasses.replace(get_settings(), platform_env="local", data_dir=root)
    generate_bank(customers=2000, days=HISTORY_DAYS, start_date=START, seed=8, data_dir=root, loop_days=LOOP_DAYS)
    write_catalogue(wave_catalogue(FIRST, LOOP_DAYS, 25, control_share=0.3), settings.campaign_catalogue_file)
    executed = run_policy_loop(settings, FIRST, LOOP_DAYS, seed=3)
    return settings, executed


@pytest.fixture(scope="module")
def measured_loop(loop_bank):
    from bankmkt import warehouse

    settings, _ = loop_bank
    with preserved_environment():
        summary = warehouse.build_warehouse(LAST, full_refresh=True, settings=settings)
    assert summary["failures"] == []
    return settings


def _landed(settings, source: str, day: date) -> pd.DataFrame:
    return pd.read_csv(
        settings.landing_dir / source / f"dt={day.isoformat()}" / f"{source}.csv", dtype=str, keep_default_na=False
    )


def _lists(settings, day: date) -> pd.DataFrame:
    """The day's lists, their pseudonyms mapped back to customer numbers through the day's lookup."""
    from bankmkt.pseudonyms import read_lookup

    lists = pd.concat(pd.read_parquet(p) for p in settings.target_list_dir(day).glob("target_list_*.parquet"))
    return lists.merge(read_lookup(day, settings), on="customer_key", how="left", validate="many_to_one")


def test_every_published_row_is_executed_the_next_day(loop_bank):
    settings, executed = loop_bank
    assert len(executed) == LOOP_DAYS and all(day["list_rows"] > 0 for day in executed)
    for day in (FIRST, FIRST + timedelta(days=10)):
        lists = _lists(settings, day).set_index("list_row_id")
        contacts = _landed(settings, "campaign_contacts", day + timedelta(days=1)).set_index("list_row_id")
        assert set(contacts.index) == set(lists.index)
        contacts = contacts.loc[lists.index]
        assert (contacts["campaign_id"] == lists["campaign_id"]).all()
        assert (contacts["customer_id"] == lists["customer_id"]).all()
        assert (contacts["channel"] == lists["channel"]).all()
        assert (contacts["is_control"] == lists["is_control"].map({True: "true", False: "false"})).all()
        assert contacts["contacted_at"].str.startswith((day + timedelta(days=1)).isoformat()).all()
        # Controls are held out (no delivery); contacts are delivered or failed, never both.
        controls = contacts["is_control"] == "true"
        assert (contacts.loc[controls, "delivery_status"] == "").all()
        assert set(contacts.loc[~controls, "delivery_status"]) == {"delivered", "failed"}
    # The campaigns of the catalogue land when first executed (foreign keys of the contacts).
    campaigns = _landed(settings, "campaigns", FIRST + timedelta(days=1))
    assert set(campaigns["channel"]) == {"multichannel"} and len(campaigns) == 4


def test_responses_come_back_for_the_executed_contacts(loop_bank):
    settings, _ = loop_bank
    contacts = pd.concat(
        _landed(settings, "campaign_contacts", FIRST + timedelta(days=d)) for d in range(1, LOOP_DAYS + 1)
    )
    responses = pd.concat(
        _landed(settings, "campaign_responses", FIRST + timedelta(days=d)) for d in range(1, LOOP_DAYS + 1)
    )
    platform = responses.merge(contacts[["contact_id", "is_control", "delivery_status"]], on="contact_id")
    assert set(platform["response_type"]) == {"opened", "clicked", "visited", "converted"}
    # Only a delivered message can be opened, clicked or lead to a visit; anyone can buy.
    engaged = platform.loc[platform["response_type"] != "converted"]
    assert (engaged["delivery_status"] == "delivered").all()
    converted = platform.loc[platform["response_type"] == "converted"]
    assert (converted["amount"].astype(float) > 0).all()
    assert (engaged["amount"] == "").all()
    assert (converted["is_control"] == "true").any() and (converted["is_control"] == "false").any()


def test_the_truth_knows_each_contacts_heterogeneous_effect(loop_bank):
    settings, _ = loop_bank
    truth = pd.read_parquet(settings.truth_dir / "contact_truth.parquet")
    listed = truth.loc[truth["list_row_id"].notna()]
    assert len(listed) == sum(len(_lists(settings, FIRST + timedelta(days=d))) for d in range(LOOP_DAYS))
    effect = listed["true_probability"] - listed["true_probability_control"]
    # Some customers only buy if contacted, some buy anyway, some are put off by a contact.
    assert (effect > 0.05).mean() > 0.05
    assert (effect.abs() < 0.005).mean() > 0.05
    assert (effect < -0.005).mean() > 0.02
    # Intent to treat: a row's true uplift is what listing it through its channel changes.
    assert (listed.loc[listed["true_uplift"] != 0, "true_uplift"].abs() <= effect.abs().max() + 1e-12).all()
    assert not listed.loc[~listed["is_control"] & ~listed["delivered"], "converted"].isna().any()


def test_a_day_is_never_simulated_twice_or_skipped(loop_bank):
    from bankmkt.generator.simulator import SimulatorError, step

    settings, _ = loop_bank
    with pytest.raises(SimulatorError, match=f"the simulator's last day is {LAST}"):
        step(FIRST, settings)
    with pytest.raises(SimulatorError, match="set up for days up to"):
        step(LAST, settings)


def test_measured_uplift_intervals_cover_the_true_uplift(measured_loop):
    """Per campaign and life-cycle segment, the 95% interval covers the simulator's true uplift in 90-99% of cells."""
    from bankmkt.effectiveness import truth_comparison

    cells = truth_comparison(measured_loop, grain="campaign_segment")
    assert len(cells) >= 24
    coverage = cells["covered"].mean()
    assert 0.90 <= coverage <= 1.0, cells.loc[~cells["covered"]]
    channels = truth_comparison(measured_loop, grain="campaign_channel")
    assert len(channels) >= 24 and channels["covered"].mean() >= 0.90, channels.loc[~channels["covered"]]
    # Not covered by being uselessly wide: the campaign-level intervals are a few points wide.
    campaigns = truth_comparison(measured_loop, grain="campaign")
    assert (campaigns["uplift_ci_high"] - campaigns["uplift_ci_low"]).median() < 0.12
    assert campaigns["covered"].mean() >= 0.8
    assert campaigns[["uplift", "true_uplift"]].corr().iloc[0, 1] > 0.3


def test_campaign_effectiveness_adds_up(measured_loop):
    import duckdb

    with duckdb.connect(str(measured_loop.warehouse_path), read_only=True) as con:
        frame = con.execute("select * from campaign_effectiveness where is_platform_campaign").df()
        contacts = con.execute(
            "select count(*) filter (where not is_control), count(*) filter (where is_control) "
            "from int_campaign_contacts_evaluated where is_platform_list"
        ).fetchall()[0]
    whole = frame.loc[frame["grain"] == "campaign"]
    assert (whole["treated_contacts"].sum(), whole["control_contacts"].sum()) == contacts
    for grain in ("campaign_segment", "campaign_channel", "campaign_week", "campaign_segment_channel_week"):
        part = frame.loc[frame["grain"] == grain]
        assert part["treated_contacts"].sum() == whole["treated_contacts"].sum(), grain
    row = whole.iloc[0]
    assert row["uplift"] == pytest.approx(row["treated_conversion_rate"] - row["control_conversion_rate"])
    assert row["uplift_ci_low"] <= row["uplift"] <= row["uplift_ci_high"]
    assert row["incremental_conversions"] == pytest.approx(row["uplift"] * row["treated_contacts"])
    assert row["roi"] == pytest.approx((row["incremental_value_eur"] - row["cost_eur"]) / row["cost_eur"])
    assert set(frame["channel"]) == {"all", "email", "push", "sms", "phone", "branch"}


def test_effectiveness_report_renders_in_a_browser(measured_loop, tmp_path, find_chromium):
    """The report a marketing analyst opens, screenshot in headless Chromium (no asset from the internet)."""
    import subprocess

    from PIL import Image

    from bankmkt.effectiveness import write_effectiveness_report

    with preserved_environment():
        report = write_effectiveness_report(LAST, measured_loop)
    page = report.read_text()
    assert "http://" not in page and "https://" not in page
    for heading in (
        "Campaigns: uplift, value, return",
        "Over time",
        "Channels",
        "Customer experience guardrails",
        "Life cycle",
        "Check against the simulator's truth",
    ):
        assert heading in page
    chromium = find_chromium("the screenshot")
    shot = tmp_path / "effectiveness.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1280,2400",
            f"--screenshot={shot}",
            report.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("L")
    assert image.size == (1280, 2400)
    # A rendered page: many shades (text, charts), not a blank or an error page.
    assert len(image.getcolors(maxcolors=256 * 256) or []) > 50
    kept = measured_loop.reports_dir / "effectiveness" / "screenshot.png"
    shutil.copy(shot, kept)
