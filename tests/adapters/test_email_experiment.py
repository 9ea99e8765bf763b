"""The e-mail experiment adapter: a synthetic file of the Hillstrom shape, converted end to end.

The real file is not shipped; :func:`email_experiment.write_fixture` writes one of the same
shape and structure. The module's conversion lands in a temporary DATA_DIR; the contract
test checks every landed day as the daily run's first load would.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import date, timedelta

import pandas as pd
import pytest

from bankmkt import pipeline
from bankmkt.adapters import email_experiment as em
from bankmkt.attributes import AttributeSpec, load_declaration, write_declaration
from bankmkt.contract import load_contract
from bankmkt.settings import get_settings

SEND_DAY = date(2008, 3, 3)
HISTORY_DAY = SEND_DAY - timedelta(days=1)
LAST_DAY = SEND_DAY + timedelta(days=14)


def _settings(data_dir):
    return dataclasses.replace(get_settings(), data_dir=data_dir.resolve())


def _landed(settings, source: str) -> pd.DataFrame:
    """Every landed file of ``source`` as text, with its delivery day ``dt``."""
    files = sorted((settings.landing_dir / source).glob("dt=*/*.csv"))
    frames = [pd.read_csv(f, dtype=str, keep_default_na=False).assign(dt=f.parent.name[3:]) for f in files]
    return pd.concat(frames, ignore_index=True)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The default fixture (3,000 customers) converted into a fresh DATA_DIR, once for the module."""
    source = em.write_fixture(tmp_path_factory.mktemp("source") / "experiment.csv")
    data_dir = tmp_path_factory.mktemp("email_experiment")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in get_settings().environment().items():
            patch.setenv(name, os.environ.get(name, value))  # the stages export settings: restore after
        patch.setenv("DATA_DIR", str(data_dir))
        settings = get_settings()
        summary = em.convert_email_experiment(source, settings)
        yield summary, settings, pd.read_csv(source)


# ---- the fixture ------------------------------------------------------------------------------


def test_fixture_is_deterministic_and_has_the_experiments_structure(tmp_path):
    first = em.write_fixture(tmp_path / "a.csv", rows=30_000, seed=7)
    assert first.read_bytes() == em.write_fixture(tmp_path / "b.csv", rows=30_000, seed=7).read_bytes()
    assert first.read_bytes() != em.write_fixture(tmp_path / "c.csv", rows=30_000, seed=8).read_bytes()
    frame = pd.read_csv(first)
    assert list(frame.columns) == list(em.SOURCE_COLUMNS)
    assert frame["segment"].value_counts().to_dict() == dict.fromkeys(em.SEGMENTS, 10_000)
    rates = frame.groupby("segment")[["visit", "conversion"]].mean()
    for segment, visit in em.FIXTURE_VISIT_RATE.items():
        assert rates.loc[segment, "visit"] == pytest.approx(visit, abs=0.015), segment
        assert rates.loc[segment, "conversion"] == pytest.approx(em.FIXTURE_CONVERSION_RATE[segment], abs=0.004)
    assert frame.loc[frame["conversion"] == 1, "spend"].mean() == pytest.approx(100, abs=25)
    assert (frame.loc[frame["conversion"] == 0, "spend"] == 0).all()

    def visit_uplift(rows: pd.DataFrame, arm: str) -> float:
        by_segment = rows.groupby("segment")["visit"].mean()
        return by_segment[arm] - by_segment[em.CONTROL_SEGMENT]

    mens_mail = em.ARMS[0].segment
    assert visit_uplift(frame[frame["mens"] == 1], mens_mail) > visit_uplift(frame[frame["mens"] == 0], mens_mail)
    assert visit_uplift(frame[frame["recency"] <= 3], mens_mail) > visit_uplift(frame[frame["recency"] >= 9], mens_mail)
    rich = frame["history"] >= frame["history"].median()
    assert visit_uplift(frame[rich], mens_mail) > visit_uplift(frame[~rich], mens_mail)


# ---- the conversion -----------------------------------------------------------------------------


def test_every_day_from_the_history_day_to_two_weeks_after_the_send_has_every_source(converted):
    summary, settings, _ = converted
    days = [HISTORY_DAY + timedelta(days=n) for n in range(16)]
    assert (summary["first_day"], summary["last_day"], summary["days"]) == (
        HISTORY_DAY.isoformat(),
        LAST_DAY.isoformat(),
        16,
    )
    for source in load_contract():
        folders = sorted(p.parent.name for p in (settings.landing_dir / source).glob("dt=*/*.csv"))
        assert folders == [f"dt={d.isoformat()}" for d in days], source
    assert summary["files"] == 16 * len(load_contract())


def test_customers_one_per_row_on_the_history_day_with_the_unknown_left_empty(converted):
    _, settings, source = converted
    customers = _landed(settings, "customers")
    assert len(customers) == len(source) and (customers["dt"] == HISTORY_DAY.isoformat()).all()
    assert customers["customer_id"].tolist() == [f"C{n:07d}" for n in range(1, len(source) + 1)]
    assert customers["national_id"].str.fullmatch(r"EM\d{9}").all()
    for column in ("first_name", "email", "birth_date", "gender", "occupation", "monthly_income"):
        assert (customers[column] == "").all(), column
    assert customers["region"].tolist() == source["zip_code"].str.lower().tolist()
    tenure = (pd.Timestamp(HISTORY_DAY) - pd.to_datetime(customers["customer_since"])).dt.days
    assert tenure.tolist() == source["newbie"].map({1: 180, 0: 365}).tolist()
    assert (customers["has_marketing_consent"] == "true").all()
    assert (customers["updated_at"] == f"{HISTORY_DAY}T00:00:00Z").all()


def test_campaigns_are_two_arms_of_one_experiment_on_the_send_day(converted):
    _, settings, _ = converted
    campaigns = _landed(settings, "campaigns").set_index("campaign_id")
    assert list(campaigns.index) == ["EMAIL_MENS", "EMAIL_WOMENS"]
    assert (campaigns["experiment_id"] == "EMAIL_2WEEKS").all()
    assert (campaigns["dt"] == SEND_DAY.isoformat()).all()
    assert (campaigns[["start_date", "end_date"]] == SEND_DAY.isoformat()).all().all()
    assert (campaigns["channel"] == "email").all() and (campaigns["product_code"] == "credit_card").all()
    assert (campaigns["response_window_days"] == "14").all()


def test_contacts_per_arm_and_the_control_pooled_under_the_first_arm(converted):
    summary, settings, source = converted
    contacts = _landed(settings, "campaign_contacts").merge(
        source[["segment"]].assign(customer_id=[f"C{n:07d}" for n in range(1, len(source) + 1)]), on="customer_id"
    )
    assert len(contacts) == len(source) and (contacts["dt"] == SEND_DAY.isoformat()).all()
    assert contacts["contacted_at"].str.startswith(f"{SEND_DAY}T").all()
    counts = contacts.groupby(["segment", "campaign_id", "is_control"]).size().to_dict()
    per_arm = source["segment"].value_counts()
    assert counts == {
        ("Mens E-Mail", "EMAIL_MENS", "false"): per_arm["Mens E-Mail"],
        ("Womens E-Mail", "EMAIL_WOMENS", "false"): per_arm["Womens E-Mail"],
        ("No E-Mail", "EMAIL_MENS", "true"): per_arm["No E-Mail"],
    }
    control = contacts["is_control"] == "true"
    assert (contacts.loc[control, "delivery_status"] == "").all()
    assert (contacts.loc[~control, "delivery_status"] == "delivered").all()
    assert (contacts["channel"] == "email").all() and (contacts["attempt_number"] == "1").all()
    assert (contacts["previous_campaign_outcome"] == "").all()
    assert summary["customers_per_arm"] == per_arm.to_dict()


def test_visits_and_conversions_land_within_the_window_with_their_amounts(converted):
    summary, settings, source = converted
    source = source.assign(contact_id=[f"EM{n:07d}" for n in range(1, len(source) + 1)])
    responses = _landed(settings, "campaign_responses").merge(source, on="contact_id")
    contacts = _landed(settings, "campaign_contacts").set_index("contact_id")
    assert responses["response_id"].is_unique
    visited = responses[responses["response_type"] == "visited"]
    converted_ = responses[responses["response_type"] == "converted"]
    assert sorted(visited["contact_id"]) == sorted(source.loc[source["visit"] == 1, "contact_id"])
    assert sorted(converted_["contact_id"]) == sorted(source.loc[source["conversion"] == 1, "contact_id"])
    assert (visited["amount"] == "").all()
    assert converted_["amount"].astype(float).round(2).tolist() == converted_["spend"].round(2).tolist()
    # Control rows respond too, under the campaign their contact was recorded in.
    assert (responses["campaign_id"] == responses["contact_id"].map(contacts["campaign_id"])).all()
    assert (responses.loc[responses["segment"] == "No E-Mail", "campaign_id"] == "EMAIL_MENS").all()
    responded = pd.to_datetime(responses["responded_at"])
    contacted = pd.to_datetime(responses["contact_id"].map(contacts["contacted_at"]))
    assert (responded > contacted).all()
    assert (responded.dt.date <= LAST_DAY).all()
    assert (responses["dt"] == responses["responded_at"].str[:10]).all()
    both = visited.merge(converted_, on="contact_id", suffixes=("_visit", "_conversion"))
    assert (pd.to_datetime(both["responded_at_conversion"]) > pd.to_datetime(both["responded_at_visit"])).all()
    per_arm = source.groupby("segment")[["visit", "conversion"]].sum()
    assert summary["visits_per_arm"] == per_arm["visit"].to_dict()
    assert summary["conversions_per_arm"] == per_arm["conversion"].to_dict()
    spend = source[source["conversion"] == 1].groupby("segment")["spend"].sum()
    assert summary["spend_per_arm"] == pytest.approx(spend.to_dict())


def test_the_year_before_lands_as_declared_customer_attributes(converted):
    summary, settings, source = converted
    specs = {spec.attribute: spec for spec in load_declaration(settings)}
    assert list(specs) == summary["attributes_declared"]
    assert specs["history_segment"].categories == tuple(sorted(set(source["history_segment"])))
    assert specs["purchase_channel"].categories == ("multichannel", "phone", "web")
    assert specs["bought_mens"].categories == ("no", "yes") and specs["spend_12m"].kind == "number"
    attributes = _landed(settings, "customer_attributes")
    assert len(attributes) == 7 * len(source) and (attributes["dt"] == HISTORY_DAY.isoformat()).all()
    assert (attributes["valid_from"] == f"{HISTORY_DAY}T00:00:00Z").all()
    first = attributes[attributes["customer_id"] == "C0000001"].set_index("attribute")["value"]
    row = source.iloc[0]
    assert first.to_dict() == {
        "history_segment": row["history_segment"],
        "purchase_channel": row["channel"].lower(),
        "bought_mens": "yes" if row["mens"] else "no",
        "bought_womens": "yes" if row["womens"] else "no",
        "newbie": "yes" if row["newbie"] else "no",
        "recency_months": str(row["recency"]),
        "spend_12m": f"{row['history']:.2f}",
    }


def test_every_landed_day_passes_the_contract(converted):
    summary, _, _ = converted
    checked = pipeline.check_landing(LAST_DAY)
    assert checked["days_checked"] == summary["days"] == 16
    assert checked["rows"] == sum(summary["rows_per_source"].values())


# ---- what the file may hold ---------------------------------------------------------------------


def _small_source(tmp_path, change=None) -> str:
    frame = pd.read_csv(em.write_fixture(tmp_path / "valid.csv", rows=30, seed=1), dtype=str, keep_default_na=False)
    if change:
        change(frame)
    path = tmp_path / "experiment.csv"
    frame.to_csv(path, index=False)
    return path


def _set(row: int, column: str, value: str):
    def change(frame):
        frame.loc[row - 1, column] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set(3, "segment", "All E-Mail"), "row 3, column segment: 'All E-Mail' is not one of"),
        (_set(5, "visit", "2"), "row 5, column visit: '2' is not 0 or 1"),
        (_set(1, "conversion", "yes"), "row 1, column conversion: 'yes' is not 0 or 1"),
        (_set(7, "spend", "-12.50"), "row 7, column spend: '-12.50' is not an amount of 0 or more"),
        (_set(2, "recency", "13"), "row 2, column recency: '13' is not a whole number of months 1-12"),
        (_set(30, "recency", "0"), "row 30, column recency"),
        (_set(4, "zip_code", "Downtown"), "row 4, column zip_code"),
        (lambda frame: frame.drop(columns=["spend", "newbie"], inplace=True), r"lacks column\(s\) newbie, spend"),
    ],
)
def test_bad_input_is_refused_naming_row_and_column_and_nothing_lands(tmp_path, change, message):
    settings = _settings(tmp_path / "data")
    with pytest.raises(em.EmailExperimentError, match=message):
        em.convert_email_experiment(_small_source(tmp_path, change), settings)
    assert not settings.landing_dir.exists() or not any(settings.landing_dir.rglob("*.csv"))


def test_an_unknown_product_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'savings_account' is not one of the contract's products"):
        em.convert_email_experiment(
            _small_source(tmp_path), _settings(tmp_path / "data"), product_code="savings_account"
        )


def test_what_cannot_land_as_given_is_counted_not_dropped(tmp_path):
    def change(frame):
        frame["loyalty_tier"] = "gold"  # a column the mapping does not use
        frame.loc[0, ["visit", "conversion", "spend"]] = ["0", "1", "80.00"]  # a conversion without a visit
        frame.loc[1, ["conversion", "spend"]] = ["0", "25.00"]  # spend without a conversion
        frame.loc[2, "history_segment"] = "7) $1,000 +"

    settings = _settings(tmp_path / "data")
    summary = em.convert_email_experiment(
        _small_source(tmp_path, change), settings, send_day=date(2024, 5, 6), product_code="term_deposit"
    )
    assert summary["ignored_columns"] == ["loyalty_tier"]
    assert summary["conversions_without_visit"] == 1
    assert summary["spend_without_conversion_not_delivered"] == {"rows": 1, "spend": 25.0}
    responses = _landed(settings, "campaign_responses")
    assert responses.loc[responses["contact_id"] == "EM0000001", "response_type"].tolist() == ["converted"]
    attributes = _landed(settings, "customer_attributes")
    third = attributes[(attributes["customer_id"] == "C0000003") & (attributes["attribute"] == "history_segment")]
    assert third["value"].tolist() == ["7) $1,000 +"]  # a comma in a label lands quoted
    assert (_landed(settings, "campaigns")["product_code"] == "term_deposit").all()
    assert summary["first_day"] == "2024-05-05" and summary["last_day"] == "2024-05-20"


def test_landed_files_are_kept_unless_overwrite_and_other_attributes_stay_declared(tmp_path):
    settings = _settings(tmp_path / "data")
    marital = AttributeSpec("marital", "category", ("married", "single"), "Marital status")
    write_declaration(settings, [marital])
    source = _small_source(tmp_path)
    em.convert_email_experiment(source, settings)
    with pytest.raises(FileExistsError, match="already holds files"):
        em.convert_email_experiment(source, settings)
    summary = em.convert_email_experiment(source, settings, overwrite=True)
    assert summary["rows"] == 30
    declared = [spec.attribute for spec in load_declaration(settings)]
    assert declared == ["marital", *summary["attributes_declared"]]


def test_command_line_prints_the_summary(tmp_path, capsys):
    source = _small_source(tmp_path)
    assert em.main(["--source", str(source), "--data-dir", str(tmp_path / "data"), "--send-day", "2010-01-04"]) == 0
    printed = capsys.readouterr().out
    assert '"send_day": "2010-01-04"' in printed and '"rows": 30' in printed
