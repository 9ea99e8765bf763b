"""The telemarketing adapter: its date rules on tiny arrays, then synthetic extracts of both variants end to end.

The extracts come from :func:`telemarketing.write_fixture` (the real UCI file is not shipped);
each is converted once per module into a temporary DATA_DIR.
"""

from __future__ import annotations

import json
import os
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd
import pytest

from bankmkt import pipeline
from bankmkt.adapters import telemarketing as tm
from bankmkt.attributes import AttributeSpec, load_declaration, write_declaration
from bankmkt.contract import check_landing_batch, load_contract
from bankmkt.settings import Settings, get_settings

# ---- date rules ------------------------------------------------------------------------------


def test_the_year_starts_at_start_year_and_grows_when_the_month_goes_back():
    months = np.array([5, 5, 11, 12, 1, 3, 3, 2, 2])
    assert tm.call_years(months, 2008).tolist() == [2008, 2008, 2008, 2008, 2009, 2009, 2009, 2010, 2010]


def test_weekday_rows_spread_evenly_in_file_order_over_the_months_days_of_that_weekday():
    # May 2008: Mondays 5, 12, 19, 26; Fridays 2, 9, 16, 23, 30.
    weekdays = np.array([0] * 8 + [4] * 5 + [0])  # eight Mondays, five Fridays, a ninth Monday
    days = tm.days_from_weekday(np.full(14, 2008), np.full(14, 5), weekdays)
    got = [int(str(d)[-2:]) for d in days]
    # The k-th of n Monday rows goes to the floor((2k+1)*4/2n)-th Monday: 9 rows over 4 Mondays.
    assert [got[i] for i in (*range(8), 13)] == [5, 5, 12, 12, 19, 19, 19, 26, 26]
    assert got[8:13] == [2, 9, 16, 23, 30]
    assert all(pd.Timestamp(d).weekday() == w and pd.Timestamp(d).month == 5 for d, w in zip(days, weekdays))
    # One row of a weekday goes to the middle one of its days, not the first.
    assert str(tm.days_from_weekday(np.array([2008]), np.array([5]), np.array([2]))[0]) == "2008-05-21"


def test_call_times_spread_over_the_working_day_in_file_order():
    days = np.array(["2008-05-05"] * 3 + ["2008-05-06"], dtype="datetime64[D]")
    assert tm.call_seconds(days).tolist() == [9 * 3600, 12 * 3600, 15 * 3600, 9 * 3600]
    many = tm.call_seconds(np.full(10_000, np.datetime64("2008-05-05")))
    assert many.min() == 9 * 3600 and many.max() < 18 * 3600 and (np.diff(many) >= 0).all()


def test_birth_date_gives_exactly_the_age_on_the_call_day():
    days = np.array(["2008-05-05", "2012-02-29", "2008-01-10"], dtype="datetime64[D]")
    born = tm.birth_dates(days, np.array([40, 30, 18]))
    assert [str(b) for b in born] == ["1967-11-05", "1981-08-30", "1989-07-12"]
    for call, birth, age in zip(days, born, (40, 30, 18)):
        call, birth = pd.Timestamp(call), pd.Timestamp(birth)
        assert call.year - birth.year - ((call.month, call.day) < (birth.month, birth.day)) == age


def test_occupation_groups_the_jobs():
    jobs = pd.Series(["retired", "student", "unemployed", "self-employed", "entrepreneur", "unknown", "admin."])
    assert tm.occupation(jobs.astype("string")).fillna("").tolist() == [
        "retired",
        "student",
        "unemployed",
        "self_employed",
        "self_employed",
        "",
        "employee",
    ]


# ---- synthetic extracts end to end -------------------------------------------------------------


def _landed(settings: Settings, source: str) -> pd.DataFrame:
    pattern = str(settings.landing_dir / source / "dt=*" / f"{source}.csv")
    with duckdb.connect() as con:
        return con.execute(
            f"SELECT * FROM read_csv('{pattern}', header=true, all_varchar=true, hive_partitioning=true, "
            "hive_types_autocast=false)"
        ).df()


def _values(column: pd.Series) -> list:
    """The values with every kind of missing (None, NaN, <NA>) as None."""
    return [None if pd.isna(value) else value for value in column]


@pytest.fixture(scope="module", params=["additional", "full"])
def converted(request, tmp_path_factory):
    """A 3-month extract of each variant, converted into a fresh DATA_DIR."""
    folder = tmp_path_factory.mktemp(request.param)
    source = tm.write_fixture(folder / "extract.csv", rows=1500, months=3, variant=request.param, seed=3)
    settings = Settings(platform_env="local", data_dir=folder / "data")
    summary = tm.convert_telemarketing(source, settings)
    extract = pd.read_csv(source, sep=";", dtype=str, keep_default_na=False)
    return request.param, extract, summary, settings


def test_every_source_lands_every_day_from_the_first_to_the_last_call(converted):
    variant, extract, summary, settings = converted
    first, last = date.fromisoformat(summary["first_day"]), date.fromisoformat(summary["last_day"])
    # The customers land the day before their first call.
    assert (first, last) == (date(2008, 4, 30), date(2008, 7, 31))
    days = {f"dt={first + timedelta(days=n)}" for n in range((last - first).days + 1)}
    assert summary["days"] == len(days)
    for source in load_contract():
        assert {p.parent.name for p in (settings.landing_dir / source).glob("dt=*/*.csv")} == days, source


def test_one_customer_and_one_contact_per_row_and_one_response_per_yes(converted):
    variant, extract, summary, settings = converted
    yes = int((extract["y"] == "yes").sum())
    assert summary["variant"] == variant
    assert summary["rows_read"] == summary["customers"] == summary["contacts"] == len(extract) == 1500
    assert summary["conversions"] == yes
    customers, contacts = _landed(settings, "customers"), _landed(settings, "campaign_contacts")
    responses = _landed(settings, "campaign_responses")
    assert len(customers) == len(contacts) == 1500 and len(responses) == yes
    assert customers["customer_id"].is_unique
    # The n-th row is customer C<n> and contact TM<n>, called on the day its file belongs to.
    contacts = contacts.set_index("contact_id").sort_index()
    assert contacts.loc["TM00000001", "customer_id"] == "C0000001"
    assert (contacts["contacted_at"].str[:10] == contacts["dt"]).all()
    assert contacts["contacted_at"].str[11:19].between("09:00:00", "17:59:59").all()
    assert (contacts["attempt_number"].astype(int).to_numpy() == extract["campaign"].astype(int).to_numpy()).all()
    # A conversion is one second after its call, the same day, for exactly the rows that say yes.
    rows = responses["contact_id"].str[2:].astype(int) - 1
    assert set(rows) == set(np.flatnonzero(extract["y"] == "yes"))
    called = pd.to_datetime(contacts.loc[responses["contact_id"], "contacted_at"].to_numpy())
    assert (pd.to_datetime(responses["responded_at"]).to_numpy() - called.to_numpy() == np.timedelta64(1, "s")).all()
    assert (responses["response_type"] == "converted").all() and (
        responses["dt"] == responses["responded_at"].str[:10]
    ).all()
    campaigns = _landed(settings, "campaigns")
    # The campaign starts on the first call, the day after the first customers land.
    first_call = (date.fromisoformat(summary["first_day"]) + timedelta(days=1)).isoformat()
    assert (customers["dt"] < customers["customer_since"].str[:10]).sum() == 0
    assert campaigns[["campaign_id", "product_code", "channel", "start_date", "end_date", "dt"]].values.tolist() == [
        ["TELEMARKETING", "term_deposit", "phone", first_call, summary["last_day"], first_call]
    ]


def test_the_age_at_the_call_is_the_extracts_age(converted):
    variant, extract, summary, settings = converted
    customers = _landed(settings, "customers").sort_values("customer_id")
    call = pd.to_datetime(customers["customer_since"])
    birth = pd.to_datetime(customers["birth_date"])
    before_birthday = (call.dt.month < birth.dt.month) | (
        (call.dt.month == birth.dt.month) & (call.dt.day < birth.dt.day)
    )
    age = call.dt.year - birth.dt.year - before_birthday.astype(int)
    assert age.tolist() == extract["age"].astype(int).tolist()
    assert (customers["updated_at"] == customers["dt"] + "T00:00:00Z").all()
    assert customers[["gender", "region", "monthly_income", "first_name", "email"]].isna().all().all()


def test_attributes_are_delivered_and_declared_and_unknown_is_empty(converted):
    variant, extract, summary, settings = converted
    numbers = (
        ["balance"]
        if variant == "full"
        else ["emp_var_rate", "cons_price_idx", "cons_conf_idx", "euribor3m", "nr_employed"]
    )
    categories = ["job", "marital", "education", "credit_default", "housing_loan", "personal_loan", "phone_type"]
    specs = {spec.attribute: spec for spec in load_declaration(settings)}
    assert list(specs) == categories + numbers
    source_column = {
        "credit_default": "default",
        "housing_loan": "housing",
        "personal_loan": "loan",
        "phone_type": "contact",
    }
    for name in categories:
        seen = set(extract[source_column.get(name, name)]) - {"unknown"}
        assert specs[name].kind == "category" and specs[name].categories == tuple(sorted(seen)), name
    assert all(specs[name].kind == "number" for name in numbers)

    attributes = _landed(settings, "customer_attributes")
    assert len(attributes) == 1500 * len(specs)
    assert (attributes["valid_from"] == attributes["dt"] + "T00:00:00Z").all()
    wide = attributes.pivot(index="customer_id", columns="attribute", values="value").sort_index()
    for name in categories:
        raw = extract[source_column.get(name, name)]
        expected = raw.where(raw != "unknown")
        assert _values(wide[name]) == _values(expected), name
    assert extract["default" if variant == "additional" else "contact"].eq("unknown").any()  # the fixture has unknowns
    source_numbers = {"balance": "balance", "emp_var_rate": "emp.var.rate", "euribor3m": "euribor3m"}
    for name in set(numbers) & set(source_numbers):
        assert np.allclose(wide[name].astype(float), extract[source_numbers[name]].astype(float)), name
    customers = _landed(settings, "customers").sort_values("customer_id")
    assert customers["occupation"].isna().tolist() == (extract["job"] == "unknown").tolist()


def test_previous_campaign_fields_and_never_contacted_as_empty(converted):
    variant, extract, summary, settings = converted
    never = 999 if variant == "additional" else -1
    contacts = _landed(settings, "campaign_contacts").sort_values("contact_id")
    pdays = extract["pdays"].astype(int)
    assert (pdays == never).any() and (pdays != never).any()
    assert contacts["days_since_previous_campaign"].isna().tolist() == (pdays == never).tolist()
    known = pdays != never
    assert (
        contacts.loc[known.to_numpy(), "days_since_previous_campaign"].astype(int).to_numpy() == pdays[known].to_numpy()
    ).all()
    assert (
        contacts["previous_campaign_contacts"].astype(int).to_numpy() == extract["previous"].astype(int).to_numpy()
    ).all()
    outcome = extract["poutcome"].where(extract["poutcome"].isin(["success", "failure", "other"]))
    assert _values(contacts["previous_campaign_outcome"]) == _values(outcome)
    assert contacts["channel"].isna().tolist() == (extract["contact"] == "unknown").tolist()
    assert summary["never_contacted_before"] == int((pdays == never).sum())


def test_duration_is_not_delivered_and_the_summary_says_why(converted):
    variant, extract, summary, settings = converted
    assert "duration" in extract.columns
    assert "leak" in summary["fields_not_delivered"]["duration"]
    for source in load_contract():
        assert "duration" not in _landed(settings, source).columns


def test_contract_passes_on_the_first_a_middle_and_the_last_day(converted):
    variant, extract, summary, settings = converted
    first, last = date.fromisoformat(summary["first_day"]), date.fromisoformat(summary["last_day"])
    attribute_rows = 0
    for day in (first, first + timedelta(days=(last - first).days // 2), last):
        report = check_landing_batch(day, settings)
        assert report.passed, report.message()
        attribute_rows += report.rows_per_source["customer_attributes"]
    assert attribute_rows > 0


def test_a_second_conversion_into_the_same_data_dir_needs_overwrite(converted, tmp_path):
    variant, extract, summary, settings = converted
    source = tmp_path / "again.csv"
    extract.head(50).to_csv(source, sep=";", index=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        tm.convert_telemarketing(source, settings)


def test_the_daily_run_accepts_a_month_of_calls(tmp_path, monkeypatch):
    """pipeline.check_landing on the last day checks and accepts every day, in order."""
    for name, value in get_settings().environment().items():
        monkeypatch.setenv(name, os.environ.get(name, value))  # the stage exports settings: restore after
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    source = tm.write_fixture(tmp_path / "extract.csv", rows=300, months=1, seed=5)
    summary = tm.convert_telemarketing(source, get_settings())
    checked = pipeline.check_landing(summary["last_day"])
    assert checked["days_checked"] == summary["days"]


def test_the_command_line_prints_the_summary(tmp_path, capsys):
    source = tm.write_fixture(tmp_path / "extract.csv", rows=200, months=2, variant="full", seed=1)
    assert tm.main(["--source", str(source), "--data-dir", str(tmp_path / "data"), "--start-year", "2009"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["variant"] == "full" and summary["years"] == [2009] and summary["customers"] == 200
    assert summary["landing_dir"] == str((tmp_path / "data" / "landing").resolve())
    # Again without --overwrite: refused, nothing printed on stdout.
    assert tm.main(["--source", str(source), "--data-dir", str(tmp_path / "data")]) == 2
    assert "overwrite" in capsys.readouterr().err
    assert tm.main(["--source", str(source), "--data-dir", str(tmp_path / "data"), "--overwrite"]) == 0


# ---- the fixture --------------------------------------------------------------------------


def test_the_fixture_is_deterministic_and_has_the_real_datas_shape(tmp_path):
    first = tm.write_fixture(tmp_path / "a.csv", rows=3000, months=21, seed=7)
    again = tm.write_fixture(tmp_path / "b.csv", rows=3000, months=21, seed=7)
    assert first.read_bytes() == again.read_bytes()
    assert first.read_text().splitlines()[0] == ";".join(f'"{c}"' for c in tm.ADDITIONAL_COLUMNS)
    extract = pd.read_csv(first, sep=";")
    assert 0.08 < (extract["y"] == "yes").mean() < 0.15
    success = extract["poutcome"] == "success"
    assert (extract.loc[success, "y"] == "yes").mean() > 0.4
    assert 0.8 < (extract["previous"] == 0).mean() < 0.93
    # 21 months from May 2008: the months go back twice, so the calls reach January 2010.
    variant, frame, _ = tm.read_extract(first)
    call_day = pd.DatetimeIndex(tm.decode_calls(frame, variant).call_day)
    assert (call_day.min(), call_day.max()) >= (pd.Timestamp("2008-05-01"), pd.Timestamp("2010-01-01"))
    assert call_day.is_monotonic_increasing is False  # weekdays interleave within a month...
    assert (call_day.to_period("M").to_numpy()[1:] >= call_day.to_period("M").to_numpy()[:-1]).all()  # ...months do not


# ---- refusals ------------------------------------------------------------------------------


def _write(tmp_path, text: str):
    path = tmp_path / "extract.csv"
    path.write_text(text)
    return path


@pytest.fixture
def small_extract(tmp_path) -> list[str]:
    return tm.write_fixture(tmp_path / "small.csv", rows=20, months=2, seed=2).read_text().splitlines()


def test_a_comma_separated_file_is_refused(tmp_path, small_extract):
    path = _write(tmp_path, "\n".join(line.replace(";", ",") for line in small_extract) + "\n")
    with pytest.raises(tm.TelemarketingInputError, match="wrong delimiter.*','"):
        tm.read_extract(path)


def test_a_missing_column_is_refused_by_name(tmp_path, small_extract):
    lines = [";".join(line.split(";")[:-1]) for line in small_extract]  # without y
    with pytest.raises(tm.TelemarketingInputError, match=r"missing columns \['y'\]"):
        tm.read_extract(_write(tmp_path, "\n".join(lines) + "\n"))


def test_a_row_with_a_field_too_few_is_refused_with_its_row(tmp_path, small_extract):
    lines = list(small_extract)
    lines[7] = lines[7].rsplit(";", 1)[0]
    with pytest.raises(tm.TelemarketingInputError, match=r"row 7 \(line 8\) has 20 fields"):
        tm.read_extract(_write(tmp_path, "\n".join(lines) + "\n"))


def test_a_bad_month_is_refused_with_its_row_and_value(tmp_path, small_extract):
    lines = list(small_extract)
    lines[5] = lines[5].replace('"may"', '"mai"')
    path = _write(tmp_path, "\n".join(lines) + "\n")
    with pytest.raises(tm.TelemarketingInputError, match=r"row 5 \(line 6\), column month: 'mai' is not one of jan"):
        tm.convert_telemarketing(path, Settings(platform_env="local", data_dir=tmp_path / "data"))
    assert not (tmp_path / "data" / "landing").exists()


def test_a_bad_weekday_and_a_day_going_back_are_refused(tmp_path, small_extract):
    lines = list(small_extract)
    lines[3] = lines[3].replace('"mon"', '"xyz"').replace('"tue"', '"xyz"').replace('"wed"', '"xyz"')
    lines[3] = lines[3].replace('"thu"', '"xyz"').replace('"fri"', '"xyz"')
    variant, frame, _ = tm.read_extract(_write(tmp_path, "\n".join(lines) + "\n"))
    with pytest.raises(tm.TelemarketingInputError, match=r"row 3 \(line 4\), column day_of_week: 'xyz'"):
        tm.decode_calls(frame, variant)

    full = tm.write_fixture(tmp_path / "full.csv", rows=20, months=1, variant="full", seed=2).read_text().splitlines()
    fields = full[10].split(";")
    fields[9] = "1"  # day: back to the 1st in the middle of May
    full[10] = ";".join(fields)
    variant, frame, _ = tm.read_extract(_write(tmp_path, "\n".join(full) + "\n"))
    with pytest.raises(tm.TelemarketingInputError, match=r"row 10 \(line 11\), column day: '1' goes back"):
        tm.decode_calls(frame, variant)
    fields[9] = "31"
    fields[10] = '"jun"'
    full[10] = ";".join(fields)
    variant, frame, _ = tm.read_extract(_write(tmp_path, "\n".join(full) + "\n"))
    with pytest.raises(tm.TelemarketingInputError, match=r"row 10 \(line 11\), column day: '31' is not a day"):
        tm.decode_calls(frame, variant)


def test_a_shuffled_file_is_refused_rather_than_dated_centuries_ahead(tmp_path):
    extract = pd.read_csv(tm.write_fixture(tmp_path / "a.csv", rows=2000, months=6, seed=1), sep=";", dtype=str)
    shuffled = extract.sample(frac=1, random_state=0)
    path = tmp_path / "shuffled.csv"
    shuffled.to_csv(path, sep=";", index=False)
    variant, frame, _ = tm.read_extract(path)
    with pytest.raises(tm.TelemarketingInputError, match="not in call order"):
        tm.decode_calls(frame, variant)


def test_attributes_another_source_declared_stay_declared(tmp_path):
    settings = Settings(platform_env="local", data_dir=tmp_path / "data")
    write_declaration(
        settings, [AttributeSpec("credit_limit", "number", (), "Card limit"), AttributeSpec("job", "number")]
    )
    source = tm.write_fixture(tmp_path / "extract.csv", rows=100, months=1, variant="full", seed=4)
    tm.convert_telemarketing(source, settings)
    declared = {spec.attribute: spec.kind for spec in load_declaration(settings)}
    assert declared["credit_limit"] == "number" and declared["job"] == "category" and "balance" in declared
