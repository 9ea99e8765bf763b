"""Targeting: every contact-policy rule, controls fixed for a campaign's life, cross-day contact
counting, next-best offer, channels and capacity, and the files marketing loads."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from bankmkt.campaigns import Campaign, is_control
from ml import PRODUCT_VALUE, PRODUCTS
from ml.targeting import EXCLUSION_REASONS, LIST_COLUMNS, TARGET_COLUMNS, build_target_lists, write_target_lists

RUN_DATE = date(2024, 3, 2)
SCORED = ("credit_card", "personal_loan", "term_deposit")
N_CUSTOMERS = 400
CHANNEL_COST = {"email": 0.1, "push": 0.05, "sms": 0.2, "phone": 4.0, "branch": 8.0}


def campaign(
    campaign_id: str,
    product: str,
    capacity: int = 10_000,
    control_share: float = 0.2,
    channels=("email", "push", "sms", "phone", "branch"),
    **rules,
) -> Campaign:
    return Campaign(
        campaign_id=campaign_id,
        campaign_name=campaign_id,
        product_code=product,
        offer="offer",
        incentive_eur=0.0,
        start_date=RUN_DATE - timedelta(days=3),
        end_date=RUN_DATE + timedelta(days=10),
        response_window_days=14,
        control_share=control_share,
        min_age=rules.get("min_age"),
        max_age=rules.get("max_age"),
        lifecycle_stages=rules.get("stages", ()),
        channels={ch: (capacity, CHANNEL_COST[ch]) for ch in channels},
    )


@pytest.fixture
def campaigns() -> dict[str, Campaign]:
    return {f"C-{p}": campaign(f"C-{p}", p) for p in SCORED}


@pytest.fixture
def customers() -> pd.DataFrame:
    ids = [f"C{i:07d}" for i in range(N_CUSTOMERS)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "has_marketing_consent": True,
            "age": np.resize([25, 40, 55, 70, 85], N_CUSTOMERS),
            "segment": np.resize(["growing", "mature", "declining", "new", "dormant"], N_CUSTOMERS),
            "contacts_30d": 0,
            "last_contacted_at": pd.NaT,
        }
    )
    for product in PRODUCTS:
        frame[f"has_{product}"] = False
    return frame


@pytest.fixture
def channels(customers) -> pd.DataFrame:
    # Everyone is reachable by e-mail first, then the branch; every 4th customer only at the branch.
    rows = []
    for i, customer in enumerate(customers["customer_id"]):
        if i % 4:
            rows.append((customer, "email", 1))
        rows.append((customer, "branch", 2 if i % 4 else 1))
    return pd.DataFrame(rows, columns=["customer_id", "channel", "channel_rank"])


@pytest.fixture
def scores(customers) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customers["customer_id"],
                    "product_code": product,
                    "propensity": rng.uniform(0.1, 0.5, N_CUSTOMERS),
                    "model_name": f"propensity_{product}",
                    "model_version": "3",
                    "reason_1": "digital_logins_30d=9 (+0.400)",
                    "reason_2": None,
                    "reason_3": None,
                }
            )
            for product in SCORED
        ],
        ignore_index=True,
    )


def build(scores, customers, campaigns, channels, **policy):
    return build_target_lists(scores, customers, RUN_DATE, campaigns, channels, **policy)


def test_columns_value_and_row_ids(scores, customers, campaigns, channels):
    lists, counts = build(scores, customers, campaigns, channels)
    assert list(lists.columns) == list(LIST_COLUMNS)
    gross = lists["propensity"] * lists["product_code"].map(PRODUCT_VALUE)
    cost = lists["channel"].map(CHANNEL_COST)
    np.testing.assert_allclose(lists["expected_value"], gross - cost)
    assert (lists.loc[lists["is_control"], "contact_cost"] == 0).all()
    assert (
        lists.loc[~lists["is_control"], "contact_cost"] == lists.loc[~lists["is_control"], "channel"].map(CHANNEL_COST)
    ).all()
    assert lists["list_row_id"].is_unique
    assert lists["list_row_id"].str.startswith("20240302:").all()
    assert counts["offers"] == 3 * N_CUSTOMERS


def test_each_customer_gets_one_offer_the_best_one(scores, customers, campaigns, channels):
    lists, _ = build(scores, customers, campaigns, channels)
    assert lists["customer_id"].is_unique and len(lists) == N_CUSTOMERS
    value = scores.assign(ev=scores["propensity"] * scores["product_code"].map(PRODUCT_VALUE))
    best = value.sort_values("ev").groupby("customer_id")["product_code"].last()
    chosen = lists.set_index("customer_id")["product_code"]
    # Branch-only customers pay 8 EUR a contact, which can change the best offer only when values are close.
    agree = (chosen.sort_index() == best.sort_index()).mean()
    assert agree > 0.97


@pytest.mark.parametrize("reason", EXCLUSION_REASONS[1:8])
def test_every_warehouse_eligibility_rule_keeps_customers_off_the_lists(reason, scores, customers, campaigns, channels):
    """customer_product_gaps' rules (churned, consent, age band, income, balance, complaint) reach the lists."""
    gaps = scores[["customer_id", "product_code"]].assign(ineligibility_reason=None)
    barred = customers["customer_id"].iloc[:25]
    gaps.loc[gaps["customer_id"].isin(barred), "ineligibility_reason"] = reason
    lists, counts = build(scores, customers, campaigns, channels, eligibility=gaps)
    assert set(lists["customer_id"]).isdisjoint(barred)
    assert counts[reason] == 25 * len(SCORED)
    assert len(lists) == N_CUSTOMERS - 25


def test_a_held_product_has_no_gap_and_is_not_offered(scores, customers, campaigns, channels):
    gaps = scores[["customer_id", "product_code"]].assign(ineligibility_reason=None)
    holders = customers["customer_id"].iloc[:10]
    gaps = gaps.loc[~(gaps["customer_id"].isin(holders) & (gaps["product_code"] == "credit_card"))]
    lists, counts = build(scores, customers, campaigns, channels, eligibility=gaps)
    listed = lists.set_index("customer_id")
    assert (listed.loc[listed.index.isin(holders), "product_code"] != "credit_card").all()
    assert set(holders) <= set(listed.index)  # offered their next-best product instead
    assert counts["holds_product"] == 10


def test_consent_and_do_not_contact(scores, customers, campaigns, channels):
    customers.loc[:9, "has_marketing_consent"] = False
    blocked = {"C0000100", "C0000200"}
    lists, counts = build(scores, customers, campaigns, channels, do_not_contact=blocked)
    assert set(lists["customer_id"]).isdisjoint(set(customers.loc[:9, "customer_id"]) | blocked)
    assert counts["no_marketing_consent"] == 30 and counts["do_not_contact"] == 6


def test_campaign_rules_age_band_and_lifecycle_stages(scores, customers, channels):
    campaigns = {
        "YOUNG": campaign("YOUNG", "credit_card", min_age=18, max_age=60),
        "GROW": campaign("GROW", "term_deposit", stages=("growing", "new")),
    }
    lists, counts = build(scores, customers, campaigns, channels)
    ages = customers.set_index("customer_id")["age"]
    stages = customers.set_index("customer_id")["segment"]
    young = lists.loc[lists["campaign_id"] == "YOUNG", "customer_id"]
    grow = lists.loc[lists["campaign_id"] == "GROW", "customer_id"]
    assert (ages[young] <= 60).all()
    assert stages[grow].isin(["growing", "new"]).all()
    assert counts["campaign_age_rule"] == (customers["age"] > 60).sum()
    assert counts["campaign_lifecycle_rule"] == (~customers["segment"].isin(["growing", "new"])).sum()


def test_frequency_cap_and_cooldown(scores, customers, campaigns, channels):
    run_day = pd.Timestamp(RUN_DATE, tz="UTC")
    customers.loc[0:4, "contacts_30d"] = 2  # at the cap
    customers.loc[5:9, "contacts_30d"] = 1  # below it
    customers["last_contacted_at"] = pd.Series(pd.NaT, index=customers.index, dtype="datetime64[ns, UTC]")
    customers.loc[10, "last_contacted_at"] = run_day - pd.Timedelta(days=1)
    customers.loc[11, "last_contacted_at"] = run_day - pd.Timedelta(days=6) + pd.Timedelta(hours=23)
    customers.loc[12, "last_contacted_at"] = run_day - pd.Timedelta(days=7) + pd.Timedelta(hours=23, minutes=59)
    lists, counts = build(scores, customers, campaigns, channels, max_contacts_30d=2, cooldown_days=7)
    listed = set(lists["customer_id"])
    assert listed.isdisjoint(customers.loc[0:4, "customer_id"])
    assert set(customers.loc[5:9, "customer_id"]) <= listed
    assert {"C0000010", "C0000011"}.isdisjoint(listed) and "C0000012" in listed
    assert counts["frequency_cap"] == 15 and counts["cooldown"] == 6


def test_controls_are_fixed_for_the_campaign_and_never_contacted_by_it(scores, customers, campaigns, channels):
    """A customer's control status is a function of campaign and customer: the same on every day."""
    lists, _ = build(scores, customers, campaigns, channels)
    expected = [is_control(c, k, 0.2) for c, k in zip(lists["campaign_id"], lists["customer_id"])]
    assert lists["is_control"].tolist() == expected
    share = lists["is_control"].mean()
    assert 0.12 < share < 0.28
    # The next day, with today's lists in the campaign history, nobody re-enters a campaign they are in:
    # today's controls are not contacted by their campaign tomorrow (other campaigns may take them).
    history = lists[["customer_id", "campaign_id"]]
    tomorrow, counts = build_target_lists(
        scores, customers, RUN_DATE + timedelta(days=1), campaigns, channels, campaign_history=history
    )
    pairs = set(zip(history["customer_id"], history["campaign_id"]))
    assert not pairs & set(zip(tomorrow["customer_id"], tomorrow["campaign_id"]))
    assert counts["already_in_campaign"] == len(lists)
    controls = lists.loc[lists["is_control"]]
    again = tomorrow.merge(controls[["customer_id", "campaign_id"]], on=["customer_id", "campaign_id"])
    assert again.empty and len(controls) > 0


def test_control_status_does_not_depend_on_the_day_or_the_list():
    assert is_control("CRED-1", "C0000001", 0.3) == is_control("CRED-1", "C0000001", 0.3)
    flags = [is_control("CRED-1", f"C{i:07d}", 0.3) for i in range(20_000)]
    assert abs(np.mean(flags) - 0.3) < 0.015
    other = [is_control("CRED-2", f"C{i:07d}", 0.3) for i in range(20_000)]
    assert flags != other  # each campaign has its own control group


def test_capacity_per_channel_and_the_customers_own_channel(scores, customers, channels):
    campaigns = {"CC": campaign("CC", "credit_card", capacity=30, control_share=0.25, channels=("email", "branch"))}
    lists, counts = build(scores, customers, campaigns, channels)
    contacted = lists.loc[~lists["is_control"]]
    assert contacted.groupby("channel").size().to_dict() == {"email": 30, "branch": 30}
    prefers = channels.sort_values("channel_rank").groupby("customer_id")["channel"].first()
    branch_only = set(channels.groupby("customer_id").size().loc[lambda n: n == 1].index)
    # E-mail customers get e-mail while it has room; the branch-only customers only ever the branch.
    email = lists.loc[lists["channel"] == "email", "customer_id"]
    assert (prefers[email] == "email").all()
    assert set(lists.loc[lists["customer_id"].isin(branch_only), "channel"]) <= {"branch"}
    # Controls take a place on the list but no capacity.
    assert lists["is_control"].sum() > 0
    assert counts["not_selected"] == N_CUSTOMERS - len(lists)
    for _, offers in lists.groupby("campaign_id"):
        assert offers["rank"].tolist() == list(range(1, len(offers) + 1))


def test_no_reachable_channel_and_offers_not_worth_the_contact(scores, customers, channels):
    campaigns = {"PHONE": campaign("PHONE", "personal_loan", channels=("phone",))}
    lists, counts = build(scores, customers, campaigns, channels)
    assert lists.empty and counts["no_reachable_channel"] == N_CUSTOMERS
    cheap = scores.assign(propensity=0.001)  # 0.001 x 400 EUR = 0.40 EUR < a branch contact's 8 EUR
    lists, _ = build(cheap, customers, {"C": campaign("C", "personal_loan", channels=("branch",))}, channels)
    assert lists.empty


def test_inactive_campaigns_and_empty_scores(scores, customers, campaigns, channels):
    later = {k: Campaign(**{**v.__dict__, "start_date": RUN_DATE + timedelta(days=1)}) for k, v in campaigns.items()}
    assert build(scores, customers, later, channels)[0].empty
    lists, _ = build(scores.iloc[0:0], customers, campaigns, channels)
    assert lists.empty and list(lists.columns) == list(LIST_COLUMNS)


def test_churn_risk_discounts_the_value(scores, customers, campaigns, channels):
    plain, _ = build(scores, customers, campaigns, channels)
    top = plain.iloc[0]
    risk = pd.DataFrame({"customer_id": [top["customer_id"]], "churn_risk": [0.99]})
    adjusted, _ = build(scores, customers, campaigns, channels, churn_risk=risk)
    row = adjusted.set_index("customer_id").loc[top["customer_id"]]
    assert row["expected_value"] < top["expected_value"]


def test_write_target_lists(tmp_path, scores, customers, campaigns, channels):
    import dataclasses
    import functools

    from bankmkt.pseudonyms import customer_keys, write_lookup
    from bankmkt.settings import get_settings

    settings = dataclasses.replace(get_settings(), data_dir=tmp_path)
    pseudonyms = {
        "customer_keys": functools.partial(customer_keys, settings=settings),
        "write_lookup": functools.partial(write_lookup, settings=settings),
    }
    lists, counts = build(scores, customers, campaigns, channels, do_not_contact={"C0000001"})
    everyone = {**campaigns, "C-wealth": campaign("C-wealth", "wealth_management")}
    settings.ensure_pii_key()
    paths = write_target_lists(lists, RUN_DATE, settings, everyone, counts, **pseudonyms)
    expected = {f"target_list_{c}.{ext}" for c in everyone for ext in ("parquet", "csv")} | {
        "data_dictionary.md",
        "customer_keys.parquet",
    }
    assert set(paths) == expected
    written = pd.read_parquet(paths["target_list_C-credit_card.parquet"])
    assert list(written.columns) == list(TARGET_COLUMNS) and "customer_id" not in written.columns
    # The files name customers by pseudonym only; the day's lookup, readable by its owner only, maps them back.
    lookup = pd.read_parquet(paths["customer_keys.parquet"])
    assert paths["customer_keys.parquet"].parent.parent == settings.customer_lookup_root
    assert not paths["customer_keys.parquet"].is_relative_to(settings.outputs_dir)
    assert paths["customer_keys.parquet"].stat().st_mode & 0o777 == 0o600
    assert settings.customer_lookup_root.stat().st_mode & 0o777 == 0o700
    assert written["customer_key"].str.fullmatch(r"P[0-9a-f]{20}").all()
    restored = written.merge(lookup, on="customer_key", how="left").drop(columns="customer_key")
    expected_rows = lists[lists["campaign_id"] == "C-credit_card"].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        restored[expected_rows.columns.drop("customer_id")].assign(customer_id=restored["customer_id"]),
        expected_rows.drop(columns="customer_id").assign(customer_id=expected_rows["customer_id"]),
    )
    every_file = b"".join(path.read_bytes() for name, path in paths.items() if name != "customer_keys.parquet")
    assert not any(customer.encode() in every_file for customer in lists["customer_id"])
    assert pd.read_parquet(paths["target_list_C-wealth.parquet"]).empty
    dictionary = paths["data_dictionary.md"].read_text()
    assert "| do_not_contact | 3 |" in dictionary and "| frequency_cap | 0 |" in dictionary
    rows = lists.loc[lists["campaign_id"] == "C-credit_card"]
    assert f"| target_list_C-credit_card.parquet | {len(rows)} | {(~rows['is_control']).sum()} |" in dictionary
    assert write_target_lists(lists, RUN_DATE, settings, everyone, counts, **pseudonyms) == paths


def test_a_daily_budget_caps_the_contact_costs_and_moves_customers_to_cheaper_channels(customers, channels, scores):
    """Budget 10 EUR, branch 8 EUR and e-mail 0.10 EUR: one branch contact at most, the rest by e-mail,
    never more than the budget; controls cost nothing and are not counted."""
    import dataclasses

    branch_first = channels.assign(channel_rank=np.where(channels["channel"] == "branch", 1, 2))
    unlimited = campaign("C-credit_card", "credit_card", channels=("email", "branch"))
    budgeted = {"C-credit_card": dataclasses.replace(unlimited, daily_budget_eur=10.0)}
    free, _ = build_target_lists(scores, customers, RUN_DATE, {"C-credit_card": unlimited}, branch_first)
    capped, _ = build_target_lists(scores, customers, RUN_DATE, budgeted, branch_first)
    spent = capped.loc[~capped["is_control"], "contact_cost"].sum()
    assert free.loc[~free["is_control"], "contact_cost"].sum() > 100  # without a budget the branch takes many
    assert spent <= 10.0 + 1e-9 and spent > 10.0 - 0.1 - 1e-9  # filled to within one e-mail
    assert (capped.loc[~capped["is_control"], "channel"] == "branch").sum() == 1
    assert (capped.loc[~capped["is_control"], "channel"] == "email").sum() == round((10.0 - 8.0) / 0.1)


def test_the_catalogue_budget_column_is_optional_and_checked(tmp_path):
    from bankmkt.campaigns import CatalogueError, load_catalogue, wave_catalogue, write_catalogue

    path = tmp_path / "catalogue.csv"
    frame = wave_catalogue(RUN_DATE, 14, 10)
    write_catalogue(frame.drop(columns=["daily_budget_eur"]), path)  # an older catalogue without the column
    assert all(c.daily_budget_eur is None for c in load_catalogue(path).values())
    frame["daily_budget_eur"] = "250"
    write_catalogue(frame, path)
    assert {c.daily_budget_eur for c in load_catalogue(path).values()} == {250.0}
    frame.loc[0, "daily_budget_eur"] = "a lot"
    frame.to_csv(path, index=False)
    with pytest.raises(CatalogueError, match="row 1, column daily_budget_eur: 'a lot'"):
        load_catalogue(path)
