"""The contact policy's history is a dbt model: what earlier contacts the policy counts, as of the run date.

int_customer_contacts_unioned gathers every contact made or decided (published list rows and landed
contacts); customer_contact_history has one row per contacted customer, customer_campaign_history one
per customer and campaign entered. The unit test beside the model checks the rules on fixed rows
(an executed list row counts once, a list of the run date itself does not count yet); these tests
check the grain on the small bank, and that published lists reach the history through the customers'
pseudonyms as bankmkt.pseudonyms computes them.
"""

from __future__ import annotations

import shutil
from datetime import timedelta

import pandas as pd
import pytest

pytestmark = pytest.mark.slow_warehouse

CAMPAIGN = "TEST_CAMPAIGN"


def _histories(small_bank, settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    with small_bank.connect(settings) as con:
        return (
            con.execute("select * from customer_contact_history").df(),
            con.execute("select * from customer_campaign_history").df(),
        )


def test_one_row_per_contacted_customer_and_per_customer_and_campaign(full_refresh_warehouse, small_bank):
    """Without published lists, the history is the landed contacts through the end of the run date."""
    with small_bank.connect(full_refresh_warehouse) as con:
        contacts = con.execute(
            "select customer_id, campaign_id, is_control, contacted_at from stg_core_banking__campaign_contacts"
        ).df()
    history, entered = _histories(small_bank, full_refresh_warehouse)
    day = pd.Timestamp(small_bank.last_day)
    contacts = contacts.loc[contacts["contacted_at"] < day + pd.Timedelta(days=1)]
    treated = contacts.loc[~contacts["is_control"]]

    assert history["customer_id"].is_unique and len(history) == treated["customer_id"].nunique() > 50
    assert set(pd.to_datetime(history["as_of_date"]).dt.date) == {small_bank.last_day}
    history = history.set_index("customer_id").sort_index()
    recent = treated.loc[treated["contacted_at"] >= day - pd.Timedelta(days=29)].groupby("customer_id").size()
    assert (history["contacts_30d"] == recent.reindex(history.index, fill_value=0)).all()
    assert (history["last_contacted_at"] == treated.groupby("customer_id")["contacted_at"].max()).all()

    assert not entered.duplicated(["customer_id", "campaign_id"]).any()
    pairs = contacts.groupby(["customer_id", "campaign_id"])["is_control"].any()
    assert len(entered) == len(pairs)
    assert (entered.set_index(["customer_id", "campaign_id"])["is_held_out"].sort_index() == pairs.sort_index()).all()


def test_published_lists_count_from_their_run_date_through_the_customers_pseudonyms(
    full_refresh_warehouse, small_bank, tmp_path
):
    """A list of the day before: its treated customer gains a contact dated that day, its held-out customer
    enters the campaign as a control; both are found by pseudonym (customer_key) alone."""
    from bankmkt.pseudonyms import customer_keys

    settings = small_bank.data_dir(tmp_path / "lists")
    shutil.copyfile(full_refresh_warehouse.warehouse_path, settings.warehouse_path)
    before, _ = _histories(small_bank, settings)
    before = before.set_index("customer_id")["contacts_30d"]
    treated, control = sorted(before.index)[:2]  # customers with a contact history: the list adds to it
    listed_on = small_bank.last_day - timedelta(days=1)
    keys = customer_keys(pd.Series([treated, control]), settings)
    lists = pd.DataFrame(
        {
            "run_date": [listed_on, listed_on],
            "list_row_id": [f"{listed_on:%Y%m%d}:{CAMPAIGN}:1", f"{listed_on:%Y%m%d}:{CAMPAIGN}:2"],
            "campaign_id": CAMPAIGN,
            "product_code": "credit_card",
            "offer": "test offer",
            "channel": "email",
            "customer_key": keys.to_list(),
            "rank": [1, 2],
            "propensity": 0.2,
            "uplift": 0.05,
            "expected_value": 10.0,
            "contact_cost": [0.1, 0.0],
            "is_control": [False, True],
            "segment": "mature",
            "model_version": "1",
            "reason_1": "income_90d",
            "reason_2": "tenure_days",
            "reason_3": "age",
        }
    )
    folder = settings.outputs_dir / "target_lists" / f"dt={listed_on.isoformat()}"
    folder.mkdir(parents=True)
    lists.to_parquet(folder / f"target_list_{CAMPAIGN}.parquet", index=False)

    small_bank.dbt(settings, ["build", "--select", "fct_target_lists", "--vars", f"{{run_date: '{listed_on}'}}"])
    built = small_bank.dbt(
        settings,
        ["build", "--select", "int_customer_contacts_unioned+", "--vars", f"{{run_date: '{small_bank.last_day}'}}"],
    )
    assert built["failures"] == []

    history, entered = _histories(small_bank, settings)
    history = history.set_index("customer_id")
    assert history.loc[treated, "contacts_30d"] == before[treated] + 1
    assert history.loc[treated, "last_contacted_at"] >= pd.Timestamp(listed_on)
    assert history.loc[control, "contacts_30d"] == before[control]  # a control is never a contact
    entered = entered.loc[entered["campaign_id"] == CAMPAIGN].set_index("customer_id")["is_held_out"]
    assert entered.to_dict() == {treated: False, control: True}
