"""From scores to campaign target lists: contact policy, next-best offer, channel, capacity, controls.

Each campaign of marketing's catalogue (a :class:`Campaign`) active on D offers its
product. An offer (customer x campaign) survives the contact policy when it passes every
rule, checked in this order; the first rule an offer fails is counted as its exclusion
reason (:data:`EXCLUSION_REASONS`):

* the warehouse's eligibility rules (``customer_product_gaps``): the customer does not
  hold the product, has not churned, gave marketing consent, is within the product's
  age band, income and balance minimums, and has no complaint in the last 90 days;
* not on the bank's do-not-contact list;
* the campaign's own rules (age band, life-cycle stages);
* not already in the campaign (listed before, as a contact or a control: a customer
  enters a campaign once, so a control stays a control for the campaign's life);
* fewer than ``max_contacts_30d`` contacts in 30 days and at least ``cooldown_days``
  since the last one, where a published list row counts as a contact from the day it
  is published (what was executed is matched to its list row and not counted twice);
* one of the campaign's channels reaches the customer.

The expected value of an offer is ``propensity x value per conversion x (1 - churn risk)
- cost of the contact`` under propensity targeting, and ``uplift x value per conversion x
(1 - churn risk) - cost`` under uplift targeting (what the contact adds, :mod:`ml.uplift`). Offers are taken by expected value, each customer at most once
(next-best offer), each through the first channel of the customer's own preference
(``customer_contact_channels``) that the campaign uses and that has capacity left that
day; offers worth nothing after the contact's cost are not made. Whether a selected
customer is held out is the campaign's own rule (:meth:`Campaign.holds_out`): fixed for the
campaign and customer, never re-drawn. A control takes a list place but no channel capacity.

The lists leave the platform under pseudonyms: :func:`published_lists` and
:func:`write_target_lists` are handed the platform's pseudonymiser (``customer_keys``) and
the writer of the day's lookup back to the customer number (``write_lookup``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from ml import PRODUCTS, REASON_COLUMNS, flag_is_set, holding_flag, product_value
from ml.runtime import parse_run_date, write_atomically

log = logging.getLogger(__name__)


class Campaign(Protocol):
    """What targeting reads of a campaign of marketing's catalogue (the platform's campaign record)."""

    campaign_id: str
    product_code: str
    offer: str
    min_age: int | None
    max_age: int | None
    lifecycle_stages: tuple[str, ...]
    channels: dict[str, tuple[int, float]]  # channel -> (daily capacity, cost per contact)
    daily_budget_eur: float | None  # contact costs a day may not exceed it; None: capacity only

    def is_active(self, day: date) -> bool: ...

    def holds_out(self, customer_id: str) -> bool:
        """Whether the customer is in the campaign's control group (the same answer for the campaign's life)."""
        ...


# Customer numbers -> their pseudonymous customer keys (the platform's pseudonymiser).
CustomerKeys = Callable[[pd.Series], pd.Series]
# (customer numbers, their keys, D) -> the file of D's lookup from key back to customer number.
LookupWriter = Callable[[pd.Series, pd.Series, date], Path]

# The columns of a published list. ``customer_key`` is the customer's pseudonym; the lists
# built here carry ``customer_id`` in its place (:data:`LIST_COLUMNS`) until
# :func:`published_lists` swaps it.
TARGET_COLUMNS: tuple[str, ...] = (
    "run_date",
    "list_row_id",
    "campaign_id",
    "product_code",
    "offer",
    "channel",
    "customer_key",
    "rank",
    "propensity",
    "uplift",
    "expected_value",
    "contact_cost",
    "is_control",
    "segment",
    *REASON_COLUMNS,
    "model_name",
    "model_version",
)
LIST_COLUMNS: tuple[str, ...] = tuple("customer_id" if c == "customer_key" else c for c in TARGET_COLUMNS)

# Why an offer was not made, in the order the rules are checked (the first failed rule counts).
EXCLUSION_REASONS: tuple[str, ...] = (
    "holds_product",
    "churned",
    "no_marketing_consent",
    "below_min_age",
    "above_max_age",
    "income_below_minimum",
    "balance_below_minimum",
    "recent_complaint",
    "do_not_contact",
    "campaign_age_rule",
    "campaign_lifecycle_rule",
    "already_in_campaign",
    "frequency_cap",
    "cooldown",
    "no_reachable_channel",
)

DATA_DICTIONARY = """# Target lists, {run_date}

One file per campaign active today (`target_list_<campaign_id>.parquet`, and the same
rows as `.csv`). One row per customer selected for the campaign today; a customer
appears in at most one campaign's list (next-best offer).

| column | meaning |
|---|---|
| run_date | logical date of the daily run that built the list (YYYY-MM-DD); the channels execute it the next day |
| list_row_id | this row's reference: an executed contact names it, so responses find their way back |
| campaign_id | campaign of marketing's catalogue (reference/campaign_catalogue.csv) |
| product_code | product the campaign promotes |
| offer | what the customer is offered |
| channel | the channel to use for this customer: the first of the customer's own channels (app, e-mail, phone, branch activity) that the campaign uses and that had capacity |
| customer_key | the customer's pseudonym (not the customer number); the marketing tool that executes the list maps it back through the access-controlled customer lookup (`CUSTOMER_LOOKUP_DIR`, one file per day) |
| rank | 1 = best offer of the campaign's list, by expected value |
| propensity | calibrated probability that the customer converts within the response window if contacted |
| uplift | what the contact adds to the conversion probability (uplift champion, `ml.uplift`); empty under propensity targeting |
| expected_value | propensity (uplift under uplift targeting) x value of one conversion (EUR) x (1 - churn risk) - contact_cost |
| contact_cost | cost of contacting this customer through `channel` (EUR); 0 for controls |
| is_control | true: the campaign's control group, **do not contact** (measures uplift); fixed for the campaign's life |
| segment | life-cycle stage of the customer on the run date |
| reason_1, reason_2, reason_3 | the features that raise the propensity most, as `feature=value (+contribution to the log-odds)` |
| model_name, model_version | registered MLflow model (champion) that produced the propensity |

Contact policy applied (offers excluded today, by the first rule each failed):

| rule | offers excluded |
|---|---|
{exclusions}

| file | rows | contact | control | channels |
|---|---|---|---|---|
{counts}
"""


def _campaign_offers(scores: pd.DataFrame, campaigns: dict[str, Campaign]) -> pd.DataFrame:
    rows = [
        {
            "campaign_id": c.campaign_id,
            "product_code": c.product_code,
            "offer": c.offer,
            "min_age": c.min_age,
            "max_age": c.max_age,
            "stages": c.lifecycle_stages,
        }
        for c in campaigns.values()
    ]
    catalogue = pd.DataFrame(rows, columns=["campaign_id", "product_code", "offer", "min_age", "max_age", "stages"])
    return scores.merge(catalogue, on="product_code", how="inner")


def exclusion_reasons(
    offers: pd.DataFrame,
    run_date,
    eligibility: pd.DataFrame | None = None,
    do_not_contact: set | None = None,
    campaign_history: pd.DataFrame | None = None,
    max_contacts_30d: int = 2,
    cooldown_days: int = 7,
) -> pd.Series:
    """The first contact-policy rule each offer fails (None: the offer may be made).

    ``offers`` has ``customer_id``, ``product_code``, ``campaign_id``, the campaign's
    ``min_age``/``max_age``/``stages``, and the customer's ``has_<product>`` flags,
    ``has_marketing_consent``, ``age``, ``segment``, ``contacts_30d`` and
    ``last_contacted_at``. ``eligibility`` is D's ``customer_product_gaps``
    (``customer_id``, ``product_code``, ``ineligibility_reason``; a held product has no
    row); without it only consent is checked. ``campaign_history`` holds
    (``customer_id``, ``campaign_id``) pairs already listed or contacted.
    """
    run_day = pd.Timestamp(parse_run_date(run_date))
    reason = pd.Series(None, index=offers.index, dtype=object)

    def apply(name: str, failed: pd.Series) -> None:
        reason.loc[reason.isna() & failed.fillna(False).astype(bool)] = name

    holds = pd.Series(False, index=offers.index)
    for product_code in offers["product_code"].unique():
        flag = holding_flag(product_code)
        if flag in offers.columns:
            holds |= (offers["product_code"] == product_code) & flag_is_set(offers[flag])
    apply("holds_product", holds)
    if eligibility is not None:
        gaps = eligibility[["customer_id", "product_code", "ineligibility_reason"]].assign(_gap=True)
        checked = offers[["customer_id", "product_code"]].merge(gaps, on=["customer_id", "product_code"], how="left")
        checked.index = offers.index
        apply("holds_product", checked["_gap"].isna())  # no gap: the customer holds the product
        for name in EXCLUSION_REASONS[1:8]:
            apply(name, checked["ineligibility_reason"] == name)
    else:
        apply("no_marketing_consent", ~flag_is_set(offers["has_marketing_consent"]))
    if do_not_contact:
        apply("do_not_contact", offers["customer_id"].isin(do_not_contact))
    if "age" in offers.columns:
        age = pd.to_numeric(offers["age"], errors="coerce")
        too_young = offers["min_age"].notna() & (age < offers["min_age"].astype(float))
        too_old = offers["max_age"].notna() & (age > offers["max_age"].astype(float))
        apply("campaign_age_rule", too_young | too_old)
    if "segment" in offers.columns:
        outside = pd.Series(False, index=offers.index)
        for stages, rows in offers.groupby(offers["stages"].map(tuple), sort=False).groups.items():
            if stages:
                outside.loc[rows] = ~offers.loc[rows, "segment"].isin(stages)
        apply("campaign_lifecycle_rule", outside)
    if campaign_history is not None and not campaign_history.empty:
        listed = campaign_history[["customer_id", "campaign_id"]].drop_duplicates().assign(_listed=True)
        already = offers[["customer_id", "campaign_id"]].merge(listed, on=["customer_id", "campaign_id"], how="left")
        apply("already_in_campaign", pd.Series(already["_listed"].notna().to_numpy(), index=offers.index))
    if "contacts_30d" in offers.columns:
        apply("frequency_cap", offers["contacts_30d"].fillna(0) >= max_contacts_30d)
    if "last_contacted_at" in offers.columns:
        last = pd.to_datetime(offers["last_contacted_at"], utc=True).dt.tz_localize(None).dt.normalize()
        apply("cooldown", last.notna() & ((run_day - last).dt.days < cooldown_days))
    return reason


def build_target_lists(
    scores: pd.DataFrame,
    customers: pd.DataFrame,
    run_date,
    campaigns: dict[str, Campaign],
    channels: pd.DataFrame,
    eligibility: pd.DataFrame | None = None,
    campaign_history: pd.DataFrame | None = None,
    do_not_contact: set | None = None,
    churn_risk: pd.DataFrame | None = None,
    max_contacts_30d: int = 2,
    cooldown_days: int = 7,
    policy: str = "propensity",
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Target lists of D for the campaigns active on D, and the offers excluded per rule.

    ``scores`` holds every product's scores (:func:`ml.scoring.score_customers`);
    ``customers`` one row per customer (see :func:`exclusion_reasons`); ``channels`` the
    channels that reach each customer with their ``channel_rank`` (1 = preferred);
    ``churn_risk`` (``customer_id``, ``churn_risk``) discounts the value of an offer.
    ``policy="uplift"`` values an offer by what the contact adds, ``uplift x value``
    (``scores`` then carry an ``uplift`` column, :mod:`ml.uplift`), instead of
    ``propensity x value``: a customer who buys anyway is not worth a contact.
    Returns :data:`LIST_COLUMNS` sorted by campaign and rank, and ``{reason: offers}``
    over :data:`EXCLUSION_REASONS` plus ``offers`` (all candidate offers) and
    ``not_selected`` (eligible offers left out by capacity, value or a better offer).
    """
    run_day = parse_run_date(run_date)
    active = {cid: c for cid, c in campaigns.items() if c.is_active(run_day)}
    counts = dict.fromkeys(EXCLUSION_REASONS, 0)
    empty = pd.DataFrame(columns=list(LIST_COLUMNS))
    if scores.empty or not active:
        return empty, {**counts, "offers": 0, "not_selected": 0}

    offers = _campaign_offers(scores.drop(columns=[c for c in ("segment",) if c in scores.columns]), active)
    offers = offers.merge(
        customers.drop_duplicates("customer_id"), on="customer_id", how="inner", suffixes=("", "_customer")
    )
    offers = offers.loc[offers["propensity"].notna()].reset_index(drop=True)
    reasons = exclusion_reasons(
        offers, run_day, eligibility, do_not_contact, campaign_history, max_contacts_30d, cooldown_days
    )

    # Channels: each customer's reachable channels in preference order, kept where the campaign uses them.
    campaign_channels = pd.DataFrame(
        [(cid, ch) for cid, c in active.items() for ch in c.channels], columns=["campaign_id", "channel"]
    )
    reachable = (
        channels[["customer_id", "channel", "channel_rank"]]
        .merge(campaign_channels, on="channel")
        .sort_values(["customer_id", "campaign_id", "channel_rank"], kind="stable")
    )
    # Each (customer, campaign) pair's channels are a slice [start, start + count) of channel_order.
    channel_order = reachable["channel"].to_numpy()
    pair_customer, pair_campaign = reachable["customer_id"].to_numpy(), reachable["campaign_id"].to_numpy()
    first = np.ones(len(reachable), dtype=bool)
    first[1:] = (pair_customer[1:] != pair_customer[:-1]) | (pair_campaign[1:] != pair_campaign[:-1])
    starts = np.flatnonzero(first)
    pairs = pd.DataFrame(
        {
            "customer_id": pair_customer[starts],
            "campaign_id": pair_campaign[starts],
            "_start": starts,
            "_count": np.diff(np.append(starts, len(reachable))),
        }
    )
    usable_frame = offers[["customer_id", "campaign_id"]].merge(pairs, on=["customer_id", "campaign_id"], how="left")
    no_channel = usable_frame["_start"].isna().to_numpy()
    usable_start = usable_frame["_start"].fillna(0).astype(np.int64).to_numpy()
    usable_count = usable_frame["_count"].fillna(0).astype(np.int64).to_numpy()
    reasons.loc[reasons.isna() & no_channel] = "no_reachable_channel"
    for reason, n in reasons.value_counts().items():
        counts[reason] = int(n)
    allowed = reasons.isna().to_numpy()

    if policy not in ("propensity", "uplift"):
        raise ValueError(f"policy={policy!r}: propensity or uplift")
    per_conversion = offers["product_code"].map({p: product_value(p) for p in offers["product_code"].unique()})
    value = offers["uplift" if policy == "uplift" else "propensity"] * per_conversion
    if churn_risk is not None and not churn_risk.empty:
        risk = churn_risk.drop_duplicates("customer_id").set_index("customer_id")["churn_risk"]
        value = value * (1.0 - offers["customer_id"].map(risk).fillna(0.0).clip(0.0, 1.0))
    offers["gross_value"] = value

    # Greedy by value: each customer once, the first preferred channel with capacity left.
    remaining = {(cid, ch): capacity for cid, c in active.items() for ch, (capacity, _) in c.channels.items()}
    budget_left = {cid: c.daily_budget_eur for cid, c in active.items()}  # None: no budget, capacity only
    cheapest = {cid: min(cost for _, cost in c.channels.values()) for cid, c in active.items()}
    open_campaigns = {cid for cid, c in active.items() if any(remaining[(cid, ch)] > 0 for ch in c.channels)}
    order = np.argsort(-offers["gross_value"].to_numpy(), kind="stable")
    taken: set[str] = set()
    chosen_rows, chosen_channel, chosen_cost, chosen_control = [], [], [], []
    customer_ids = offers["customer_id"].to_numpy()
    campaign_ids = offers["campaign_id"].to_numpy()
    gross = offers["gross_value"].to_numpy()
    for i in order:
        if not open_campaigns:
            break
        if not allowed[i] or customer_ids[i] in taken or campaign_ids[i] not in open_campaigns:
            continue
        campaign = active[campaign_ids[i]]
        for channel in channel_order[usable_start[i] : usable_start[i] + usable_count[i]]:
            if remaining[(campaign.campaign_id, channel)] <= 0:
                continue
            cost = campaign.channels[channel][1]
            if gross[i] - cost <= 0:
                break  # not worth a contact through the preferred channel with room
            control = campaign.holds_out(customer_ids[i])
            budget = budget_left[campaign.campaign_id]
            if not control and budget is not None and cost > budget + 1e-9:
                continue  # the day's budget no longer pays for this channel: a cheaper one may
            if not control:
                remaining[(campaign.campaign_id, channel)] -= 1
                if budget is not None:
                    budget_left[campaign.campaign_id] = budget - cost
                if all(remaining[(campaign.campaign_id, ch)] <= 0 for ch in campaign.channels) or (
                    budget is not None and budget - cost < cheapest[campaign.campaign_id] - 1e-9
                ):
                    open_campaigns.discard(campaign.campaign_id)
            taken.add(customer_ids[i])
            chosen_rows.append(i)
            chosen_channel.append(channel)
            chosen_cost.append(0.0 if control else cost)
            chosen_control.append(control)
            break
    counts["offers"] = len(offers)
    counts["not_selected"] = int(allowed.sum()) - len(chosen_rows)
    if not chosen_rows:
        return empty, counts

    target_list = offers.iloc[chosen_rows].copy()
    target_list["channel"] = chosen_channel
    target_list["contact_cost"] = chosen_cost
    target_list["is_control"] = chosen_control
    # A control is valued as if contacted: it stands for what the contact would have been.
    listed_cost = [active[c].channels[ch][1] for c, ch in zip(target_list["campaign_id"], chosen_channel)]
    target_list["expected_value"] = target_list["gross_value"] - np.asarray(listed_cost)
    target_list["rank"] = target_list.groupby("campaign_id").cumcount() + 1
    target_list["run_date"] = run_day
    # Day, campaign and rank: unique, and nothing of the customer in the reference.
    target_list["list_row_id"] = [
        f"{run_day:%Y%m%d}:{c}:{r}" for c, r in zip(target_list["campaign_id"], target_list["rank"])
    ]
    if "segment" not in target_list.columns:
        target_list["segment"] = None
    if "uplift" not in target_list.columns:  # propensity targeting: no uplift model scored the offer
        target_list["uplift"] = np.nan
    for column in (*REASON_COLUMNS, "model_name", "model_version"):
        if column not in target_list.columns:
            target_list[column] = None
    log.info(
        "target lists for %s: %s offers, %s selected, excluded %s",
        run_day,
        len(offers),
        len(chosen_rows),
        {k: v for k, v in counts.items() if v},
    )
    return (
        target_list[list(LIST_COLUMNS)].sort_values(["campaign_id", "rank"], kind="stable").reset_index(drop=True),
        counts,
    )


def published_lists(target_list: pd.DataFrame, customer_keys: CustomerKeys) -> pd.DataFrame:
    """The lists as they leave the platform: :data:`TARGET_COLUMNS`, the customer number replaced
    by its pseudonymous ``customer_key`` (``customer_keys(customer_ids)``, the platform's pseudonymiser)."""
    published = target_list.assign(customer_key=customer_keys(target_list["customer_id"]))
    return published[list(TARGET_COLUMNS)]


def write_target_lists(
    target_list: pd.DataFrame,
    run_date,
    settings,
    campaigns: dict[str, Campaign],
    exclusions: dict[str, int] | None = None,
    published: pd.DataFrame | None = None,
    *,
    customer_keys: CustomerKeys | None = None,
    write_lookup: LookupWriter,
) -> dict[str, Path]:
    """Write each active campaign's list as Parquet and CSV, plus ``data_dictionary.md``, for day D.

    Files go to ``settings.target_list_dir(D)``; every campaign active on D gets a file
    (empty when nobody is targeted). ``target_list`` is :func:`build_target_lists`'s (with
    ``customer_id``); the files carry the pseudonymous ``customer_key`` instead, and D's lookup
    back to the customer number is written first (``write_lookup(customer_ids, keys, D)``).
    ``published``: the lists' :func:`published_lists`, when the caller has them already;
    otherwise they are made with ``customer_keys``. Returns file name -> path.
    """
    run_day = parse_run_date(run_date)
    folder = settings.target_list_dir(run_day)
    folder.mkdir(parents=True, exist_ok=True)
    if published is None:
        if customer_keys is None:
            raise ValueError("write_target_lists needs the published lists or customer_keys to make them")
        published = published_lists(target_list, customer_keys)
    # The lookup first: a list is never readable before the key that maps it back.
    paths: dict[str, Path] = {
        "customer_keys.parquet": write_lookup(target_list["customer_id"], published["customer_key"], run_day)
    }
    counts = []
    active = sorted({cid for cid, c in campaigns.items() if c.is_active(run_day)} | set(published["campaign_id"]))
    for campaign_id in active:
        rows = published.loc[published["campaign_id"] == campaign_id].reset_index(drop=True)
        stem = f"target_list_{campaign_id}"
        for suffix, write in (
            (".parquet", lambda path, rows=rows: rows.to_parquet(path, index=False)),
            (".csv", lambda path, rows=rows: rows.to_csv(path, index=False)),
        ):
            path = folder / f"{stem}{suffix}"
            write_atomically(path, write)
            paths[path.name] = path
        controls = int(rows["is_control"].sum())
        mix = ", ".join(
            f"{ch} {n}" for ch, n in rows.loc[~rows["is_control"].astype(bool), "channel"].value_counts().items()
        )
        counts.append(f"| {stem}.parquet | {len(rows)} | {len(rows) - controls} | {controls} | {mix} |")
    excluded = "\n".join(f"| {reason} | {(exclusions or {}).get(reason, 0)} |" for reason in EXCLUSION_REASONS)
    dictionary = folder / "data_dictionary.md"
    text = DATA_DICTIONARY.format(run_date=run_day.isoformat(), counts="\n".join(counts), exclusions=excluded)
    write_atomically(dictionary, lambda path: path.write_text(text))
    paths[dictionary.name] = dictionary
    return paths


__all__ = [
    "EXCLUSION_REASONS",
    "Campaign",
    "LIST_COLUMNS",
    "PRODUCTS",
    "TARGET_COLUMNS",
    "build_target_lists",
    "exclusion_reasons",
    "published_lists",
    "write_target_lists",
]
