"""The synthetic bank writes exactly the landing contract, coherently, reproducibly, with ground truth."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from bankmkt.generator import generate_bank
from bankmkt.generator.__main__ import main
from bankmkt.generator.catalogue import PROMOTED, SOURCES
from bankmkt.generator.landing import contract_schema
from bankmkt.generator.propensity import FEATURES, true_propensity

START = dt.date(2024, 3, 1)
DAYS = 21
DAY_STRINGS = [(START + dt.timedelta(days=d)).isoformat() for d in range(DAYS)]
# Sources whose rows are events: their keys never repeat on any day.
EVENT_SOURCES = (
    "daily_balances",
    "transactions",
    "digital_events",
    "campaigns",
    "campaign_contacts",
    "campaign_responses",
    "complaints",
    "satisfaction_surveys",
)

VALUE_FORMATS = {
    "date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "timestamp": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
    "boolean": re.compile(r"^(true|false)$"),
    "decimal": re.compile(r"^-?\d+\.\d{2}$"),
    "integer": re.compile(r"^-?\d+$"),
    "string": re.compile(r"^[^,\"\n]+$"),
}


@pytest.fixture(scope="module")
def bank(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("bank")
    summary = generate_bank(customers=400, days=DAYS, start_date=START, seed=11, data_dir=data_dir, contact_rate=0.05)
    return {"dir": data_dir, "summary": summary}


@pytest.fixture(scope="module")
def landed(bank) -> dict[str, pd.DataFrame]:
    """Every source as text (empty string = null), with the file's day in ``dt``."""
    frames = {}
    for source in SOURCES:
        parts = []
        for day in DAY_STRINGS:
            frame = pd.read_csv(
                bank["dir"] / "landing" / source / f"dt={day}" / f"{source}.csv",
                dtype=str,
                keep_default_na=False,
            )
            parts.append(frame.assign(dt=day))
        frames[source] = pd.concat(parts, ignore_index=True)
    return frames


def test_every_source_and_day_has_one_file_with_the_contract_header(bank):
    for source in SOURCES:
        names = [c["name"] for c in contract_schema(source)["columns"]]
        folders = sorted(p.name for p in (bank["dir"] / "landing" / source).iterdir())
        assert folders == [f"dt={day}" for day in DAY_STRINGS]
        for day in DAY_STRINGS:
            files = list((bank["dir"] / "landing" / source / f"dt={day}").iterdir())
            assert [f.name for f in files] == [f"{source}.csv"]
            raw = files[0].read_bytes()
            assert raw.decode("utf-8").split("\n", 1)[0] == ",".join(names)
            assert raw.endswith(b"\n")


# The synthetic bank declares no attributes of its own: header-only files every day.
EMPTY_SOURCES = {"customer_attributes"}


def test_values_follow_the_contract(landed):
    for source, frame in landed.items():
        if source in EMPTY_SOURCES:
            assert frame.drop(columns="dt").empty, f"{source} delivered rows"
            continue
        assert len(frame), f"{source} delivered nothing in {DAYS} days"
        for column in contract_schema(source)["columns"]:
            values = frame[column["name"]]
            present = values[values != ""]
            where = f"{source}.{column['name']}"
            if not column["nullable"]:
                assert len(present) == len(values), f"{where} has nulls"
            assert present.str.match(VALUE_FORMATS[column["type"]]).all(), f"{where} badly formatted"
            if column["type"] == "date":
                pd.to_datetime(present, format="%Y-%m-%d")
            if column["type"] == "timestamp":
                pd.to_datetime(present, format="%Y-%m-%dT%H:%M:%SZ")
            if "allowed" in column:
                assert set(present) <= set(column["allowed"]), where
            if "pattern" in column:
                assert present.str.match(column["pattern"]).all(), where
            if column["type"] in ("decimal", "integer") and len(present):  # optional columns may be all empty
                numbers = present.astype(float)
                assert numbers.min() >= column.get("min", -np.inf), where
                assert numbers.max() <= column.get("max", np.inf), where
            elif "min" in column:
                assert (present >= column["min"]).all(), where


def test_event_times_fall_on_the_files_day_and_nothing_is_in_the_future(landed):
    for source, frame in landed.items():
        for column in contract_schema(source)["columns"]:
            values = frame[column["name"]]
            present = values != ""
            if column["type"] == "timestamp":
                assert (values[present].str[:10] == frame["dt"][present]).all(), source
            if column["type"] == "date" and column["name"] != "end_date":
                assert (values[present] <= frame["dt"][present]).all(), f"{source}.{column['name']}"
    balances = landed["daily_balances"]
    assert (balances["balance_date"] == balances["dt"]).all()


def test_keys_are_unique(landed):
    for source, frame in landed.items():
        key = contract_schema(source)["primary_key"]
        if source in EVENT_SOURCES:
            assert not frame.duplicated(key).any(), f"{source} repeats a key across days"
        else:  # master data: one row per key and file, a later file may carry a new version
            assert not frame.duplicated(key + ["dt"]).any(), f"{source} repeats a key in a file"


def test_foreign_keys_point_to_rows_delivered_the_same_day_or_earlier(landed):
    for source, frame in landed.items():
        for column, target in contract_schema(source)["foreign_keys"].items():
            parent_source, parent_column = target.split(".")
            first_seen = landed[parent_source].groupby(parent_column)["dt"].min()
            parent_day = frame[column].map(first_seen)
            assert parent_day.notna().all(), f"{source}.{column} points to nothing"
            assert (parent_day <= frame["dt"]).all(), f"{source}.{column} arrives before its parent"


def test_day_one_is_the_full_base_and_later_days_are_changes(bank, landed):
    customers = landed["customers"]
    first = customers[customers["dt"] == DAY_STRINGS[0]]
    assert len(first) == 400
    later = customers[customers["dt"] > DAY_STRINGS[0]]
    assert 0 < len(later) < len(first)
    accounts = landed["accounts"]
    current = accounts[(accounts["dt"] == DAY_STRINGS[0]) & (accounts["account_type"] == "current")]
    assert set(current["customer_id"]) == set(first["customer_id"])


def test_balances_move_by_the_days_transactions(landed):
    balances = landed["daily_balances"].assign(balance=lambda f: f["balance"].astype(float))
    wide = balances.pivot(index="account_id", columns="dt", values="balance")
    transactions = landed["transactions"].assign(amount=lambda f: f["amount"].astype(float))
    flows = (
        transactions.pivot_table(index="account_id", columns="dt", values="amount", aggfunc="sum", fill_value=0.0)
        .reindex_like(wide)
        .fillna(0.0)
    )
    change = wide.diff(axis=1).iloc[:, 1:]
    both_days = change.notna()
    assert np.allclose(change.values[both_days.values], flows.iloc[:, 1:].values[both_days.values], atol=0.005)


def test_closed_accounts_go_quiet(landed):
    accounts = landed["accounts"]
    closed = accounts[accounts["closed_on"] != ""].set_index("account_id")["closed_on"]
    assert len(closed), "some customers churn in three weeks"
    for source in ("daily_balances", "transactions"):
        frame = landed[source]
        after = frame["account_id"].map(closed)
        quiet = (
            after.isna() | (frame["dt"] <= after) if source == "transactions" else after.isna() | (frame["dt"] < after)
        )
        assert quiet.all(), f"{source} after the account closed"


def test_contacts_have_a_control_group_and_responses_fall_in_the_window(bank, landed):
    contacts = landed["campaign_contacts"]
    control = contacts["is_control"] == "true"
    assert len(contacts) > 500
    assert 0.06 < control.mean() < 0.14
    campaigns = landed["campaigns"].set_index("campaign_id")
    assert (campaigns["response_window_days"] == "14").all()
    contact_day = contacts["contacted_at"].str[:10]
    assert (contact_day >= contacts["campaign_id"].map(campaigns["start_date"])).all()
    assert (contact_day <= contacts["campaign_id"].map(campaigns["end_date"])).all()

    responses = landed["campaign_responses"].merge(contacts, on="contact_id", suffixes=("", "_contact"))
    assert len(responses) == len(landed["campaign_responses"])
    assert (responses["customer_id"] == responses["customer_id_contact"]).all()
    assert (responses["campaign_id"] == responses["campaign_id_contact"]).all()
    lag = (
        pd.to_datetime(responses["responded_at"].str[:10]) - pd.to_datetime(responses["contacted_at"].str[:10])
    ).dt.days
    assert lag.between(1, 14).all()
    assert not landed["campaign_responses"]["contact_id"].duplicated().any()

    # Each arm converts as its true probability says: contacted with p, held out with p0 < p on average.
    truth = pq.read_table(bank["dir"] / "truth" / "contact_truth.parquet").to_pandas().set_index("contact_id")
    truth = truth.loc[contacts["contact_id"]]
    for arm, probability in (
        (~control.to_numpy(), "true_probability"),
        (control.to_numpy(), "true_probability_control"),
    ):
        p = truth.loc[arm, probability]
        observed = truth.loc[arm, "converted"].mean()
        assert abs(observed - p.mean()) < 4 * np.sqrt((p * (1 - p)).sum()) / len(p) + 1e-9, (probability, observed)
    assert truth["true_probability"].mean() > truth["true_probability_control"].mean()


def test_contacts_respect_consent_and_existing_holdings(landed):
    customers = landed["customers"].sort_values(["dt", "updated_at"])
    contacts = landed["campaign_contacts"]
    latest = pd.merge_asof(
        contacts.assign(at=pd.to_datetime(contacts["dt"])).sort_values("at"),
        customers.assign(at=pd.to_datetime(customers["dt"]))[
            ["at", "customer_id", "has_marketing_consent"]
        ].sort_values("at"),
        on="at",
        by="customer_id",
    )
    assert (latest["has_marketing_consent"] == "true").all()


def test_ground_truth_is_written_and_consistent(bank, landed):
    truth_dir = bank["dir"] / "truth"
    contacts = pq.read_table(truth_dir / "contact_truth.parquet").to_pandas()
    customers = pq.read_table(truth_dir / "customer_truth.parquet").to_pandas()
    assert list(contacts.columns[:13]) == [
        "contact_id",
        "customer_id",
        "campaign_id",
        "product_code",
        "contacted_at",
        "is_control",
        "channel",
        "list_row_id",
        "delivered",
        "true_probability",
        "true_probability_control",
        "true_uplift",
        "converted",
    ]
    # The bank's own campaigns: every contact delivered, the uplift is p - p0.
    assert contacts["list_row_id"].isna().all()
    assert (contacts["delivered"] == ~contacts["is_control"]).all()
    np.testing.assert_allclose(
        contacts["true_uplift"], contacts["true_probability"] - contacts["true_probability_control"]
    )
    assert set(contacts["contact_id"]) == set(landed["campaign_contacts"]["contact_id"])
    assert contacts["true_probability"].between(0, 1, inclusive="neither").all()
    assert (contacts.loc[contacts["responded_at"].notna(), "converted"]).all()
    assert set(landed["campaign_responses"]["contact_id"]) == set(
        contacts.loc[contacts["responded_at"].notna(), "contact_id"]
    )
    by_outcome = contacts.groupby("converted")["true_probability"].mean()
    assert by_outcome[True] > by_outcome[False]
    treated = contacts[~contacts["is_control"]]
    assert 0.03 < treated["converted"].mean() < 0.2

    assert customers["as_of_date"].astype(str).eq(DAY_STRINGS[-1]).all()
    assert set(customers["customer_id"]) == set(landed["customers"]["customer_id"])
    for product in PROMOTED:
        assert customers[f"true_probability_{product}"].between(0, 1, inclusive="neither").all()
    assert set(customers["lifecycle_stage"]) <= {
        "new",
        "growing",
        "mature",
        "declining",
        "dormant",
        "churned",
    }


def _window_sum(contacts: pd.DataFrame, daily: pd.DataFrame, days: int) -> np.ndarray:
    """Per contact: sum of ``daily.value`` of its customer over the ``days`` days up to its day."""
    first = (pd.to_datetime(contacts["day"]) - pd.Timedelta(days=days - 1)).dt.strftime("%Y-%m-%d")
    joined = contacts[["contact_id", "customer_id", "day"]].assign(first=first).merge(daily, on="customer_id")
    inside = (joined["dt"] <= joined["day"]) & (joined["dt"] >= joined["first"])
    sums = joined[inside].groupby("contact_id")["value"].sum()
    return contacts["contact_id"].map(sums).fillna(0.0).to_numpy()


def test_true_probability_is_the_documented_function_of_landed_data(bank, landed):
    """Recompute every contact's probability from the landing files alone (plus its hidden stage)."""
    truth = pq.read_table(bank["dir"] / "truth" / "contact_truth.parquet").to_pandas()
    day = truth["contacted_at"].dt.tz_convert(None).dt.normalize().astype("datetime64[ns]")
    contacts = truth.assign(day=day.dt.strftime("%Y-%m-%d"))

    accounts = landed["accounts"].drop_duplicates("account_id")[["account_id", "customer_id", "account_type"]]
    balances = (
        landed["daily_balances"].merge(accounts, on="account_id").assign(value=lambda f: f["balance"].astype(float))
    )
    savings = balances[balances["account_type"] == "savings"]
    transactions = (
        landed["transactions"].merge(accounts, on="account_id").assign(value=lambda f: -f["amount"].astype(float))
    )
    spend = transactions[
        transactions["merchant_category"].isin(
            [
                "groceries",
                "dining",
                "travel",
                "fuel",
                "utilities",
                "shopping",
                "health",
                "entertainment",
                "cash",
            ]
        )
        & (transactions["direction"] == "debit")
    ]
    travel_dining = spend[spend["merchant_category"].isin(["travel", "dining"])]
    logins = landed["digital_events"].query("event_type == 'login'").assign(value=1.0)
    complaints = landed["complaints"].assign(value=1.0)

    customers = landed["customers"].assign(at=lambda f: pd.to_datetime(f["dt"])).sort_values("at")
    profile = (
        pd.merge_asof(contacts.assign(at=day).sort_values("at"), customers, on="at", by="customer_id")
        .set_index("contact_id")
        .loc[contacts["contact_id"]]
    )
    holdings = landed["product_holdings"].merge(contacts[["contact_id", "customer_id", "day"]], on="customer_id")
    holdings = holdings[holdings["dt"] <= holdings["day"]].sort_values(["dt", "updated_at"])
    latest = holdings.groupby(["contact_id", "holding_id"]).tail(1)
    products = contacts["contact_id"].map((latest["closed_on"] == "").groupby(latest["contact_id"]).sum())

    start = pd.Timestamp(DAY_STRINGS[0])
    since = pd.to_datetime(profile["customer_since"]).to_numpy()
    income = np.maximum(profile["monthly_income"].astype(float).to_numpy(), 100.0)
    age = (day.to_numpy() - pd.to_datetime(profile["birth_date"]).to_numpy()) / np.timedelta64(1, "D") / 365.25
    observed = np.minimum((day.to_numpy() - np.maximum(since, start.to_datetime64())) / np.timedelta64(1, "D") + 1, 90)
    spend_90 = _window_sum(contacts, spend, 90)
    td_90 = _window_sum(contacts, travel_dining, 90)
    features = {
        "log_balance": np.log10(1 + np.maximum(_window_sum(contacts, balances, 1), 0)) - 3.5,
        "log_savings": np.log10(1 + np.maximum(_window_sum(contacts, savings, 1), 0)) - 3.0,
        "log_income": np.log(income / 2000),
        "age": (age - 45) / 15,
        "age_mid": np.exp(-(((age - 38) / 12) ** 2)) - 0.5,
        "travel_dining": np.where(spend_90 > 0, td_90 / np.maximum(spend_90, 1e-9), 0.0) - 0.2,
        "spend_income": np.minimum(spend_90 / observed * 30 / income, 5.0) - 0.6,
        "logins": np.log1p(_window_sum(contacts, logins, 30)) - 1.5,
        "tenure": np.log1p((day.to_numpy() - since) / np.timedelta64(1, "D") / 365.25) - 2.0,
        "products": products.fillna(0).to_numpy(dtype=float) - 1.0,
        "complaints": np.minimum(_window_sum(contacts, complaints, 90), 3),
    }
    stage = contacts["lifecycle_stage"].map(
        {s: i for i, s in enumerate(("new", "growing", "mature", "declining", "dormant", "churned"))}
    )
    recomputed = true_propensity(features, stage.to_numpy())
    product = contacts["product_code"].map({p: i for i, p in enumerate(PROMOTED)}).to_numpy()
    expected = recomputed[np.arange(len(contacts)), product]
    assert np.allclose(expected, contacts["true_probability"], rtol=1e-6, atol=1e-9)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(tmp_path):
    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "landing").rglob("*.csv"))}

    runs = {}
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        generate_bank(
            customers=120,
            days=5,
            start_date="2024-01-29",
            seed=seed,
            data_dir=tmp_path / name,
            write_truth=False,
        )
        runs[name] = files(tmp_path / name)
    assert len(runs["a"]) == 5 * len(SOURCES)
    assert runs["a"] == runs["b"]
    assert runs["a"].keys() == runs["c"].keys() and runs["a"] != runs["c"]
    assert not (tmp_path / "a" / "truth").exists()


def test_command_line_prints_progress_and_summary(tmp_path, capsys):
    assert (
        main(
            [
                "--customers",
                "50",
                "--days",
                "2",
                "--start-date",
                "2024-02-28",
                "--seed",
                "1",
                "--data-dir",
                str(tmp_path),
                "--no-truth",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "2024-02-28  day    1/2" in out and '"transactions"' in out
    assert (tmp_path / "landing" / "customers" / "dt=2024-02-29" / "customers.csv").exists()


def test_true_propensity_weighs_behaviour_per_product():
    neutral = {name: np.zeros(2) for name in FEATURES}
    mature = np.array([2, 2])  # index of "mature"
    richer = dict(neutral, log_balance=np.array([0.0, 2.0]))
    p = true_propensity(richer, mature)
    wealth, loan = PROMOTED.index("wealth_management"), PROMOTED.index("personal_loan")
    assert p[1, wealth] > p[0, wealth] and p[1, loan] < p[0, loan]
    travel = dict(neutral, travel_dining=np.array([0.0, 0.5]))
    p = true_propensity(travel, mature)
    assert p[1, PROMOTED.index("credit_card")] > p[0, PROMOTED.index("credit_card")]
    declining = true_propensity(neutral, np.array([2, 3]))
    assert (declining[1] < declining[0]).all()
