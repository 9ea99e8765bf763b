"""The Berka bank (PKDD'99 "Financial" data set) as landing files of the contract.

:func:`convert_berka` reads the ``.asc`` files (never changing them) and writes
``landing/<source>/dt=YYYY-MM-DD/<source>.csv`` for every source and every day
from the first to the last transaction day: customers and accounts on the day
their first account opened, transactions on their booking day, every open
account's end-of-day balance every day, loans and cards on the day they were
granted or issued, and header-only files for the sources Berka does not have
(campaigns, contacts, responses, digital events, complaints, surveys).

Decoding is vectorised (pandas on the small tables, DuckDB for the balances);
the only Python loop is over the days when the files are written. Every row
that cannot be delivered (it lies after the last transaction day, or it would
point to a row not delivered yet) is counted in the summary, never dropped
silently. docs/berka.md is the mapping, column by column, with every quirk.

Command line: ``python -m bankmkt.adapters.berka [--berka-dir P] [--data-dir P] [--build]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
from datetime import date, timedelta
from pathlib import Path
from time import perf_counter

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from bankmkt.contract.schema import load_contract
from bankmkt.generator.landing import contract_columns, decimals, ids, write_landing_csv
from bankmkt.runtime import parse_run_date
from bankmkt.settings import Settings, get_settings

# Berka's tables and their files; the transactions file is found by pattern because the
# shipped prefix (trans_prefix_<first>_<last>.asc) and the original trans.asc differ in name.
BERKA_FILES = {
    "account": "account.asc",
    "client": "client.asc",
    "disp": "disp.asc",
    "district": "district.asc",
    "loan": "loan.asc",
    "card": "card.asc",
    "order": "order.asc",
}
TRANSACTIONS_PATTERN = "trans*.asc"

# Sources of the contract that Berka has no data for: header-only files every day.
SOURCES_WITHOUT_BERKA_DATA = (
    "customer_attributes",
    "campaigns",
    "campaign_contacts",
    "campaign_responses",
    "complaints",
    "digital_events",
    "satisfaction_surveys",
)

# trans.type: PRIJEM = credit; VYDAJ = debit; VYBER = withdrawal, also a debit.
DIRECTION_BY_TYPE = {"PRIJEM": "credit", "VYDAJ": "debit", "VYBER": "debit"}

# k_symbol (what the payment is for) decides the category when it says something...
CATEGORY_BY_K_SYMBOL = {
    "DUCHOD": "pension",  # old-age pension credited
    "UVER": "loan_repayment",  # loan payment
    "LEASING": "loan_repayment",  # leasing instalment (standing orders only, kept for the full data)
    "SIPO": "utilities",  # household payment (rent, energy, phone, TV)
    "POJISTNE": "utilities",  # insurance premium: a recurring household bill; the contract has no insurance
    "UROK": "transfer_in",  # interest credited by the bank
    "SANKC. UROK": "transfer_out",  # penalty interest charged (a fee)
    "SLUZBY": "transfer_out",  # statement fee
}
# ...otherwise the operation (how the money moved) does.
CATEGORY_BY_OPERATION = {
    "VYBER KARTOU": "cash",  # card withdrawal
    "VYBER": "cash",  # cash withdrawal
    "VKLAD": "transfer_in",  # cash credit (deposit)
    "PREVOD Z UCTU": "transfer_in",  # collection from another bank
    "PREVOD NA UCET": "transfer_out",  # remittance to another bank
}
CATEGORY_BY_DIRECTION = {"credit": "transfer_in", "debit": "transfer_out"}
# k_symbol values that are payment types of standing orders (order.asc).
STANDING_ORDER_K_SYMBOLS = frozenset({"SIPO", "UVER", "POJISTNE", "LEASING"})

# district.A3 (region) in ASCII English with capitals; the district name A2 is kept as given.
REGION_NAMES = {
    "Prague": "Prague",
    "central Bohemia": "Central Bohemia",
    "south Bohemia": "South Bohemia",
    "west Bohemia": "West Bohemia",
    "north Bohemia": "North Bohemia",
    "east Bohemia": "East Bohemia",
    "south Moravia": "South Moravia",
    "north Moravia": "North Moravia",
}

# Age rules for what Berka does not record (see docs/berka.md).
RETIREMENT_AGE = 60  # Czech statutory retirement age for men in the 1990s (women retired earlier)
ADULT_AGE = 18  # minors: occupation student, no income, no marketing consent

BOOKING_CLOCK = "12:00:00"  # Berka has dates only: transactions are booked at noon UTC
EXTRACT_CLOCK = "00:00:00"  # master data rows are valid from the start of their day

# Two running balances that differ by at most this many cents are the same balance:
# Berka rounds interest and fees to 0.1 CZK, so a day's chain can be off by 10 cents.
BALANCE_TOLERANCE_CENTS = 10


# ---- decoders (pure, vectorised) ---------------------------------------------------------


def decode_yymmdd(values: pd.Series) -> pd.Series:
    """Berka dates ``YYMMDD`` (card.issued adds `` 00:00:00``) as datetime64, all in the 1900s."""
    text = values.astype("string").str.strip().str[:6]
    bad = ~text.fillna("").str.fullmatch(r"\d{6}")
    if bad.any():
        raise ValueError(f"not a YYMMDD date: {values[bad].head(5).tolist()}")
    number = text.astype("int64")
    return pd.to_datetime(
        pd.DataFrame({"year": 1900 + number // 10000, "month": number // 100 % 100, "day": number % 100})
    ).rename(values.name)


def decode_birth_number(values: pd.Series) -> pd.DataFrame:
    """``birth_date`` and ``gender`` from client.birth_number ``YYMMDD``; women have month + 50."""
    text = values.astype("string").str.strip()
    bad = ~text.fillna("").str.fullmatch(r"\d{6}")
    if bad.any():
        raise ValueError(f"not a birth number YYMMDD: {values[bad].head(5).tolist()}")
    number = text.astype("int64")
    month = number // 100 % 100
    is_female = month > 50
    birth_date = pd.to_datetime(
        pd.DataFrame({"year": 1900 + number // 10000, "month": month - 50 * is_female, "day": number % 100})
    )
    return pd.DataFrame({"birth_date": birth_date, "gender": np.where(is_female, "F", "M")}, index=values.index)


def normalise_k_symbol(values: pd.Series) -> pd.Series:
    """k_symbol with every spelling of "none" ('', ' ', missing) as <NA>, other codes stripped."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")


def transaction_direction(types: pd.Series) -> pd.Series:
    """``credit`` for PRIJEM, ``debit`` for VYDAJ and VYBER; an unknown type is an error."""
    direction = types.astype("string").str.strip().map(DIRECTION_BY_TYPE)
    if direction.isna().any():
        raise ValueError(f"unknown trans.type: {sorted(set(types[direction.isna()].astype(str)))}")
    return direction.astype("string")


def to_cents(amounts: pd.Series) -> np.ndarray:
    """Amounts written with up to two decimals as integer cents (no float drift)."""
    return np.rint(pd.to_numeric(amounts).to_numpy(dtype="float64") * 100).astype("int64")


def signed_amount_cents(types: pd.Series, amounts: pd.Series) -> np.ndarray:
    """Berka amounts are unsigned: credits stay positive, debits (VYDAJ, VYBER) become negative."""
    sign = np.where(transaction_direction(types).to_numpy() == "credit", 1, -1)
    return sign * to_cents(amounts)


def merchant_category(k_symbol: pd.Series, operation: pd.Series, direction: pd.Series) -> pd.Series:
    """Category from k_symbol when it has one, else from the operation, else from the direction."""
    by_k_symbol = normalise_k_symbol(k_symbol).map(CATEGORY_BY_K_SYMBOL)
    by_operation = operation.astype("string").str.strip().map(CATEGORY_BY_OPERATION)
    by_direction = direction.astype("string").map(CATEGORY_BY_DIRECTION)
    return by_k_symbol.fillna(by_operation).fillna(by_direction).astype("string")


def transaction_channel(operation: pd.Series, k_symbol: pd.Series, is_standing_order: pd.Series) -> pd.Series:
    """Channel from the operation.

    Card withdrawal: ``atm``. Cash credit or withdrawal: ``branch``. Remittance to
    another bank: ``standing_order`` when it matches a standing order (or carries
    a standing-order payment type), else ``web``. Collection from another bank:
    ``standing_order`` for pensions, else ``web``. No operation (interest the bank
    credits): ``branch``, the account's own branch posts it.
    """
    op = operation.astype("string").str.strip().fillna("").to_numpy()
    k = normalise_k_symbol(k_symbol).fillna("").to_numpy()
    standing = np.asarray(is_standing_order, dtype=bool) | np.isin(k, list(STANDING_ORDER_K_SYMBOLS))
    channel = np.select(
        [
            op == "VYBER KARTOU",
            np.isin(op, ["VKLAD", "VYBER", ""]),
            (op == "PREVOD NA UCET") & standing,
            (op == "PREVOD Z UCTU") & (k == "DUCHOD"),
        ],
        ["atm", "branch", "standing_order", "standing_order"],
        default="web",
    )
    return pd.Series(channel, index=operation.index, dtype="string")


def region_name(region: pd.Series, district: pd.Series) -> pd.Series:
    """``<Region> / <district>``, e.g. ``Central Bohemia / Benesov`` (ASCII, as Berka spells it)."""
    english = region.astype("string").str.strip()
    english = english.map(REGION_NAMES).fillna(english)
    return (english + " / " + district.astype("string").str.strip()).astype("string")


def age_in_years(birth_date: pd.Series, on: pd.Series) -> np.ndarray:
    """Completed years between two datetime64 series (birthday not reached yet: one less)."""
    before_birthday = (on.dt.month < birth_date.dt.month) | (
        (on.dt.month == birth_date.dt.month) & (on.dt.day < birth_date.dt.day)
    )
    return (on.dt.year - birth_date.dt.year - before_birthday.astype(int)).to_numpy()


def occupation_for_age(age: np.ndarray) -> np.ndarray:
    """Berka has no occupation: minors ``student``, from the retirement age ``retired``, else ``employee``."""
    return np.select([age < ADULT_AGE, age >= RETIREMENT_AGE], ["student", "retired"], default="employee")


def add_months(start: pd.Series, months: pd.Series) -> pd.Series:
    """``start`` plus a number of months per row, the day clipped to the month's length."""
    total = start.dt.year * 12 + (start.dt.month - 1) + months.astype("int64")
    first = pd.to_datetime(pd.DataFrame({"year": total // 12, "month": total % 12 + 1, "day": 1}))
    day = np.minimum(start.dt.day.to_numpy(), first.dt.days_in_month.to_numpy())
    return first + pd.to_timedelta(day - 1, unit="D")


# ---- reading --------------------------------------------------------------------------------


def transactions_file(berka_dir: Path) -> Path:
    """The one ``trans*.asc`` file in the Berka folder (the prefix or the original)."""
    found = sorted(berka_dir.glob(TRANSACTIONS_PATTERN))
    if len(found) != 1:
        raise FileNotFoundError(
            f"expected one {TRANSACTIONS_PATTERN} file in {berka_dir}, found {[p.name for p in found]}"
        )
    return found[0]


def read_berka(berka_dir: Path) -> dict[str, pd.DataFrame]:
    """Every Berka table as text (';'-separated, quoted, CRLF); empty fields become <NA>."""
    berka_dir = Path(berka_dir)
    paths = {name: berka_dir / file for name, file in BERKA_FILES.items()}
    paths["trans"] = transactions_file(berka_dir)
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Berka files missing: {', '.join(missing)}")
    tables = {}
    with duckdb.connect(config=get_settings().duckdb_config()) as con:
        for name, path in paths.items():
            literal = "'" + str(path).replace("'", "''") + "'"
            tables[name] = con.execute(
                f"SELECT * FROM read_csv({literal}, delim=';', quote='\"', escape='\"', header=true, all_varchar=true)"
            ).df()
    return tables


# ---- the landing batch ----------------------------------------------------------------------


@dataclasses.dataclass
class BerkaLanding:
    """What the adapter delivers: per source a table of the contract's columns plus ``dt``."""

    first_day: date
    last_day: date
    deliveries: dict[str, pa.Table]
    report: dict

    @property
    def days(self) -> list[date]:
        return [self.first_day + timedelta(days=n) for n in range((self.last_day - self.first_day).days + 1)]


def _date_array(values: pd.Series) -> pa.Array:
    return pa.array(values.to_numpy(dtype="datetime64[D]"), type=pa.date32())


def _utc_stamps(days: pd.Series, clock: str) -> pa.Array:
    """``YYYY-MM-DDT<clock>Z`` for each day."""
    return pc.binary_join_element_wise(pc.cast(_date_array(days), pa.string()), f"T{clock}Z", "")


def _text(values) -> pa.Array:
    return pa.array(np.asarray(values, dtype=object), type=pa.string())


def _table(source: str, columns: dict[str, pa.Array], dt: pd.Series) -> pa.Table:
    """The source's table in contract column order, with the delivery day ``dt``, sorted by it."""
    expected = contract_columns(source)
    if list(columns) != expected:
        raise ValueError(f"{source}: built columns {list(columns)} differ from the contract {expected}")
    table = pa.table({**columns, "dt": _date_array(dt)})
    return table.sort_by([("dt", "ascending"), (expected[0], "ascending")])


@dataclasses.dataclass
class _Window:
    """The extract's first and last day, and the counts of rows it cannot deliver as they are."""

    first_day: pd.Timestamp
    last_day: pd.Timestamp
    not_delivered: dict[str, int] = dataclasses.field(default_factory=dict)
    shifted: dict[str, int] = dataclasses.field(default_factory=dict)


def build_landing(raw: dict[str, pd.DataFrame]) -> BerkaLanding:
    """Map the Berka tables to the landing sources (pure: reads frames, writes nothing)."""
    booked_on = decode_yymmdd(raw["trans"]["date"])
    # The days the extract covers are the transaction days.
    window = _Window(booked_on.min(), booked_on.max())
    disp = _dispositions(raw["disp"])
    account = _delivered_accounts(raw["account"], disp, window)
    customer = _delivered_customers(raw["client"], raw["district"], disp, account, window)
    trans = _delivered_transactions(raw["trans"].assign(booked_on=booked_on), raw["order"], account, window)
    balance, balance_report = end_of_day_balances(trans, account, window.last_day)
    holding = _delivered_holdings(raw["loan"], raw["card"], disp, account, customer, window)

    deliveries = {
        "customers": _customers_table(customer),
        "accounts": _table(
            "accounts",
            {
                "account_id": ids("A", account["account_num"].to_numpy(), 8),
                "customer_id": ids("C", account["client_num"].to_numpy(), 7),
                "account_type": _text(np.full(len(account), "current")),
                "opened_on": _date_array(account["opened_on"]),
                "closed_on": pa.nulls(len(account), type=pa.date32()),  # Berka closes no account
                "updated_at": _utc_stamps(account["dt"], EXTRACT_CLOCK),
            },
            account["dt"],
        ),
        "transactions": _table(
            "transactions",
            {
                "transaction_id": ids("T", trans["trans_num"].to_numpy(), 8),
                "account_id": ids("A", trans["account_num"].to_numpy(), 8),
                "booked_at": _utc_stamps(trans["booked_on"], BOOKING_CLOCK),
                "amount": decimals(trans["amount_cents"].to_numpy()),
                "direction": _text(trans["direction"]),
                "merchant_category": _text(trans["merchant_category"]),
                "channel": _text(trans["channel"]),
            },
            trans["booked_on"],
        ),
        "daily_balances": _table(
            "daily_balances",
            {
                "account_id": ids("A", balance["account_num"].to_numpy(), 8),
                "balance_date": _date_array(balance["balance_date"]),
                "balance": decimals(balance["balance_cents"].to_numpy()),
            },
            balance["balance_date"],
        ),
        "product_holdings": _table(
            "product_holdings",
            {
                "holding_id": pc.binary_join_element_wise(
                    _text(holding["prefix"]), pc.cast(ids("", holding["number"].to_numpy(), 7), pa.string()), ""
                ),
                "customer_id": ids("C", holding["client_num"].to_numpy(), 7),
                "product_code": _text(holding["product_code"]),
                "opened_on": _date_array(holding["opened_on"]),
                "closed_on": _date_array(holding["closed_on"]),
                "updated_at": _utc_stamps(holding["dt"], EXTRACT_CLOCK),
            },
            holding["dt"],
        ),
        **{source: _empty(source) for source in SOURCES_WITHOUT_BERKA_DATA},
    }
    missing = set(load_contract()) - set(deliveries)
    if missing:
        raise ValueError(f"the adapter delivers nothing for the contract's sources {sorted(missing)}")

    mapped = normalise_k_symbol(trans["k_symbol"]).isin(list(CATEGORY_BY_K_SYMBOL)) | trans["operation"].astype(
        "string"
    ).str.strip().isin(list(CATEGORY_BY_OPERATION))
    report = {
        "source_rows": {name: len(frame) for name, frame in raw.items()},
        "rows": {source: table.num_rows for source, table in deliveries.items()},
        "not_delivered": window.not_delivered,
        "shifted": window.shifted,
        "transactions_mapping": {
            "standing_orders_matched": int(trans["is_standing_order"].sum()),
            "category_from_direction_only": int((~mapped).sum()),
            "by_channel": trans["channel"].value_counts().sort_index().astype(int).to_dict(),
            "by_category": trans["merchant_category"].value_counts().sort_index().astype(int).to_dict(),
        },
        "balances": balance_report,
        "loans_closed_in_window": int(holding["closed_on"].notna().sum()),
    }
    return BerkaLanding(window.first_day.date(), window.last_day.date(), deliveries, report)


def _dispositions(disp: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "disp_num": disp["disp_id"].astype("int64"),
            "client_num": disp["client_id"].astype("int64"),
            "account_num": disp["account_id"].astype("int64"),
            "disp_type": disp["type"].astype("string").str.strip(),
        }
    )


def _delivered_accounts(account: pd.DataFrame, disp: pd.DataFrame, window: _Window) -> pd.DataFrame:
    """Accounts opened by the last day, each with its one owner and its delivery day ``dt``."""
    account = pd.DataFrame(
        {
            "account_num": account["account_id"].astype("int64"),
            "opened_on": decode_yymmdd(account["date"]),
        }
    )
    owners = disp[disp["disp_type"] == "OWNER"].sort_values("disp_num")
    window.not_delivered["accounts_second_owner_dispositions"] = int(owners.duplicated("account_num").sum())
    owners = owners.drop_duplicates("account_num")[["account_num", "client_num"]]
    account = account.merge(owners, on="account_num", how="left")
    without_owner = account["client_num"].isna()
    after_window = account["opened_on"] > window.last_day
    window.not_delivered["accounts_without_owner"] = int(without_owner.sum())
    window.not_delivered["accounts_opened_after_last_day"] = int((after_window & ~without_owner).sum())
    account = account[~without_owner & ~after_window].copy()
    account["client_num"] = account["client_num"].astype("int64")
    # An account opened before the first transaction day can only land on that day.
    window.shifted["accounts_opened_before_first_day"] = int((account["opened_on"] < window.first_day).sum())
    account["dt"] = account["opened_on"].clip(lower=window.first_day)
    return account.reset_index(drop=True)


def _delivered_customers(
    client: pd.DataFrame, district: pd.DataFrame, disp: pd.DataFrame, account: pd.DataFrame, window: _Window
) -> pd.DataFrame:
    """Clients with a disposition (owner or disponent) on a delivered account, decoded.

    Delivered (``dt``) on the day their first account lands; customer_since is
    that account's opening date.
    """
    holders = disp.merge(account[["account_num", "opened_on", "dt"]], on="account_num")
    customer = holders.groupby("client_num", as_index=False).agg(customer_since=("opened_on", "min"), dt=("dt", "min"))
    window.not_delivered["clients_without_account_by_last_day"] = int(len(client) - len(customer))
    client = pd.concat(
        [
            pd.DataFrame(
                {
                    "client_num": client["client_id"].astype("int64"),
                    "district_num": client["district_id"].astype("int64"),
                }
            ),
            decode_birth_number(client["birth_number"]),
        ],
        axis=1,
    )
    district = pd.DataFrame(
        {
            "district_num": district["A1"].astype("int64"),
            "region": region_name(district["A3"], district["A2"]),
            "average_salary": pd.to_numeric(district["A11"]),
        }
    )
    customer = customer.merge(client, on="client_num", how="left").merge(district, on="district_num", how="left")
    if customer[["birth_date", "region", "average_salary"]].isna().any().any():
        raise ValueError("a delivered client has no client row or no district")
    customer["age"] = age_in_years(customer["birth_date"], customer["customer_since"])
    return customer


def _customers_table(customer: pd.DataFrame) -> pa.Table:
    adult = customer["age"].to_numpy() >= ADULT_AGE
    no_value = pa.nulls(len(customer), type=pa.string())
    return _table(
        "customers",
        {
            "customer_id": ids("C", customer["client_num"].to_numpy(), 7),
            "first_name": no_value,  # Berka has no names, e-mail addresses or phone numbers
            "last_name": no_value,
            "national_id": ids("BERKA", customer["client_num"].to_numpy(), 7),
            "email": no_value,
            "phone": no_value,
            "birth_date": _date_array(customer["birth_date"]),
            "gender": _text(customer["gender"]),
            "region": _text(customer["region"]),
            "occupation": _text(occupation_for_age(customer["age"].to_numpy())),
            "monthly_income": decimals(np.where(adult, customer["average_salary"].to_numpy() * 100, 0)),
            "customer_since": _date_array(customer["customer_since"]),
            "has_marketing_consent": pa.array(adult, type=pa.bool_()),
            "updated_at": _utc_stamps(customer["dt"], EXTRACT_CLOCK),
        },
        customer["dt"],
    )


def _delivered_transactions(
    trans: pd.DataFrame, order: pd.DataFrame, account: pd.DataFrame, window: _Window
) -> pd.DataFrame:
    """Transactions of delivered accounts, signed and mapped (``booked_on`` already decoded)."""
    trans = trans.assign(
        trans_num=trans["trans_id"].astype("int64"), account_num=trans["account_id"].astype("int64")
    ).merge(account[["account_num", "dt"]].rename(columns={"dt": "account_day"}), on="account_num", how="left")
    no_account = trans["account_day"].isna()
    early = ~no_account & (trans["booked_on"] < trans["account_day"])
    window.not_delivered["transactions_account_not_delivered"] = int(no_account.sum())
    window.not_delivered["transactions_before_account_delivered"] = int(early.sum())
    trans = trans[~no_account & ~early].reset_index(drop=True)
    trans["direction"] = transaction_direction(trans["type"])
    trans["amount_cents"] = signed_amount_cents(trans["type"], trans["amount"])
    trans["balance_cents"] = to_cents(trans["balance"])
    trans["is_standing_order"] = _matches_standing_order(trans, order)
    trans["merchant_category"] = merchant_category(trans["k_symbol"], trans["operation"], trans["direction"])
    trans["channel"] = transaction_channel(trans["operation"], trans["k_symbol"], trans["is_standing_order"])
    return trans


def _delivered_holdings(
    loan: pd.DataFrame,
    card: pd.DataFrame,
    disp: pd.DataFrame,
    account: pd.DataFrame,
    customer: pd.DataFrame,
    window: _Window,
) -> pd.DataFrame:
    """Loans (held by the account's owner) and cards (by the disposition's client) as holdings.

    One row on the day a holding opens (not before its holder lands); a finished
    loan (status A or B) gets a second row with closed_on on its scheduled end
    (granted + duration months) when that day lies inside the extract.
    """
    loans = pd.DataFrame(
        {
            "prefix": "L",
            "number": loan["loan_id"].astype("int64"),
            "account_num": loan["account_id"].astype("int64"),
            "opened_on": decode_yymmdd(loan["date"]),
            "duration": loan["duration"].astype("int64"),
            "status": loan["status"].astype("string").str.strip(),
            "product_code": "personal_loan",
        }
    ).merge(account[["account_num", "client_num"]], on="account_num", how="left")
    cards = pd.DataFrame(
        {
            "prefix": "K",
            "number": card["card_id"].astype("int64"),
            "disp_num": card["disp_id"].astype("int64"),
            "opened_on": decode_yymmdd(card["issued"]),
            "product_code": "credit_card",
        }
    ).merge(disp[["disp_num", "client_num"]], on="disp_num", how="left")
    holder_day = customer.set_index("client_num")["dt"]
    opened = []
    for kind, frame in (("loans", loans), ("cards", cards)):
        after = frame["opened_on"] > window.last_day
        orphan = ~after & ~frame["client_num"].isin(holder_day.index)
        window.not_delivered[f"{kind}_opened_after_last_day"] = int(after.sum())
        window.not_delivered[f"{kind}_holder_not_delivered"] = int(orphan.sum())
        frame = frame[~after & ~orphan].copy()
        holder_lands = frame["client_num"].map(holder_day)
        # A holding cannot land before its holder: it waits for the holder's first day.
        window.shifted[f"{kind}_before_holder_delivered"] = int((frame["opened_on"] < holder_lands).sum())
        frame["dt"] = np.maximum(frame["opened_on"].clip(lower=window.first_day), holder_lands)
        frame["closed_on"] = pd.NaT
        opened.append(frame)
    finished = opened[0][opened[0]["status"].isin(["A", "B"])].copy()
    finished["closed_on"] = add_months(finished["opened_on"], finished["duration"])
    finished = finished[finished["closed_on"] <= window.last_day]
    finished["dt"] = np.maximum(finished["closed_on"], finished["dt"])
    columns = ["prefix", "number", "client_num", "product_code", "opened_on", "closed_on", "dt"]
    holding = pd.concat([frame[columns] for frame in (*opened, finished)], ignore_index=True)
    return holding.astype({"client_num": "int64"})


def _empty(source: str) -> pa.Table:
    """A header-only delivery: the contract's columns as text, no rows."""
    columns = contract_columns(source)
    return pa.table({**{c: pa.array([], type=pa.string()) for c in columns}, "dt": pa.array([], type=pa.date32())})


def _matches_standing_order(trans: pd.DataFrame, order: pd.DataFrame) -> np.ndarray:
    """True for a remittance whose account, receiving bank and account, and amount match order.asc."""
    keys = ["account_num", "bank", "account", "amount_key"]
    orders = pd.DataFrame(
        {
            "account_num": order["account_id"].astype("int64"),
            "bank": order["bank_to"].astype("string").str.strip(),
            "account": order["account_to"].astype("string").str.strip(),
            "amount_key": to_cents(order["amount"]),
        }
    ).drop_duplicates(keys)
    remittances = pd.DataFrame(
        {
            "account_num": trans["account_num"],
            "bank": trans["bank"].astype("string").str.strip(),
            "account": trans["account"].astype("string").str.strip(),
            "amount_key": np.abs(trans["amount_cents"].to_numpy()),
        }
    )
    matched = remittances.merge(orders, on=keys, how="left", indicator=True)["_merge"].eq("both").to_numpy()
    is_remittance = trans["operation"].astype("string").str.strip().eq("PREVOD NA UCET").fillna(False)
    return matched & is_remittance.to_numpy(dtype=bool)


# Every account's balance at the end of each day with transactions: the running balance
# of the day's last transaction. Berka's order within a day is not the booking order,
# so the last one is found from the balances: it is the transaction whose balance no
# other transaction of the day starts from, and whose balance minus the day's movement
# is where some transaction of the day starts. A day where that is not one transaction
# takes the balance closest to the last sure day-end plus the movements since.
END_OF_DAY_SQL = """
WITH tx AS (
    SELECT account_num, booked_on, trans_num, balance_cents,
           balance_cents - amount_cents AS opening_cents,
           sum(amount_cents) OVER (PARTITION BY account_num, booked_on) AS movement_cents,
           count(*) OVER (PARTITION BY account_num, booked_on) AS n_txn
    FROM trans
),
candidates AS (
    SELECT t.*,
        NOT EXISTS (
            SELECT 1 FROM tx o
            WHERE o.account_num = t.account_num AND o.booked_on = t.booked_on
              AND o.trans_num <> t.trans_num AND abs(o.opening_cents - t.balance_cents) <= $tol
        ) AS nothing_starts_here,
        EXISTS (
            SELECT 1 FROM tx o
            WHERE o.account_num = t.account_num AND o.booked_on = t.booked_on
              AND abs(o.opening_cents - (t.balance_cents - t.movement_cents)) <= $tol * t.n_txn
        ) AS day_starts_before
    FROM tx t
),
days AS (
    SELECT account_num, booked_on,
           any_value(movement_cents) AS movement_cents,
           any_value(n_txn) AS n_txn,
           count(*) FILTER (WHERE nothing_starts_here AND day_starts_before) AS n_ends,
           arg_max(balance_cents, trans_num) FILTER (WHERE nothing_starts_here AND day_starts_before) AS chained_end
    FROM candidates
    GROUP BY ALL
),
anchored AS (
    SELECT *,
        CASE WHEN n_ends = 1 THEN chained_end END AS sure_end,
        sum(movement_cents) OVER w_all AS moved_to_date
    FROM days
    WINDOW w_all AS (PARTITION BY account_num ORDER BY booked_on ROWS UNBOUNDED PRECEDING)
),
expected AS (
    SELECT *,
        coalesce(
            last_value(sure_end IGNORE NULLS) OVER w_before
              + moved_to_date
              - last_value(CASE WHEN sure_end IS NOT NULL THEN moved_to_date END IGNORE NULLS) OVER w_before,
            moved_to_date
        ) AS expected_end
    FROM anchored
    WINDOW w_before AS (PARTITION BY account_num ORDER BY booked_on
                        ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
),
closest AS (
    SELECT e.account_num, e.booked_on,
           arg_min(t.balance_cents, abs(t.balance_cents - e.expected_end) * 10000000000 - t.trans_num) AS end_cents
    FROM expected e JOIN tx t USING (account_num, booked_on)
    WHERE e.sure_end IS NULL
    GROUP BY ALL
)
SELECT e.account_num, e.booked_on, e.movement_cents, e.n_txn, e.sure_end IS NULL AS is_ambiguous,
       coalesce(e.sure_end, c.end_cents) AS end_cents
FROM expected e LEFT JOIN closest c USING (account_num, booked_on)
"""

# Each delivered account on every day from its delivery day to the last day, with the
# day-end balance of its latest day with transactions (0 before the first one).
BALANCES_SQL = """
SELECT c.account_num, c.balance_date, coalesce(d.end_cents, 0) AS balance_cents
FROM (
    SELECT account_num,
           CAST(unnest(generate_series(CAST(dt AS DATE), $last_day, INTERVAL 1 DAY)) AS DATE) AS balance_date
    FROM accounts
) c
ASOF LEFT JOIN day_ends d ON c.account_num = d.account_num AND c.balance_date >= d.booked_on
ORDER BY c.balance_date, c.account_num
"""

# Day-ends that do not follow from the previous day-end plus the day's movements: where
# Berka's running balance itself jumps (the balance is delivered as Berka states it).
BREAKS_SQL = """
SELECT count(*), count(DISTINCT account_num)
FROM (SELECT *, lag(end_cents) OVER (PARTITION BY account_num ORDER BY booked_on) AS previous_end
      FROM day_ends)
WHERE abs(end_cents - coalesce(previous_end, 0) - movement_cents) > $tol * n_txn
"""


def end_of_day_balances(
    trans: pd.DataFrame, account: pd.DataFrame, last_day: pd.Timestamp
) -> tuple[pd.DataFrame, dict]:
    """Every delivered account's end-of-day balance from its delivery day to ``last_day``.

    ``trans`` needs account_num, booked_on, trans_num, amount_cents (signed) and
    balance_cents; ``account`` account_num and dt. A day without transactions
    carries the previous balance; before the first transaction the balance is 0.
    """
    tol = str(BALANCE_TOLERANCE_CENTS)
    with duckdb.connect(config=get_settings().duckdb_config()) as con:
        con.register("trans", trans[["account_num", "booked_on", "trans_num", "amount_cents", "balance_cents"]])
        con.register("accounts", account[["account_num", "dt"]])
        con.execute("CREATE TABLE day_ends AS " + END_OF_DAY_SQL.replace("$tol", tol))
        stats = con.execute("SELECT count(*), count(*) FILTER (WHERE is_ambiguous) FROM day_ends").fetchone()
        breaks = con.execute(BREAKS_SQL.replace("$tol", tol)).fetchone()
        last_day_sql = "DATE '" + last_day.date().isoformat() + "'"
        balance = con.execute(BALANCES_SQL.replace("$last_day", last_day_sql)).df()
    report = {
        "account_days_with_transactions": int(stats[0]),
        "day_ends_resolved_by_expected_balance": int(stats[1]),
        "day_ends_not_following_previous_day": int(breaks[0]),
        "accounts_with_such_days": int(breaks[1]),
        "rows": len(balance),
    }
    return balance, report


# ---- writing --------------------------------------------------------------------------------


def _settings_for(data_dir: Path | str | None) -> Settings:
    settings = get_settings()
    if data_dir is None:
        return settings
    return dataclasses.replace(settings, data_dir=Path(data_dir).expanduser().resolve())


def write_landing(landing: BerkaLanding, settings: Settings, overwrite: bool = False) -> int:
    """Write every source's file for every day (header-only when empty); return the file count."""
    existing = [s for s in landing.deliveries if any((settings.landing_dir / s).glob("dt=*"))]
    if existing and not overwrite:
        raise FileExistsError(
            f"{settings.landing_dir} already holds files of {', '.join(sorted(existing))}; landing files are "
            "immutable: convert into a fresh data directory (or pass overwrite=True / --overwrite)"
        )
    for source in existing:
        shutil.rmtree(settings.landing_dir / source)
    days = landing.days
    day_numbers = np.array(days, dtype="datetime64[D]")
    files = 0
    for source, table in landing.deliveries.items():
        columns = contract_columns(source)
        delivered = table.column("dt").to_numpy(zero_copy_only=False).astype("datetime64[D]")
        starts = np.searchsorted(delivered, day_numbers, side="left")
        ends = np.searchsorted(delivered, day_numbers, side="right")
        outside = len(delivered) - int((ends - starts).sum())
        if outside:
            raise ValueError(f"{source}: {outside} rows fall outside {days[0]}..{days[-1]}")
        body = table.select(columns)
        for day, start, end in zip(days, starts, ends):
            write_landing_csv(body.slice(start, end - start), settings.landing_dir, source, day)
            files += 1
    return files


def convert_berka(
    berka_dir: Path | str | None = None, data_dir: Path | str | None = None, overwrite: bool = False
) -> dict:
    """Convert the Berka files in ``berka_dir`` (default: the setting) into landing files under ``data_dir``.

    Returns a summary: the days covered, rows read per Berka table, rows delivered
    per source, rows not delivered or delivered later (with the reason), the
    balance reconstruction's counts and the seconds taken.
    """
    started = perf_counter()
    settings = _settings_for(data_dir)
    berka_dir = Path(berka_dir).expanduser().resolve() if berka_dir else settings.berka_dir
    landing = build_landing(read_berka(berka_dir))
    files = write_landing(landing, settings, overwrite=overwrite)
    return {
        "berka_dir": str(berka_dir),
        "landing_dir": str(settings.landing_dir),
        "first_day": landing.first_day.isoformat(),
        "last_day": landing.last_day.isoformat(),
        "days": len(landing.days),
        "files": files,
        **landing.report,
        "seconds": round(perf_counter() - started, 2),
    }


# ---- command line ---------------------------------------------------------------------------


def build_and_check(last_day: date, data_dir: Path) -> dict:
    """Contract-check every landed day and ``dbt build`` the last one, as the daily run would.

    Returns the seconds of each step, the days checked, dbt's node statuses and the
    row count of every table in the warehouse (``mart_rows``).
    """
    os.environ["DATA_DIR"] = str(data_dir)
    from bankmkt import pipeline, warehouse

    timings = {}
    started = perf_counter()
    checked = pipeline.check_landing(last_day)
    timings["check_seconds"] = round(perf_counter() - started, 2)
    started = perf_counter()
    built = pipeline.build_warehouse(last_day)
    timings["dbt_seconds"] = round(perf_counter() - started, 2)
    with warehouse.read_only_connection(get_settings()) as con:
        # Every table dbt materialised (intermediate models and marts; staging models are views).
        tables = [
            name
            for (name,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' ORDER BY 1"
            ).fetchall()
        ]
        rows = {table: con.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] for table in tables}
    return {**timings, "days_checked": checked["days_checked"], "dbt_status": built["status_counts"], "mart_rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.adapters.berka",
        description="Turn the Berka bank into landing files of the contract (one folder per source and day).",
    )
    parser.add_argument("--berka-dir", default=None, help="folder of the .asc files (default: the BERKA_DIR setting)")
    parser.add_argument("--data-dir", default=None, help="root of the platform's state (default: the DATA_DIR setting)")
    parser.add_argument("--overwrite", action="store_true", help="replace landing files already in the data dir")
    parser.add_argument(
        "--build",
        action="store_true",
        help="then contract-check every day and dbt build the last day; print timings and mart row counts",
    )
    args = parser.parse_args(argv)
    summary = convert_berka(args.berka_dir, args.data_dir, overwrite=args.overwrite)
    print(json.dumps(summary, indent=2), flush=True)
    if args.build:
        data_dir = _settings_for(args.data_dir).data_dir
        built = build_and_check(parse_run_date(summary["last_day"]), data_dir)
        print(json.dumps(built, indent=2, default=str))
        print(
            f"convert {summary['seconds']:.1f} s, contract check {built['check_seconds']:.1f} s "
            f"({built['days_checked']} days), dbt build {built['dbt_seconds']:.1f} s"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
