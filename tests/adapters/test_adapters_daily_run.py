"""Each adapter's bank through the whole daily run: `python -m bankmkt.cli run`, as a user runs it.

The adapter converts a file of its public shape (the module's own fixture: the real files are not
shipped) into a fresh DATA_DIR; the platform then runs bank_daily and bank_training (Airflow
`dags test`) for the last landed day: the contract check of every landed day, the dbt build, the
quality gate, the feature export and Feast (the bank's declared attributes included), training,
scoring and targeting. The assertions read what the run left behind: its stage records, the
warehouse, Feast's online store and MLflow's registry.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from bankmkt.settings import Settings, get_settings

pytestmark = pytest.mark.e2e

SESSION_DATA_DIR = os.environ["DATA_DIR"]


def run_platform(data_dir: Path, first: date, last: date | None = None) -> str:
    """``python -m bankmkt.cli run`` for ``first``..``last`` on ``data_dir``, in a child process whose
    settings come from DATA_DIR alone (none of the test session's derived variables)."""
    inherited = set(get_settings().environment())
    env = {k: v for k, v in os.environ.items() if k not in inherited and k != "DATA_DIR"}
    env.update(DATA_DIR=str(data_dir), PLATFORM_ENV="local")
    command = [sys.executable, "-m", "bankmkt.cli", "run", "--date", first.isoformat()]
    if last is not None:
        command += ["--to", last.isoformat()]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-6000:])
    return done.stdout


def stage(settings: Settings, day: date, name: str) -> dict:
    """What a stage of the run returned (its record's result)."""
    return json.loads((settings.runs_dir / f"dt={day.isoformat()}" / f"{name}.json").read_text())["result"]


@contextlib.contextmanager
def reading_another_data_dir():
    """Reads of another DATA_DIR in this process (Feast's store exports its settings as variables, MLflow
    keeps a tracking URI) leave the test session's variables and tracking URI as they were."""
    import mlflow

    variables, tracking_uri = dict(os.environ), mlflow.get_tracking_uri()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(variables)
        mlflow.set_tracking_uri(tracking_uri)


def champion_features(settings: Settings, name: str) -> tuple[list[str], list[str]]:
    """The feature and categorical columns of a registered model's champion."""
    import mlflow

    with reading_another_data_dir():
        mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion").unwrap_python_model()
    return model.feature_columns, model.categorical_columns


def landing_rows(settings: Settings, source: str, day: date) -> list[str]:
    lines = (settings.landing_dir / source / f"dt={day.isoformat()}" / f"{source}.csv").read_text().splitlines()
    return lines[1:]


def query(settings: Settings, sql: str, params=None) -> list[tuple]:
    with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


# ---- the telemarketing campaign ----------------------------------------------------------------


@pytest.fixture(scope="module")
def telemarketing(tmp_path_factory):
    from bankmkt.adapters import telemarketing as tm

    data_dir = tmp_path_factory.mktemp("telemarketing") / "data"
    settings = Settings(platform_env="local", data_dir=data_dir)
    source = tm.write_fixture(tmp_path_factory.mktemp("tm_source") / "bank-additional.csv", rows=2400, months=3)
    summary = tm.convert_telemarketing(source, settings)
    last = date.fromisoformat(summary["last_day"])
    # The first load trains on the history; the next day scores with the champions it registered.
    output = run_platform(data_dir, last - timedelta(days=1), last)
    return settings, summary, last, output


def test_telemarketing_runs_through_the_daily_run_with_its_attributes_and_contact_history(telemarketing):
    settings, summary, last, output = telemarketing
    first_load = last - timedelta(days=1)
    # Every landed day passed the contract and reached the warehouse.
    landed_days = (last - date.fromisoformat(summary["first_day"])).days + 1
    assert stage(settings, first_load, "check_landing")["days_checked"] == landed_days - 1
    assert query(settings, "select count(*) from dim_customers")[0][0] == summary["customers"]
    attributes = query(settings, "select count(distinct attribute) from customer_attribute_history")[0][0]
    assert attributes >= 11  # job, marital, education, credit default, housing and personal loans, phone type, economy
    contacts = query(
        settings,
        "select count(*), count(distinct contact_attempt_number), "
        "count(*) filter (where contact_previous_outcome = 1) from training_labels",
    )[0]
    # Every call is labelled once its one-day response window has closed: all but the last day's.
    last_calls = len(landing_rows(settings, "campaign_contacts", last))
    assert contacts[0] == summary["contacts"] - last_calls
    assert contacts[1] > 3 and contacts[2] > 0  # the attempts, and the earlier campaigns' successes, are kept
    assert landed_days > 60
    # The bank's attributes reached Feast's view and the model's features.
    published = stage(settings, first_load, "publish_features")
    assert published["attributes"]["attributes"] == attributes
    assert "customer_attributes" in published["apply"]["feature_views"]
    model = stage(settings, first_load, "train_models")["models"]["term_deposit"]
    assert model["status"] == "trained" and model["metrics"]["roc_auc"] > 0.55, model
    features, categorical = champion_features(settings, model["model_name"])
    assert {"attr_job", "attr_euribor3m", "contact_attempt_number", "contact_previous_outcome"} <= set(features)
    assert {"attr_job", "attr_marital", "contact_previous_outcome", "contact_month"} <= set(categorical)
    assert "attr_euribor3m" not in categorical
    # Scored on the next day with the champion, its attributes and contact features included.
    scored = stage(settings, last, "score_and_target")
    assert scored["scored_customers"] == summary["customers"] and "term_deposit" not in scored["skipped"], scored
    # A bank without accounts is not judged on balance (unknown is not zero): its customers reach the lists.
    assert scored["contact_policy"]["excluded_by_rule"]["balance_below_minimum"] == 0
    assert scored["target_rows"] > 0


# ---- the e-mail experiment ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def email_experiment(tmp_path_factory):
    from bankmkt.adapters import email_experiment as em

    data_dir = tmp_path_factory.mktemp("email") / "data"
    settings = Settings(platform_env="local", data_dir=data_dir)
    source = em.write_fixture(tmp_path_factory.mktemp("em_source") / "experiment.csv", rows=6000, seed=3)
    summary = em.convert_email_experiment(source, settings, product_code="credit_card")
    last = date.fromisoformat(summary["last_day"])
    output = run_platform(data_dir, last)
    return settings, summary, last, output


def test_an_experiment_with_a_shared_control_is_measured_per_arm_with_visits_and_spend(email_experiment):
    settings, summary, last, _ = email_experiment
    rows = query(
        settings,
        """
        select campaign_id, experiment_id, has_shared_control, treated_contacts, control_contacts,
               visit_rate, control_visit_rate, visit_uplift, visit_uplift_ci_low, visit_uplift_ci_high,
               amount_uplift_per_contact_eur
        from campaign_effectiveness where grain = 'campaign' order by campaign_id
        """,
    )
    by_arm = {row[0]: row for row in rows}
    assert set(by_arm) == {"EMAIL_MENS", "EMAIL_WOMENS"}
    controls = summary["customers_per_arm"]["No E-Mail"] if "customers_per_arm" in summary else None
    for arm in by_arm.values():
        assert arm[1] == "EMAIL_2WEEKS" and arm[2] is True
        # Both arms are measured against the whole shared control group.
        assert arm[4] == by_arm["EMAIL_MENS"][4] and (controls is None or arm[4] == controls)
        assert arm[8] <= arm[7] <= arm[9]
    # The e-mails raise visits (the fixture's effect), and the interval says so.
    assert by_arm["EMAIL_MENS"][7] > 0.03 and by_arm["EMAIL_MENS"][8] > 0
    # Marketing reads it in the effectiveness report.
    report = Path(stage(settings, last, "report_effectiveness")["report"]).read_text()
    section = report[report.index("Visits, amounts and shared controls") :]
    assert "EMAIL_2WEEKS" in section and "EMAIL_WOMENS" in section


def test_an_experiment_without_transactions_builds_features_from_its_attributes(email_experiment):
    settings, summary, last, _ = email_experiment
    features = query(settings, "select count(*) from customer_features where feature_date = ?", [last])[0][0]
    assert features == summary["rows"]
    published = stage(settings, last, "publish_features")
    assert published["attributes"]["attribute_customers"] == summary["rows"]
    # A conversion model learnt from the experiment's 12-month summaries (the product the user mapped).
    model = stage(settings, last, "train_models")["models"]["credit_card"]
    assert model["status"] == "trained" and model["holdout_split"] == "customer", model
    features, categorical = champion_features(settings, model["model_name"])
    assert {"attr_recency_months", "attr_history_segment"} <= set(features) and "attr_history_segment" in categorical
    # Feast's online store serves a customer's declared attributes.
    from bankmkt import features as platform_features

    with reading_another_data_dir():
        online = platform_features.online_features(["C0000001"], settings, "customer_360_v1")
    assert online["attr_recency_months"].notna().all() and online["attr_purchase_channel"].iloc[0] > 0


def test_the_session_keeps_its_own_data_dir_after_reading_the_adapters_banks(email_experiment, telemarketing):
    """The tests above read other DATA_DIRs in this process; every later test runs on the session's."""
    assert os.environ["DATA_DIR"] == SESSION_DATA_DIR
    assert get_settings().data_dir.resolve() == Path(SESSION_DATA_DIR).resolve()
