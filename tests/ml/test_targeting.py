"""Targeting: next-best offer, every contact-policy rule, list size, control holdout, files."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from ml import PRODUCT_VALUE, PRODUCTS
from ml.targeting import TARGET_COLUMNS, build_target_lists, write_target_lists

RUN_DATE = date(2024, 3, 2)
SCORED = ("credit_card", "personal_loan", "term_deposit")
N_CUSTOMERS = 400


@pytest.fixture
def customers() -> pd.DataFrame:
    ids = [f"cu{i:03d}" for i in range(N_CUSTOMERS)]
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "has_marketing_consent": True,
            "segment": np.resize(["mass", "affluent", "young", "mass", "mass"], N_CUSTOMERS),
            "contacts_30d": 0,
            "last_contacted_at": pd.NaT,
        }
    )
    for product in PRODUCTS:
        frame[f"has_{product}"] = False
    return frame


@pytest.fixture
def scores() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for product in SCORED:
        parts.append(
            pd.DataFrame(
                {
                    "customer_id": [f"cu{i:03d}" for i in range(N_CUSTOMERS)],
                    "product_code": product,
                    "propensity": rng.uniform(0.01, 0.5, N_CUSTOMERS),
                    "model_name": f"propensity_{product}",
                    "model_version": "3",
                    "score_date": RUN_DATE,
                    "reason_1": "digital_logins_30d=9 (+0.400)",
                    "reason_2": None,
                    "reason_3": None,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def build(scores, customers, list_size=10_000, control_share=0.0, seed=1, **policy) -> pd.DataFrame:
    return build_target_lists(scores, customers, RUN_DATE, list_size, control_share, seed, **policy)


def best_offer(scores: pd.DataFrame) -> pd.Series:
    value = scores["propensity"] * scores["product_code"].map(PRODUCT_VALUE)
    return scores.assign(ev=value).sort_values("ev").groupby("customer_id")["product_code"].last()


def test_columns_and_expected_value(scores, customers):
    lists = build(scores, customers)
    assert list(lists.columns) == list(TARGET_COLUMNS)
    expected = lists["propensity"] * lists["product_code"].map(PRODUCT_VALUE)
    np.testing.assert_allclose(lists["expected_value"], expected)
    assert (lists["run_date"] == RUN_DATE).all()
    assert (lists["model_version"] == "3").all()
    assert lists["reason_1"].notna().all()


def test_each_customer_gets_the_offer_with_highest_expected_value(scores, customers):
    lists = build(scores, customers)
    assert lists["customer_id"].is_unique
    assert len(lists) == N_CUSTOMERS
    chosen = lists.set_index("customer_id")["product_code"].sort_index()
    pd.testing.assert_series_equal(chosen, best_offer(scores).sort_index(), check_names=False)


def test_no_consent_is_never_contacted(scores, customers):
    customers.loc[:9, "has_marketing_consent"] = False
    customers["has_marketing_consent"] = customers["has_marketing_consent"].astype(object)
    customers.loc[10:14, "has_marketing_consent"] = None
    listed = set(build(scores, customers)["customer_id"])
    assert listed.isdisjoint(customers.loc[:14, "customer_id"])
    assert len(listed) == N_CUSTOMERS - 15


def test_do_not_contact_list_is_respected(scores, customers):
    blocked = {"cu001", "cu200", "cu399"}
    listed = set(build(scores, customers, do_not_contact=blocked)["customer_id"])
    assert listed.isdisjoint(blocked)
    assert len(listed) == N_CUSTOMERS - 3


def test_frequency_cap_over_30_days(scores, customers):
    customers.loc[0:4, "contacts_30d"] = 2  # at the cap
    customers.loc[5:9, "contacts_30d"] = 1  # below it
    listed = set(build(scores, customers, max_contacts_30d=2)["customer_id"])
    assert listed.isdisjoint(customers.loc[0:4, "customer_id"])
    assert set(customers.loc[5:9, "customer_id"]) <= listed


def test_cooldown_since_last_contact(scores, customers):
    run_day = pd.Timestamp(RUN_DATE, tz="UTC")
    customers["last_contacted_at"] = pd.Series(pd.NaT, index=customers.index, dtype="datetime64[ns, UTC]")
    customers.loc[0, "last_contacted_at"] = run_day - pd.Timedelta(days=1)
    # Calendar days count: contacted late on D-6 is 6 days ago, early on D-7 is 7 days ago.
    customers.loc[1, "last_contacted_at"] = run_day - pd.Timedelta(days=6) + pd.Timedelta(hours=23)
    customers.loc[2, "last_contacted_at"] = run_day - pd.Timedelta(days=7) + pd.Timedelta(hours=23, minutes=59)
    customers.loc[3, "last_contacted_at"] = run_day - pd.Timedelta(days=40)
    listed = set(build(scores, customers, cooldown_days=7)["customer_id"])
    assert {"cu000", "cu001"}.isdisjoint(listed)
    assert {"cu002", "cu003"} <= listed


def test_holders_are_excluded_from_their_product_but_offered_the_next_best(scores, customers):
    credit_card_fans = best_offer(scores).loc[lambda s: s == "credit_card"].index[:10]
    customers.loc[customers["customer_id"].isin(credit_card_fans), "has_credit_card"] = True
    lists = build(scores, customers).set_index("customer_id")
    assert set(credit_card_fans) <= set(lists.index)
    assert (lists.loc[credit_card_fans, "product_code"] != "credit_card").all()


def test_missing_holding_flag_is_an_error(scores, customers):
    with pytest.raises(ValueError, match="has_personal_loan"):
        build(scores, customers.drop(columns="has_personal_loan"))


def test_list_keeps_the_top_offers_of_each_product(scores, customers):
    everyone = build(scores, customers)
    top = build(scores, customers, list_size=20)
    assert top.groupby("product_code").size().max() == 20
    for product, offers in top.groupby("product_code"):
        assert offers["rank"].tolist() == list(range(1, len(offers) + 1))
        assert offers["expected_value"].is_monotonic_decreasing
        expected = everyone[everyone["product_code"] == product].nlargest(20, "expected_value")
        assert set(offers["customer_id"]) == set(expected["customer_id"])


def test_control_share_is_exact_per_product_and_stratified_by_segment(scores, customers):
    lists = build(scores, customers, list_size=90, control_share=0.2, seed=5)
    for product, offers in lists.groupby("product_code"):
        assert offers["is_control"].sum() == int(np.floor(0.2 * len(offers) + 0.5))
        for segment, group in offers.groupby("segment"):
            assert abs(group["is_control"].sum() - 0.2 * len(group)) <= 1, (product, segment)


def test_control_holdout_is_deterministic_with_the_seed(scores, customers):
    first = build(scores, customers, list_size=90, control_share=0.2, seed=5)
    again = build(scores, customers, list_size=90, control_share=0.2, seed=5)
    other = build(scores, customers, list_size=90, control_share=0.2, seed=6)
    pd.testing.assert_frame_equal(first, again)
    assert not first["is_control"].equals(other["is_control"])
    assert first.drop(columns="is_control").equals(other.drop(columns="is_control"))


def test_without_segments_the_control_share_still_holds(scores, customers):
    lists = build(scores, customers.drop(columns="segment"), list_size=50, control_share=0.1)
    assert lists["segment"].isna().all()
    for product, offers in lists.groupby("product_code"):
        assert offers["is_control"].sum() == int(np.floor(0.1 * len(offers) + 0.5)), product
    assert lists.groupby("product_code").size().max() == 50


def test_no_control_and_invalid_share(scores, customers):
    assert not build(scores, customers, control_share=0.0)["is_control"].any()
    with pytest.raises(ValueError):
        build(scores, customers, control_share=1.0)


def test_empty_scores_give_an_empty_list(scores, customers):
    lists = build(scores.iloc[0:0], customers)
    assert lists.empty and list(lists.columns) == list(TARGET_COLUMNS)


def test_write_target_lists(tmp_path, monkeypatch, scores, customers):
    from bankmkt.settings import get_settings

    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    lists = build(scores, customers, list_size=30, control_share=0.1)
    paths = write_target_lists(lists, RUN_DATE)
    folder = get_settings().outputs_dir / "target_lists" / "dt=2024-03-02"
    expected = {f"target_list_{p}.{ext}" for p in PRODUCTS for ext in ("parquet", "csv")} | {"data_dictionary.md"}
    assert set(paths) == expected
    assert {p.name for p in folder.iterdir()} == expected
    written = pd.read_parquet(paths["target_list_credit_card.parquet"])
    pd.testing.assert_frame_equal(written, lists[lists["product_code"] == "credit_card"].reset_index(drop=True))
    assert len(pd.read_csv(paths["target_list_credit_card.csv"])) == 30
    assert pd.read_parquet(paths["target_list_wealth_management.parquet"]).empty
    dictionary = paths["data_dictionary.md"].read_text()
    assert "is_control" in dictionary and "| target_list_credit_card.parquet | 30 | 27 | 3 |" in dictionary
    # Rerunning the day overwrites the same files.
    assert write_target_lists(lists, RUN_DATE) == paths
