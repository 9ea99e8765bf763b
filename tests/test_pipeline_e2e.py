"""The daily and training DAGs over a tiny synthetic bank, run with `dag.test()`, through one turn of the loop.

Three consecutive logical dates, each a bank_daily run followed by the bank_training run
its monitoring asset schedules. The first (bootstrap) run loads the history (full
build) and has no champion to score with; its training run trains every model (the
no-champion trigger). The second publishes lists; the simulator executes them as the
next day's landing; the third is a normal incremental day that reads those contacts
back. Assertions follow each stage's output.
"""

from __future__ import annotations

import gc
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from bankmkt.settings import get_settings

pytestmark = pytest.mark.e2e

START = date(2024, 1, 1)
DAYS = 49
CUSTOMERS = 500
LIST_SIZE = 10  # the standing campaigns' daily capacity: small enough to fill after the contact policy
LAST_DAY = START + timedelta(days=DAYS - 1)
BOOTSTRAP = LAST_DAY - timedelta(days=2)
RUN_DAYS = [LAST_DAY - timedelta(days=1), LAST_DAY]
DAGS_DIR = Path(__file__).resolve().parents[1] / "dags"


@pytest.fixture(scope="module")
def daily_runs(monkeypatch_module):
    from bankmkt.generator import generate_bank

    monkeypatch_module.setenv("TARGET_LIST_SIZE", str(LIST_SIZE))
    settings = get_settings()
    from bankmkt.generator.simulator import step

    # The history ends the day before the last: the bank then executes the platform's first lists.
    generate_bank(
        customers=CUSTOMERS,
        days=DAYS - 1,
        start_date=START,
        seed=2024,
        data_dir=settings.data_dir,
        contact_rate=0.15,
        loop_days=1,
    )
    env = {**__import__("os").environ, **settings.environment()}
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )

    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(DAGS_DIR))
    daily, training = bag.dags["bank_daily"], bag.dags["bank_training"]
    states = {}
    for day in [BOOTSTRAP, *RUN_DAYS]:
        logical = datetime(day.year, day.month, day.day, tzinfo=UTC)
        states[day] = (str(daily.test(logical_date=logical).state), str(training.test(logical_date=logical).state))
        if day == RUN_DAYS[0]:
            step(day, settings)
    return settings, states


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _lists(settings, day) -> pd.DataFrame:
    """D's published lists as the marketing tool sees them: pseudonyms mapped back through D's lookup."""
    from bankmkt.pseudonyms import read_lookup

    lists = pd.concat(pd.read_parquet(p) for p in settings.target_list_dir(day).glob("target_list_*.parquet"))
    return lists.merge(read_lookup(day, settings), on="customer_key", how="left", validate="many_to_one")


def _stage(settings, day, stage):
    return json.loads((settings.runs_dir / f"dt={day.isoformat()}" / f"{stage}.json").read_text())["result"]


def test_every_run_succeeds(daily_runs):
    _, states = daily_runs
    assert states == dict.fromkeys([BOOTSTRAP, *RUN_DAYS], ("success", "success"))


def test_contract_check_accepted_the_history_then_one_day(daily_runs):
    settings, _ = daily_runs
    assert _stage(settings, BOOTSTRAP, "check_landing")["days_checked"] == DAYS - 2
    assert _stage(settings, RUN_DAYS[0], "check_landing")["days_checked"] == 1
    assert _stage(settings, RUN_DAYS[1], "check_landing")["days_checked"] == 1


def test_the_first_load_built_its_history_month_by_month(daily_runs):
    """The DAG's build_history task built January as a slice of its own before the first day's
    build (which then added February); the daily runs after it had nothing to slice."""
    settings, _ = daily_runs
    first_load = _stage(settings, BOOTSTRAP, "build_history")
    assert [piece["until"] for piece in first_load["slices"]] == ["2024-01-31"]
    assert first_load["slices"][0].get("success", 0) > 0 and not first_load["slices"][0].get("error")
    for day in RUN_DAYS:
        assert _stage(settings, day, "build_history")["slices"] == []


def test_warehouse_marts_have_rows(daily_runs):
    settings, _ = daily_runs
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        customers = con.execute("select count(*) from dim_customers").fetchone()[0]
        features_today = con.execute(
            "select count(*) from customer_features where feature_date = ?", [LAST_DAY]
        ).fetchone()[0]
        labels = con.execute("select count(*), sum(label) from training_labels").fetchone()
        pii = con.execute(
            "select count(*) from information_schema.columns where table_name = 'dim_customers' "
            "and column_name in ('first_name', 'last_name', 'email', 'phone', 'national_id')"
        ).fetchone()[0]
    assert customers >= CUSTOMERS
    assert features_today == customers
    assert labels[0] > 100 and labels[1] > 5
    assert pii == 0


def test_quality_gate_passed_and_left_data_docs(daily_runs):
    settings, _ = daily_runs
    gate = _stage(settings, LAST_DAY, "validate_features")
    assert gate["success"] is True
    assert gate["expectations"] >= 20
    assert set(gate["marts"]) == {"customer_features", "customer_segments", "training_labels"}
    assert Path(gate["data_docs"]).exists()


def test_online_features_equal_offline_values(daily_runs):
    """Every customer's served features equal the exported (offline) values of the last run's date."""
    from bankmkt import features

    settings, _ = daily_runs
    names = features.feature_names(settings)
    offline = features.scoring_frame(LAST_DAY, settings).set_index("customer_id")[names]
    online = features.online_features(list(offline.index), settings).set_index("customer_id")[names]
    offline = offline.astype("float64").sort_index()
    online = online.astype("float64").sort_index()
    assert len(offline) >= CUSTOMERS
    pd.testing.assert_frame_equal(online, offline, check_exact=False, rtol=1e-6)
    # A customer the store has never seen gets no values, not another customer's.
    unknown = features.online_features(["C9999999"], settings).set_index("customer_id")[names]
    assert unknown.isna().all(axis=None)


NOTEBOOK = """
import pandas as pd
from feast import FeatureStore

store = FeatureStore(repo_path="feature_repo")
print("views", sorted(view.name for view in store.list_feature_views()))
print("services", sorted(service.name for service in store.list_feature_services()))
service = store.get_feature_service("propensity_v2")
online = store.get_online_features(features=service, entity_rows=[{"customer_id": c} for c in CUSTOMERS]).to_df()
online.to_parquet(OUT + "/online.parquet")
entities = pd.DataFrame({"customer_id": CUSTOMERS, "event_timestamp": pd.Timestamp(WHEN, tz="UTC")})
store.get_historical_features(entity_df=entities, features=service).to_df().to_parquet(OUT + "/offline.parquet")
"""


def test_the_feature_repo_works_from_a_plain_shell_and_refuses_without_its_variables(daily_runs, tmp_path):
    """An ML engineer's notebook: plain Feast SDK on feature_repo/, the platform's settings exported in the shell."""
    import os
    import shlex

    from bankmkt import features

    settings, _ = daily_runs
    project = settings.project_root
    customers = sorted(features.scoring_frame(LAST_DAY, settings)["customer_id"])[:5]
    script = (
        f"CUSTOMERS = {customers!r}; OUT = {str(tmp_path)!r}; "
        f"WHEN = {(LAST_DAY + timedelta(days=1)).isoformat()!r}\n" + NOTEBOOK
    )
    plain = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
    python = shlex.quote(sys.executable)
    # Without the variables: a loud error naming them, and nothing created under feature_repo/.
    before = sorted(p.name for p in (project / "feature_repo").iterdir())
    refused = subprocess.run([sys.executable, "-c", script], cwd=project, env=plain, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "FeatureRepoNotConfigured" in refused.stderr and "FEAST_ONLINE_PATH, FEAST_REGISTRY_PATH" in refused.stderr
    assert 'eval "$(python -m bankmkt.settings --shell)"' in refused.stderr
    assert sorted(p.name for p in (project / "feature_repo").iterdir()) == before
    # With the settings of the DATA_DIR exported, as docs/feature_store.md shows.
    shell = f'eval "$({python} -m bankmkt.settings --shell)" && {python} -c {shlex.quote(script)}'
    done = subprocess.run(
        ["bash", "-c", shell],
        cwd=project,
        env={**plain, "DATA_DIR": str(settings.data_dir)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "customer_profile" in done.stdout and "propensity_v2" in done.stdout
    online = pd.read_parquet(tmp_path / "online.parquet").set_index("customer_id").sort_index()
    offline = pd.read_parquet(tmp_path / "offline.parquet").set_index("customer_id").sort_index()
    expected = features.online_features(customers, settings).set_index("customer_id").sort_index()
    names = features.feature_names(settings)
    pd.testing.assert_frame_equal(online[names].astype("float64"), expected[names].astype("float64"))
    # Point in time: features of the last feature date, as the online store serves them.
    pd.testing.assert_frame_equal(
        offline[names].astype("float64"), expected[names].astype("float64"), check_exact=False, rtol=1e-6
    )


def test_models_were_compared_with_the_truth(daily_runs):
    settings, _ = daily_runs
    trained = _stage(settings, BOOTSTRAP, "train_models")
    assert "churn" in trained["models"]  # trained, or skipped with its reason (no 60-day window closed yet)
    assert trained["models"]["churn"]["status"] in {"trained", "skipped"}
    oracle = {row["product_code"]: row for row in trained["oracle"]}
    assert set(oracle) == {"credit_card", "personal_loan", "term_deposit", "wealth_management"}
    compared = [row for row in oracle.values() if row["oracle_roc_auc"] is not None]
    assert compared, oracle
    for row in compared:
        assert 0.5 < row["oracle_roc_auc"] <= 1.0
        assert row["auc_ratio"] == pytest.approx(row["model_roc_auc"] / row["oracle_roc_auc"])


def test_a_registered_version_holds_the_champion_alias(daily_runs):
    from mlflow import MlflowClient

    settings, _ = daily_runs
    trained = _stage(settings, BOOTSTRAP, "train_models")["models"]
    champions = {}
    client = MlflowClient(tracking_uri=settings.mlflow_tracking_uri, registry_uri=settings.mlflow_tracking_uri)
    for product, outcome in trained.items():
        if outcome.get("status") != "trained":
            continue
        name = outcome["model_name"]
        versions = client.search_model_versions(f"name = '{name}'")
        assert versions, name
        champions[product] = client.get_model_version_by_alias(name, "champion").version
    assert champions, f"no model was trained: {trained}"


def test_target_lists_per_campaign_within_capacity(daily_runs):
    settings, _ = daily_runs
    result = _stage(settings, LAST_DAY, "score_and_target")
    per_campaign = result["per_campaign"]
    assert per_campaign, result
    assert result["campaigns"]["active"] == sorted(
        f"STANDING_{p.upper()}" for p in ("credit_card", "personal_loan", "term_deposit", "wealth_management")
    )
    for campaign_id in per_campaign:
        frame = pd.read_parquet(settings.target_list_dir(LAST_DAY) / f"target_list_{campaign_id}.parquet")
        contacted = frame.loc[~frame["is_control"]]
        assert 0 < len(contacted) <= LIST_SIZE, campaign_id
        assert frame["customer_key"].is_unique and frame["list_row_id"].is_unique and "customer_id" not in frame
        assert set(frame["channel"]) <= {"email", "push", "sms", "phone", "branch"}
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        loaded = con.execute("select count(*) from fct_target_lists where run_date = ?", [LAST_DAY]).fetchone()[0]
    assert loaded == sum(per_campaign.values())
    assert result["quality"]["success"] is True  # the lists passed their suite before being written
    assert Path(result["report"]).is_file()
    # Every offer the policy dropped is counted under the first rule it failed, and the dictionary says so.
    excluded = result["contact_policy"]["excluded_by_rule"]
    assert excluded["holds_product"] > 0 and excluded["no_marketing_consent"] > 0
    dictionary = (settings.target_list_dir(LAST_DAY) / "data_dictionary.md").read_text()
    assert f"| holds_product | {excluded['holds_product']} |" in dictionary


def test_the_first_days_lists_came_back_as_contacts_and_count_the_next_day(daily_runs):
    """The loop: D's lists are executed on D+1, read back by the contract and dbt, and D+1's policy counts them."""
    settings, _ = daily_runs
    first, second = _lists(settings, RUN_DAYS[0]), _lists(settings, LAST_DAY)
    assert first["customer_id"].notna().all() and second["customer_id"].notna().all()
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        landed = con.execute(
            "select list_row_id, is_control, delivery_status from stg_core_banking__campaign_contacts "
            "where list_row_id is not null"
        ).df()
    assert set(landed["list_row_id"]) == set(first["list_row_id"])
    assert landed.loc[landed["is_control"], "delivery_status"].isna().all()
    # Contacted yesterday: not contacted again today (cool-down of 7 days counts from publication).
    contacted_first = set(first.loc[~first["is_control"], "customer_id"])
    assert contacted_first.isdisjoint(second.loc[~second["is_control"], "customer_id"])
    # Yesterday's controls stay out of their campaign.
    controls = first.loc[first["is_control"], ["customer_id", "campaign_id"]]
    assert controls.merge(second, on=["customer_id", "campaign_id"]).empty
    # Warehouse eligibility reached the lists: nobody listed fails customer_product_gaps.
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        gaps = con.execute(
            "select customer_id, product_code, is_eligible from customer_product_gaps where as_of_date = ?", [LAST_DAY]
        ).df()
    checked = second.merge(gaps, on=["customer_id", "product_code"], how="left")
    assert checked["is_eligible"].fillna(False).all()


def test_effectiveness_report_is_written(daily_runs):
    settings, _ = daily_runs
    result = _stage(settings, LAST_DAY, "report_effectiveness")
    assert Path(result["report"]).is_file()
    page = Path(result["report"]).read_text()
    assert "Marketing effectiveness" in page and "Model health and retraining" in page
    assert "alt='feature drift'" in page


def test_training_runs_only_when_a_trigger_fires(daily_runs):
    """The bootstrap day trains every model (no champion yet); later days decide from the monitoring,
    and every decision names the trigger that fired or why none did."""
    settings, _ = daily_runs
    first = _stage(settings, BOOTSTRAP, "decide_retraining")
    assert {d["model_name"] for d in first["decisions"]} == {
        *(
            f"{kind}_{p}"
            for kind in ("propensity", "uplift")
            for p in ("credit_card", "personal_loan", "term_deposit", "wealth_management")
        ),
        "propensity_churn",
    }
    assert all(d["fired"] == ["no_champion"] for d in first["decisions"])
    state = json.loads(settings.training_state_file.read_text())
    assert set(state) == {d["model_name"] for d in first["decisions"]}  # every attempt remembered, trained or not
    monitored = _stage(settings, LAST_DAY, "monitor_models")["models"]
    champions = [m for m in monitored if m.get("champion_version")]
    assert champions and all(m.get("feature_psi") for m in champions)
    latest = _stage(settings, LAST_DAY, "decide_retraining")
    for decision in latest["decisions"]:
        assert decision["reason"], decision
        if not decision["retrain"]:
            assert decision["reason"].startswith("no trigger fired")
    trained = _stage(settings, LAST_DAY, "train_models")
    assert sorted(trained.get("requested") or []) == sorted(latest["retrain"]) or (
        not latest["retrain"] and trained["status"] == "skipped"
    )
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        monitoring = con.execute(
            "select count(*), count(distinct model_name) from fct_model_monitoring where run_date = ?", [LAST_DAY]
        ).fetchall()[0]
        decided = con.execute(
            "select count(*) from fct_retraining_decisions where run_date = ? and fired", [BOOTSTRAP]
        ).fetchall()[0][0]
    assert monitoring[0] > 0 and monitoring[1] == 9
    assert decided == 9


def test_a_target_list_failing_its_suite_is_never_written(daily_runs, monkeypatch):
    """A scoring defect (a propensity above 1) stops the stage before any list, CSV or score file changes."""
    import hashlib

    import ml.targeting
    from bankmkt import pipeline
    from bankmkt.quality import QualityGateFailed

    settings, _ = daily_runs

    def outputs() -> dict[str, str]:
        return {
            str(path.relative_to(settings.outputs_dir)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(settings.outputs_dir.rglob("*"))
            if path.is_file()
        }

    real = ml.targeting.build_target_lists

    def broken(*args, **kwargs):
        lists, exclusions = real(*args, **kwargs)
        lists.loc[lists.index[0], "propensity"] = 1.5
        return lists, exclusions

    before = outputs()
    monkeypatch.setattr(ml.targeting, "build_target_lists", broken)
    with pytest.raises(QualityGateFailed, match="propensity"):
        pipeline.score_and_target(LAST_DAY)
    assert outputs() == before


def test_target_lists_respect_the_contact_policy(daily_runs):
    """Nobody contacted in the last 7 days, or twice in 30, is on a list; the history is the landed contacts
    and the published lists."""
    from bankmkt import pipeline

    settings, _ = daily_runs
    history = pipeline.contact_history(LAST_DAY, settings)[0].set_index("customer_id")
    assert len(history) > 50  # the tiny bank contacts 15 % of its customers per campaign: the check bites
    lists = _lists(settings, LAST_DAY)
    on_lists = history.reindex(lists["customer_id"]).dropna(how="all")
    last = pd.to_datetime(on_lists["last_contacted_at"]).dt.normalize()
    assert (on_lists["contacts_30d"] < 2).all()
    assert ((pd.Timestamp(LAST_DAY) - last).dt.days >= 7).all()
    assert _stage(settings, LAST_DAY, "score_and_target")["contact_policy"]["customers_contacted_last_30d"] == int(
        (history["contacts_30d"] > 0).sum()
    )


def test_do_not_contact_list_removes_customers(daily_runs):
    from bankmkt import pipeline

    settings, _ = daily_runs
    listed = _lists(settings, LAST_DAY)
    barred = sorted(listed.sort_values("rank")["customer_id"].head(5))
    settings.do_not_contact_file.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"customer_id": barred}).to_csv(settings.do_not_contact_file, index=False)
    try:
        result = pipeline.score_and_target(LAST_DAY)
        relisted = _lists(settings, LAST_DAY)
    finally:
        settings.do_not_contact_file.unlink()
    assert barred, "nobody listed: the check would be vacuous"
    assert result["contact_policy"]["do_not_contact"] == len(barred)
    assert result["contact_policy"]["excluded_by_rule"]["do_not_contact"] >= len(barred)
    assert not set(barred) & set(relisted["customer_id"])


def test_uplift_champions_turn_the_lists_to_incremental_value(daily_runs):
    """Once every product has an uplift champion, the day's lists are ranked by uplift x value - cost.

    The tiny bank's few controls cannot train uplift models (their training is a recorded skip), so
    each product's uplift model is trained here on a randomised frame with the platform's feature
    columns, through the platform's own training, registry gate and scoring; the aliases are removed
    afterwards.
    """
    from bankmkt import features, pipeline
    from ml import product_value
    from ml.registry import use_tracking
    from ml.uplift import train_uplift_and_register, uplift_model_name
    from tests.ml.test_uplift import platform_contacts

    settings, _ = daily_runs
    assert _stage(settings, LAST_DAY, "score_and_target")["targeting_policy"]["used"] == "propensity"
    columns = features.feature_names(settings)
    frame = platform_contacts(4_000, seed=21)
    assert set(columns) <= set(frame.columns)
    client = use_tracking(settings)
    products = ("credit_card", "personal_loan", "term_deposit", "wealth_management")
    try:
        for product in products:
            trained = train_uplift_and_register(
                frame.assign(product_code=product), product, LAST_DAY, columns, settings
            )
            assert trained["promoted"], trained
        result = pipeline.score_and_target(LAST_DAY)
    finally:
        for product in products:
            for alias in ("champion", "previous", "challenger"):
                try:
                    client.delete_registered_model_alias(uplift_model_name(product), alias)
                except Exception:
                    pass
    assert result["targeting_policy"]["used"] == "uplift", result["targeting_policy"]
    lists = pd.concat(pd.read_parquet(p) for p in settings.target_list_dir(LAST_DAY).glob("target_list_*.parquet"))
    assert len(lists) and lists["uplift"].notna().all()
    contacted = lists.loc[~lists["is_control"]]
    value = contacted["product_code"].map(product_value)
    # expected value = uplift x value x (1 - churn risk) - cost: never more than the undiscounted uplift's worth
    assert (contacted["expected_value"] <= contacted["uplift"] * value - contacted["contact_cost"] + 1e-9).all()
    assert (contacted["uplift"] * value > contacted["contact_cost"]).all()  # no contact worth less than it costs
    pipeline.score_and_target(LAST_DAY)  # restore the day's propensity lists for anything that reads them later


def _digests(folder: Path) -> dict[str, str]:
    import hashlib

    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_a_copied_data_dir_runs_on_its_own_files_and_never_touches_the_source(daily_runs, tmp_path):
    """`cp -a A C`, then a day on C: C adopts its state (Feast infra, MLflow paths); A stays byte for byte."""
    import shutil
    import sqlite3

    settings, _ = daily_runs
    source, copy = settings.data_dir, tmp_path / "copy"
    shutil.copytree(source, copy, symlinks=True)
    before = _digests(source)
    completed = subprocess.run(
        [sys.executable, "-m", "bankmkt.cli", "run", "--date", LAST_DAY.isoformat()],
        env={**__import__("os").environ, "DATA_DIR": str(copy)},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert f"was made as {source}: adopted it" in completed.stdout
    assert _digests(source) == before, "the run on the copy changed the source DATA_DIR"

    with sqlite3.connect(copy / "feast" / "online_store.db") as con:  # the copy's online store kept its tables
        tables = [row[0] for row in con.execute("select name from sqlite_master where type = 'table'")]
    assert len(tables) >= 7
    with sqlite3.connect(copy / "mlflow" / "mlflow.db") as con:
        locations = [row[0] for row in con.execute("select artifact_location from experiments where name != 'Default'")]
        sources = [row[0] for row in con.execute("select source from model_versions")]
    assert locations and all(str(copy) in location for location in locations)
    assert sources and not any(str(source) in path for path in sources)
    assert json.loads((copy / ".bankmkt-data-dir").read_text())["data_dir"] == str(copy)


def test_a_rerun_of_a_finished_day_reuses_the_versions_it_registered(daily_runs):
    """Same day, same data, same code: the rerun's training returns the registered version, adds none."""
    from bankmkt import pipeline
    from ml import model_name
    from ml.registry import use_tracking

    settings, _ = daily_runs
    client = use_tracking(settings)
    names = [model_name(product, settings) for product in pipeline.PROMOTED_PRODUCTS]
    first = pipeline.train_models(LAST_DAY, models=names)
    trained = {
        product: outcome
        for product, outcome in first["models"].items()  # or reused: the day ran before
        if outcome["status"] in ("trained", "reused")
    }
    assert trained, first["models"]
    counts = {name: len(client.search_model_versions(f"name = '{name}'")) for name in names}
    second = pipeline.train_models(LAST_DAY, models=names)
    for product, outcome in trained.items():
        assert second["models"][product]["status"] == "reused", second["models"][product]
        assert second["models"][product]["version"] == outcome["version"]
    assert {name: len(client.search_model_versions(f"name = '{name}'")) for name in names} == counts


def test_no_personal_value_of_the_landing_reaches_the_warehouse_exports_online_store_or_lists(daily_runs):
    """Searched by value, not by column name: names, identity numbers, e-mails, phones, exact birth dates."""
    import re

    settings, _ = daily_runs
    people = (
        duckdb.connect()
        .execute(f"""
        select distinct value from (
            unpivot (select first_name, last_name, national_id, email, phone, birth_date
                     from read_csv('{settings.landing_dir}/customers/dt=*/customers.csv', all_varchar=true))
            on first_name, last_name, national_id, email, phone, birth_date into name field value value)
        where length(value) >= 4 and not (field = 'birth_date' and value like '%-01')""")
        .fetchall()
    )
    values = sorted({row[0] for row in people})
    birth_dates = sum(1 for v in values if re.fullmatch(r"\d{4}-\d{2}-\d{2}", v))
    assert len(values) > 1000 and any("@" in v for v in values)

    def tables_holding(con, relations: dict[str, str]) -> list[str]:
        con.execute("create or replace temp table personal as select unnest(?::varchar[]) as value", [values])
        hits = []
        for label, relation in relations.items():
            for column, kind, *_ in con.execute(f"describe select * from {relation}").fetchall():
                if kind not in ("VARCHAR", "DATE"):
                    continue
                count = con.execute(
                    f'select count(distinct "{column}") from {relation} where cast("{column}" as varchar) '
                    "in (select value from personal)"
                ).fetchall()[0][0]
                # Text: any hit. Dates: a birth-date column matches most customers; another date column
                # (customer_since, ...) may share a few days with birth dates by chance.
                if count > (0 if kind == "VARCHAR" else max(5, birth_dates // 20)):
                    hits.append(f"{label}.{column} ({count} values)")
        return hits

    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from information_schema.tables where table_schema = 'main'"
            ).fetchall()
        ]
        found = tables_holding(con, {f"warehouse {t}": f'"{t}"' for t in tables})
    # An online-store connection still open elsewhere in the session keeps a SQLite write-ahead log that is
    # folded into the database and removed when it closes: close such connections first, and search the
    # database itself rather than its transient -wal / -shm files.
    gc.collect()
    for database in settings.feast_dir.rglob("*.db"):
        if database.read_bytes()[:16] != b"SQLite format 3\x00":
            continue  # Feast's file registry is a protobuf named registry.db
        with sqlite3.connect(database) as con:
            con.execute("pragma wal_checkpoint(truncate)")
    folders = (settings.exports_dir, settings.outputs_dir, settings.feast_dir, settings.reports_dir / "effectiveness")
    files = [
        path
        for folder in folders
        for path in folder.rglob("*")
        if path.is_file() and not path.name.endswith(("-wal", "-shm", "-journal"))
    ]
    found += tables_holding(
        duckdb.connect(),
        {str(p.relative_to(settings.data_dir)): f"read_parquet('{p}')" for p in files if p.suffix == ".parquet"},
    )
    pattern = re.compile("|".join(re.escape(v) for v in values).encode())
    found += [
        str(p.relative_to(settings.data_dir))
        for p in files
        if p.suffix != ".parquet" and pattern.search(p.read_bytes())
    ]
    assert not found, found


def test_churn_risk_is_scored_without_any_product_champion(daily_runs, monkeypatch):
    """A bank whose product models have no champion and no labelled contact to explore from (an
    attrition extract, say) still gets every customer's churn risk from the churn champion; the
    day's record says why no list was made.

    The tiny bank's 49 days close no 60-day churn window, so its churn model is trained here on
    weekly snapshots with the churn service's columns, through the platform's own training and
    registry gate; the product champions' aliases are taken away for the run and restored after.
    """
    from bankmkt import features, pipeline
    from ml.registry import alias_version, use_tracking
    from ml.training import train_churn_model
    from tests.ml.conftest import make_churn_frame

    settings, _ = daily_runs
    client = use_tracking(settings)
    columns = features.feature_names(settings, features.CHURN_FEATURE_SERVICE)
    snapshots = make_churn_frame(customers=1_500, snapshots=4, seed=8, end="2024-01-29")
    for column in set(columns) - set(snapshots.columns):
        snapshots[column] = 0.0
    churn = train_churn_model(snapshots, LAST_DAY, columns, settings)
    assert churn["promoted"], churn
    champions = {
        name: alias_version(name, "champion", client)
        for name in (f"{settings.model_prefix}_{product}" for product in pipeline.PROMOTED_PRODUCTS)
    }
    assert any(champions.values()), "no product champion to take away: the check would be vacuous"
    monkeypatch.setattr(pipeline, "observed_conversion_rate", lambda *args, **kwargs: None)
    churn_file = settings.churn_risk_dir(LAST_DAY) / "churn_risk.parquet"
    churn_file.unlink(missing_ok=True)
    try:
        for name, version in champions.items():
            if version is not None:
                client.delete_registered_model_alias(name, "champion")
        result = pipeline.score_and_target(LAST_DAY)
    finally:
        for name, version in champions.items():
            if version is not None:
                client.set_registered_model_alias(name, "champion", version)
        client.delete_registered_model_alias(churn["model_name"], "champion")
        monkeypatch.undo()
    customers = features.scoring_frame(LAST_DAY, settings)["customer_id"]
    assert result["status"] == "skipped", result
    assert set(result["skipped"]) == set(pipeline.PROMOTED_PRODUCTS)
    assert result["churn_risk_scored"] == customers.nunique() > 0
    assert result["churn_risk"] == str(churn_file)
    risk = pd.read_parquet(churn_file)
    assert set(risk["customer_id"]) == set(customers)
    assert risk["churn_risk"].between(0, 1).all() and risk["model_name"].eq(churn["model_name"]).all()
    recorded = _stage(settings, LAST_DAY, "score_and_target")
    assert recorded["status"] == "skipped" and recorded["churn_risk_scored"] == len(risk)
    churn_file.unlink()
    pipeline.score_and_target(LAST_DAY)  # the day's lists again, without churn risk as before
