"""The Berka adapter: its decoders on tiny frames, then the real Berka files end to end.

The end-to-end tests convert the shipped Berka files into a temporary DATA_DIR;
the last one checks every landed day against the contract and runs ``dbt build``
on the last day, as the daily run's first load would.
"""

from __future__ import annotations

import os
import time
from datetime import date, timedelta

import duckdb
import pandas as pd
import pytest

from bankmkt.adapters import berka
from bankmkt.contract import enforce_landing_contract, load_contract
from bankmkt.settings import get_settings

# ---- decoders ----------------------------------------------------------------------------


def test_yymmdd_dates_are_in_the_1900s_and_card_times_are_ignored():
    decoded = berka.decode_yymmdd(pd.Series(["930101", "940330", "931107 00:00:00", "110820"]))
    assert [d.date() for d in decoded] == [date(1993, 1, 1), date(1994, 3, 30), date(1993, 11, 7), date(1911, 8, 20)]


def test_yymmdd_refuses_what_is_not_a_date():
    with pytest.raises(ValueError):
        berka.decode_yymmdd(pd.Series(["93011"]))
    with pytest.raises(ValueError):
        berka.decode_yymmdd(pd.Series(["930231"]))  # 31 February


def test_birth_number_gives_birth_date_and_sex_with_womens_month_plus_50():
    decoded = berka.decode_birth_number(pd.Series(["706213", "450204", "815104", "875927"]))
    assert [d.date() for d in decoded["birth_date"]] == [
        date(1970, 12, 13),
        date(1945, 2, 4),
        date(1981, 1, 4),
        date(1987, 9, 27),
    ]
    assert decoded["gender"].tolist() == ["F", "M", "F", "F"]


def test_blank_space_and_missing_k_symbol_are_the_same_none():
    k_symbol = pd.Series(["", " ", None, "SIPO", " UROK "], dtype="string")
    assert berka.normalise_k_symbol(k_symbol).isna().tolist() == [True, True, True, False, False]
    assert berka.normalise_k_symbol(k_symbol).iloc[4] == "UROK"
    # The three spellings of "none" map like each other: by the operation.
    operation = pd.Series(["PREVOD NA UCET"] * 3 + ["PREVOD NA UCET", None], dtype="string")
    direction = berka.transaction_direction(pd.Series(["VYDAJ"] * 4 + ["PRIJEM"]))
    categories = berka.merchant_category(k_symbol, operation, direction).tolist()
    assert categories == ["transfer_out", "transfer_out", "transfer_out", "utilities", "transfer_in"]


def test_type_gives_the_sign_vyber_is_a_debit():
    types = pd.Series(["PRIJEM", "VYDAJ", "VYBER"])
    assert berka.transaction_direction(types).tolist() == ["credit", "debit", "debit"]
    assert berka.signed_amount_cents(types, pd.Series(["700.00", "14.6", "2025"])).tolist() == [70000, -1460, -202500]
    with pytest.raises(ValueError, match="unknown trans.type"):
        berka.transaction_direction(pd.Series(["PRIJEM", "STORNO"]))


def test_category_prefers_k_symbol_then_operation():
    rows = pd.DataFrame(
        [
            # type, operation, k_symbol, expected category, expected channel
            ("PRIJEM", "PREVOD Z UCTU", "DUCHOD", "pension", "standing_order"),
            ("PRIJEM", "PREVOD Z UCTU", None, "transfer_in", "web"),
            ("PRIJEM", "VKLAD", None, "transfer_in", "branch"),
            ("PRIJEM", None, "UROK", "transfer_in", "branch"),
            ("VYDAJ", "PREVOD NA UCET", "UVER", "loan_repayment", "standing_order"),
            ("VYDAJ", "PREVOD NA UCET", "POJISTNE", "utilities", "standing_order"),
            ("VYDAJ", "PREVOD NA UCET", " ", "transfer_out", "web"),
            ("VYDAJ", "VYBER", "SIPO", "utilities", "branch"),
            ("VYDAJ", "VYBER", "SLUZBY", "transfer_out", "branch"),
            ("VYDAJ", "VYBER", "SANKC. UROK", "transfer_out", "branch"),
            ("VYDAJ", "VYBER KARTOU", None, "cash", "atm"),
            ("VYBER", "VYBER", None, "cash", "branch"),
        ],
        columns=["type", "operation", "k_symbol", "category", "channel"],
    ).astype("string")
    direction = berka.transaction_direction(rows["type"])
    assert berka.merchant_category(rows["k_symbol"], rows["operation"], direction).tolist() == rows["category"].tolist()
    no_order = pd.Series([False] * len(rows))
    assert berka.transaction_channel(rows["operation"], rows["k_symbol"], no_order).tolist() == rows["channel"].tolist()
    # A remittance matching a standing order of order.asc is one even without a payment type.
    matched = pd.Series([False] * 6 + [True] + [False] * 5)
    assert berka.transaction_channel(rows["operation"], rows["k_symbol"], matched).iloc[6] == "standing_order"


def test_every_mapped_value_is_allowed_by_the_contract():
    allowed = {c.name: set(c.allowed) for c in load_contract()["transactions"].columns if c.allowed}
    assert set(berka.CATEGORY_BY_K_SYMBOL.values()) <= allowed["merchant_category"]
    assert set(berka.CATEGORY_BY_OPERATION.values()) <= allowed["merchant_category"]
    assert set(berka.CATEGORY_BY_DIRECTION.values()) <= allowed["merchant_category"]


def test_age_occupation_and_loan_end():
    born = pd.Series(pd.to_datetime(["1976-03-31", "1933-01-01", "1950-06-15"]))
    on = pd.Series(pd.to_datetime(["1994-03-30", "1993-01-01", "1993-06-14"]))
    age = berka.age_in_years(born, on)
    assert age.tolist() == [17, 60, 42]
    assert berka.occupation_for_age(age).tolist() == ["student", "retired", "employee"]
    ends = berka.add_months(pd.Series(pd.to_datetime(["1993-01-31", "1993-07-05"])), pd.Series([1, 12]))
    assert [d.date() for d in ends] == [date(1993, 2, 28), date(1994, 7, 5)]


def test_end_of_day_balance_is_the_last_running_balance_whatever_the_file_order():
    day1, day2, day4 = (pd.Timestamp(f"1993-01-0{d}") for d in (1, 2, 4))
    # Account 1: on day 2 the file lists the fee (booked last) before the credit.
    trans = pd.DataFrame(
        {
            "account_num": [1, 1, 1, 1],
            "booked_on": [day1, day2, day2, day4],
            "trans_num": [10, 30, 20, 40],
            "amount_cents": [100_000, -1_460, 5_000, -20_000],
            "balance_cents": [100_000, 103_540, 105_000, 83_540],
        }
    )
    # Account 2 opens on day 1 but books its first transaction on day 2.
    accounts = pd.DataFrame({"account_num": [1, 2], "dt": [day1, day1]})
    trans = pd.concat(
        [
            trans,
            pd.DataFrame(
                {
                    "account_num": [2],
                    "booked_on": [day2],
                    "trans_num": [50],
                    "amount_cents": [700],
                    "balance_cents": [700],
                }
            ),
        ]
    )
    balance, report = berka.end_of_day_balances(trans, accounts, pd.Timestamp("1993-01-05"))
    got = {(r.account_num, r.balance_date.day): r.balance_cents for r in balance.itertuples()}
    assert got == {
        (1, 1): 100_000,
        (1, 2): 103_540,
        (1, 3): 103_540,
        (1, 4): 83_540,
        (1, 5): 83_540,
        (2, 1): 0,
        (2, 2): 700,
        (2, 3): 700,
        (2, 4): 700,
        (2, 5): 700,
    }
    assert report["day_ends_resolved_by_expected_balance"] == 0
    assert report["day_ends_not_following_previous_day"] == 0


def test_a_day_whose_chain_is_a_loop_takes_the_expected_balance():
    day1, day2 = pd.Timestamp("1993-01-01"), pd.Timestamp("1993-01-02")
    # +1400 then -1400 on day 2: both balances start another transaction, so the chain has no end.
    trans = pd.DataFrame(
        {
            "account_num": [1, 1, 1],
            "booked_on": [day1, day2, day2],
            "trans_num": [1, 3, 2],
            "amount_cents": [500_000, -140_000, 140_000],
            "balance_cents": [500_000, 500_000, 640_000],
        }
    )
    accounts = pd.DataFrame({"account_num": [1], "dt": [day1]})
    balance, report = berka.end_of_day_balances(trans, accounts, day2)
    assert balance["balance_cents"].tolist() == [500_000, 500_000]
    assert report["day_ends_resolved_by_expected_balance"] == 1


# ---- the real Berka files ------------------------------------------------------------------


def _source_transactions() -> pd.DataFrame:
    path = berka.transactions_file(get_settings().berka_dir)
    return pd.read_csv(path, sep=";", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """The real Berka files converted into a fresh DATA_DIR (once for the module)."""
    data_dir = tmp_path_factory.mktemp("berka")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DATA_DIR", str(data_dir))
        summary = berka.convert_berka(data_dir=data_dir)
        settings = get_settings()
        assert settings.data_dir == data_dir.resolve()
        yield summary, settings


def _landed(settings, source: str) -> pd.DataFrame:
    pattern = str(settings.landing_dir / source / "dt=*" / f"{source}.csv")
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT * FROM read_csv('{pattern}', header=true, all_varchar=true, hive_partitioning=true)"
        ).df()


def test_days_span_the_transactions_and_every_source_lands_every_day(converted):
    summary, settings = converted
    booked = berka.decode_yymmdd(_source_transactions()["date"])
    first, last = booked.min().date(), booked.max().date()
    assert (summary["first_day"], summary["last_day"]) == (first.isoformat(), last.isoformat())
    days = (last - first).days + 1
    assert summary["days"] == days
    for source in load_contract():
        assert len(list((settings.landing_dir / source).glob("dt=*/*.csv"))) == days, source


def test_contract_passes_on_the_first_a_middle_and_the_last_day(converted):
    summary, settings = converted
    first, last = date.fromisoformat(summary["first_day"]), date.fromisoformat(summary["last_day"])
    for day in (first, first + timedelta(days=(last - first).days // 2), last):
        report = enforce_landing_contract(day, settings)
        assert report.passed, report.message()
    assert report.rows_per_source["daily_balances"] > 0


def test_row_counts_match_the_source_minus_what_is_counted(converted):
    summary, settings = converted
    source, rows, missed = summary["source_rows"], summary["rows"], summary["not_delivered"]
    assert source["trans"] == len(_source_transactions()) == 46_997
    dropped_transactions = (
        missed["transactions_account_not_delivered"] + missed["transactions_before_account_delivered"]
    )
    assert rows["transactions"] == len(_landed(settings, "transactions")) == 46_997 - dropped_transactions
    assert source["account"] == 4_500
    assert (
        rows["accounts"]
        == len(_landed(settings, "accounts"))
        == 4_500 - missed["accounts_opened_after_last_day"] - missed["accounts_without_owner"]
    )
    assert (
        rows["customers"]
        == len(_landed(settings, "customers"))
        == source["client"] - missed["clients_without_account_by_last_day"]
    )
    for kind, table in (("loans", "loan"), ("cards", "card")):
        opened = source[table] - missed[f"{kind}_opened_after_last_day"] - missed[f"{kind}_holder_not_delivered"]
        holdings = _landed(settings, "product_holdings")
        prefix = "L" if kind == "loans" else "K"
        assert holdings["holding_id"].str.startswith(prefix).sum() == opened + (
            summary["loans_closed_in_window"] if kind == "loans" else 0
        )
    assert all(rows[s] == 0 for s in berka.SOURCES_WITHOUT_BERKA_DATA)


def test_balances_of_an_account_follow_its_running_balance(converted):
    summary, settings = converted
    trans = _source_transactions()
    account = trans[trans["account_id"] == "1000"].copy()
    account["booked_on"] = berka.decode_yymmdd(account["date"]).dt.date
    account["signed"] = berka.signed_amount_cents(account["type"], account["amount"])
    account["balance_cents"] = berka.to_cents(account["balance"])
    # The oracle: day by day, the end is the day's running balance that equals the
    # previous end plus the day's movements (Berka rounds to 0.1 per transaction).
    expected, end = {}, 0
    for day, booked in account.groupby("booked_on"):
        target = end + booked["signed"].sum()
        candidates = booked.loc[(booked["balance_cents"] - target).abs() <= 10 * len(booked), "balance_cents"]
        assert len(candidates) >= 1, day
        expected[day] = end = int(candidates.iloc[0])
    landed = _landed(settings, "daily_balances")
    landed = landed[landed["account_id"] == "A00001000"].sort_values("balance_date")
    first_day = min(expected)
    last_day = date.fromisoformat(summary["last_day"])
    assert landed["balance_date"].tolist() == [
        (first_day + timedelta(days=n)).isoformat() for n in range((last_day - first_day).days + 1)
    ]
    carried, got = 0, {}
    for row in landed.itertuples():
        day = date.fromisoformat(row.balance_date)
        carried = expected.get(day, carried)
        got[day] = (round(float(row.balance) * 100), carried)
    assert all(balance == want for balance, want in got.values())


def test_no_raw_birth_number_leaves_the_adapter(converted):
    _, settings = converted
    clients = pd.read_csv(settings.berka_dir / "client.asc", sep=";", dtype=str)
    birth_numbers = set(clients["birth_number"])
    customers = _landed(settings, "customers")
    own = clients.set_index("C" + clients["client_id"].str.zfill(7))["birth_number"]
    for row in customers.drop(columns="dt").itertuples(index=False):
        raw = own[row.customer_id]
        assert not any(raw in str(value) for value in row if value is not None), row.customer_id
    for source in load_contract():
        values = set(_landed(settings, source).drop(columns="dt").stack().astype(str))
        assert not values & birth_numbers, source
    assert customers["national_id"].str.fullmatch(r"BERKA\d{7}").all()
    assert customers["first_name"].isna().all() and customers["email"].isna().all()


def test_ids_follow_the_contract_patterns(converted):
    _, settings = converted
    assert _landed(settings, "customers")["customer_id"].str.fullmatch(r"C\d{7}").all()
    accounts = _landed(settings, "accounts")
    assert accounts["account_id"].str.fullmatch(r"A\d{8}").all()
    assert set(accounts["customer_id"]) <= set(_landed(settings, "customers")["customer_id"])


def test_every_day_passes_the_contract_and_dbt_builds_the_last_day(tmp_path, monkeypatch):
    """The first load of the whole Berka history: convert, check every day, dbt build."""
    for name, value in get_settings().environment().items():
        monkeypatch.setenv(name, os.environ.get(name, value))  # the stages export settings: restore after
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    started = time.perf_counter()
    summary = berka.convert_berka(data_dir=tmp_path)
    convert_seconds = time.perf_counter() - started
    built = berka.build_and_check(date.fromisoformat(summary["last_day"]), tmp_path)
    print(
        f"convert {convert_seconds:.1f} s, contract check {built['check_seconds']:.1f} s, "
        f"dbt build {built['dbt_seconds']:.1f} s; marts {built['mart_rows']}"
    )
    assert built["days_checked"] == summary["days"]
    assert set(built["dbt_status"]) <= {"success", "pass"}
    marts = built["mart_rows"]
    assert marts["dim_customers"] == summary["rows"]["customers"]
    assert marts["fct_transactions"] == summary["rows"]["transactions"]
    assert marts["fct_daily_balances"] == summary["rows"]["daily_balances"]
    assert marts["customer_features"] > 0
