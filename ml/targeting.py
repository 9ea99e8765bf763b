"""From scores to campaign target lists: next-best offer, contact policy, control holdout.

For each customer and product the expected value of an offer is
``propensity * value per conversion`` (:data:`ml.PRODUCT_VALUE`). The contact
policy removes offers that may not be made; each customer keeps the one offer
with the highest expected value (next-best offer); each product's list is its
``list_size`` best offers; a random ``control_share`` of each list, stratified
by segment, is held out (not contacted) to measure uplift.

With the churn-risk model's scores (:func:`ml.scoring.score_churn_risk`) the
expected value is retention-adjusted: ``propensity * value * (1 - churn_risk)``,
since a customer who leaves within the window does not bring the product's
first-year margin.
"""

from __future__ import annotations

import logging
import os
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from ml import PRODUCTS, REASON_COLUMNS, as_date, flag_is_set, holding_flag, product_value

log = logging.getLogger(__name__)

TARGET_COLUMNS: tuple[str, ...] = (
    "run_date",
    "product_code",
    "customer_id",
    "rank",
    "propensity",
    "expected_value",
    "is_control",
    "segment",
    *REASON_COLUMNS,
    "model_name",
    "model_version",
)

DATA_DICTIONARY = """# Target lists, {run_date}

One file per campaign product (`target_list_<product_code>.parquet`, and the
same rows as `.csv`). One row per customer selected for the product today; a
customer appears in at most one product's list (next-best offer).

| column | meaning |
|---|---|
| run_date | logical date of the daily run that built the list (YYYY-MM-DD) |
| product_code | product the campaign promotes (`credit_card`, `personal_loan`, `term_deposit`, `wealth_management`) |
| customer_id | customer to contact (pseudonymous key of the warehouse) |
| rank | 1 = best offer of the list, by expected value |
| propensity | calibrated probability that the customer converts within the response window if contacted |
| expected_value | propensity x value of one conversion of the product (EUR), x (1 - churn risk) when the churn-risk model scored the customer |
| is_control | true: random control holdout, **do not contact** (measures uplift); false: contact |
| segment | customer segment the control holdout is stratified by (empty when not known) |
| reason_1, reason_2, reason_3 | the features that raise the propensity most, as `feature=value (+contribution to the log-odds)` |
| model_name, model_version | registered MLflow model (champion) that produced the propensity |

Contact policy already applied: marketing consent, do-not-contact list,
frequency cap over 30 days, cool-down since the last contact, and customers
who already hold the product are excluded from its list.

| file | rows | contacted | control |
|---|---|---|---|
{counts}
"""


def _stratum_rng(seed: int, *keys: str) -> np.random.Generator:
    # Seeded per (product, segment) so one stratum's draw does not depend on the others.
    return np.random.default_rng([seed, *(zlib.crc32(str(key).encode()) for key in keys)])


def assign_control(
    target_list: pd.DataFrame, control_share: float, seed: int, strata: str | None = "segment"
) -> pd.Series:
    """Random control flags: ``control_share`` of each product's list, stratified by ``strata``.

    Each product's number of controls is ``control_share * list size`` rounded half up,
    shared out over the strata in proportion to their size (largest remainder),
    so every segment is held out at the same rate. Deterministic for a seed.
    """
    is_control = pd.Series(False, index=target_list.index)
    for product_code, offers in target_list.groupby("product_code", sort=True):
        groups = (
            offers.groupby(offers[strata].fillna("unknown").astype(str), sort=True)
            if strata and strata in offers.columns
            else [("all", offers)]
        )
        groups = [(str(name), group) for name, group in groups]
        quota = np.array([control_share * len(group) for _, group in groups])
        allotted = np.floor(quota).astype(int)
        remaining = int(np.floor(control_share * len(offers) + 0.5)) - allotted.sum()
        # Largest remainders first; ties go to the larger stratum, then by name.
        order = sorted(
            range(len(groups)),
            key=lambda i: (-(quota[i] - allotted[i]), -len(groups[i][1]), groups[i][0]),
        )
        for i in order[: max(remaining, 0)]:
            allotted[i] += 1
        for (name, group), n_control in zip(groups, allotted):
            chosen = _stratum_rng(seed, product_code, name).permutation(len(group))[:n_control]
            is_control.loc[group.index[chosen]] = True
    return is_control


def contactable(
    offers: pd.DataFrame,
    run_date,
    max_contacts_30d: int = 2,
    cooldown_days: int = 7,
    do_not_contact: set | None = None,
) -> pd.Series:
    """True for the offers the contact policy allows.

    * marketing consent given (missing counts as not given);
    * customer not on the do-not-contact list;
    * fewer than ``max_contacts_30d`` contacts in the last 30 days (``contacts_30d``);
    * at least ``cooldown_days`` days since the last contact (``last_contacted_at``);
    * the customer does not already hold the offered product (``has_<product>``).
    """
    run_day = pd.Timestamp(as_date(run_date))
    allowed = flag_is_set(offers["has_marketing_consent"])
    if do_not_contact:
        allowed &= ~offers["customer_id"].isin(do_not_contact)
    if "contacts_30d" in offers.columns:
        allowed &= offers["contacts_30d"].fillna(0) < max_contacts_30d
    if "last_contacted_at" in offers.columns:
        last = pd.to_datetime(offers["last_contacted_at"], utc=True).dt.tz_localize(None).dt.normalize()
        allowed &= last.isna() | ((run_day - last).dt.days >= cooldown_days)
    holds = pd.Series(False, index=offers.index)
    for product_code in offers["product_code"].unique():
        flag = holding_flag(product_code)
        if flag not in offers.columns:
            raise ValueError(f"customers frame lacks the holding flag {flag!r} for {product_code}")
        is_product = offers["product_code"] == product_code
        holds |= is_product & flag_is_set(offers[flag])
    return allowed & ~holds


def build_target_lists(
    scores: pd.DataFrame,
    customers: pd.DataFrame,
    run_date,
    list_size: int,
    control_share: float,
    seed: int,
    max_contacts_30d: int = 2,
    cooldown_days: int = 7,
    do_not_contact: set | None = None,
    churn_risk: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Per-product target lists: contactable next-best offers, top ``list_size``, with controls.

    ``scores`` holds every product's scores (:func:`ml.scoring.score_customers`);
    ``customers`` one row per customer with ``has_marketing_consent``, the
    holding flags ``has_<product>``, and optionally ``segment``,
    ``last_contacted_at`` and ``contacts_30d``. Customers missing from
    ``customers`` are not contactable. ``churn_risk`` (``customer_id``,
    ``churn_risk``; :func:`ml.scoring.score_churn_risk`), when given, discounts
    each offer's expected value by ``1 - churn_risk`` (a customer without a
    risk is not discounted). Returns :data:`TARGET_COLUMNS`, sorted by product
    and rank.
    """
    if not 0.0 <= control_share < 1.0:
        raise ValueError(f"control_share={control_share} must be in [0, 1)")
    run_day = as_date(run_date)
    if scores.empty:
        return pd.DataFrame(columns=list(TARGET_COLUMNS))

    offers = scores.drop(columns=[c for c in ("segment",) if c in scores.columns]).merge(
        customers.drop_duplicates("customer_id"), on="customer_id", how="inner", suffixes=("", "_customer")
    )
    offers = offers.loc[offers["propensity"].notna()]
    offers = offers.loc[contactable(offers, run_day, max_contacts_30d, cooldown_days, do_not_contact)].copy()
    values = {code: product_value(code) for code in offers["product_code"].unique()}
    offers["expected_value"] = offers["propensity"] * offers["product_code"].map(values)
    if churn_risk is not None and not churn_risk.empty:
        risk = churn_risk.drop_duplicates("customer_id").set_index("customer_id")["churn_risk"]
        offers["expected_value"] *= 1.0 - offers["customer_id"].map(risk).fillna(0.0).clip(0.0, 1.0)

    # Next-best offer: each customer keeps the product with the highest expected value.
    offers = offers.sort_values(
        ["expected_value", "customer_id", "product_code"], ascending=[False, True, True], kind="stable"
    ).drop_duplicates("customer_id")
    offers["rank"] = offers.groupby("product_code").cumcount() + 1
    target_list = offers.loc[offers["rank"] <= list_size].copy()

    if "segment" not in target_list.columns:
        target_list["segment"] = None
    target_list["is_control"] = assign_control(target_list, control_share, seed)
    target_list["run_date"] = run_day
    for column in (*REASON_COLUMNS, "model_name", "model_version"):
        if column not in target_list.columns:
            target_list[column] = None
    log.info(
        "target lists for %s: %s offers after the contact policy, per product %s",
        run_day,
        len(offers),
        target_list.groupby("product_code").size().to_dict(),
    )
    return (
        target_list[list(TARGET_COLUMNS)]
        .sort_values(["product_code", "rank"], kind="stable")
        .reset_index(drop=True)
    )


def write_atomically(path: Path, write) -> None:
    # Marketing tools may pick files up at any time: never expose a half-written one.
    partial = path.with_name(f".{path.name}.partial")
    write(partial)
    os.replace(partial, path)


def write_target_lists(target_list: pd.DataFrame, run_date, settings=None) -> dict[str, Path]:
    """Write each product's list as Parquet and CSV, plus ``data_dictionary.md``, for day D.

    Files go to ``outputs/target_lists/dt=D/``; every known product gets a file
    (empty when nobody is targeted). Returns file name → path.
    """
    if settings is None:
        from bankmkt.settings import get_settings

        settings = get_settings()
    run_day = as_date(run_date)
    folder = settings.outputs_dir / "target_lists" / f"dt={run_day.isoformat()}"
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    counts = []
    for product_code in sorted(set(PRODUCTS) | set(target_list["product_code"].unique())):
        rows = target_list.loc[target_list["product_code"] == product_code, list(TARGET_COLUMNS)]
        rows = rows.reset_index(drop=True)
        stem = f"target_list_{product_code}"
        for suffix, write in (
            (".parquet", lambda path, rows=rows: rows.to_parquet(path, index=False)),
            (".csv", lambda path, rows=rows: rows.to_csv(path, index=False)),
        ):
            path = folder / f"{stem}{suffix}"
            write_atomically(path, write)
            paths[path.name] = path
        controls = int(rows["is_control"].sum())
        counts.append(f"| {stem}.parquet | {len(rows)} | {len(rows) - controls} | {controls} |")
    dictionary = folder / "data_dictionary.md"
    text = DATA_DICTIONARY.format(run_date=run_day.isoformat(), counts="\n".join(counts))
    write_atomically(dictionary, lambda path: path.write_text(text))
    paths[dictionary.name] = dictionary
    return paths
