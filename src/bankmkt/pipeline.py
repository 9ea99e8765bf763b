"""The stages of the daily run, one function each.

The Airflow DAGs (dags/bank_daily.py, dags/bank_training.py) call these; so can a person,
through `python -m bankmkt.cli stage <name> --date D`, which runs the same function. What a
stage needs from an earlier one arrives as an argument (the DAG hands over the earlier task's
return value, its XCom), or is read from the warehouse or the MLflow registry; called without
it, a stage computes it the way the DAG does. Each stage records what it produced, where and
how long it took under DATA_DIR/runs/dt=D/: an audit trail for people (`cli summary`), which
no stage reads to do its work.
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from bankmkt.campaigns import PROMOTED_PRODUCTS  # the offers marketing may promote
from bankmkt.runtime import (
    apply_environment,
    json_safe,
    parse_run_date,
    record_stage,
    refuse_while_another_run_holds,
    timed,
)

if TYPE_CHECKING:
    import pandas as pd


def check_landing(run_date: str | date) -> dict:
    """Contract-check D's landing files and, first, every earlier landed day not accepted yet.

    The first run on a new DATA_DIR thus checks the whole history it is about to
    load; a daily run checks one day. The first bad day stops the run (its batch
    goes to quarantine with a report) before anything reaches the warehouse.
    """
    from bankmkt.campaigns import ensure_catalogue
    from bankmkt.contract import enforce_landing_contract
    from bankmkt.contract.ledger import accepted_days, verify_accepted_files
    from bankmkt.contract.schema import landed_days, landing_sources

    day = parse_run_date(run_date)
    settings = apply_environment()
    refuse_while_another_run_holds(settings, f"bank_daily for {day} (check_landing)")
    with timed() as clock:
        # Accepted files are immutable: a file changed behind the platform's back stops the run first.
        verified = verify_accepted_files(settings)
        # Marketing's catalogue is checked like a landing file: a bad one stops the run here.
        campaigns, catalogue_note = ensure_catalogue(settings)
        accepted = accepted_days(settings)
        landed = set()
        for source in landing_sources():
            landed |= {d for d in landed_days(settings, source) if d < day}
        days = sorted(d for d in landed if d not in accepted) + [day]
        rows = 0
        for pending in days:
            report = enforce_landing_contract(pending, settings)
            rows += sum(report.rows_per_source.values())
            print(report.message(), flush=True)
    result = {
        "days_checked": len(days),
        "first_day": days[0].isoformat(),
        "rows": rows,
        "accepted_files_rehashed": verified["files_hashed"],
        "campaign_catalogue": {"campaigns": len(campaigns), "note": catalogue_note},
        # When the dbt build may start: the DAG's warehouse stage times its Cosmos tasks from here.
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_stage(day, "check_landing", result, clock["seconds"], settings)
    return result


def build_history(run_date: str | date) -> dict:
    """Before D's build: the history the warehouse has not built yet, in slices of
    ``WAREHOUSE_SLICE_MONTHS`` months when it is longer than one (a first load, a long pause).

    Nothing to do on an ordinary day (the warehouse holds D-1): the stage records that in
    milliseconds. The result's ``finished_at`` is when D's own build (the Cosmos tasks) may start.
    """
    from bankmkt import warehouse

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        sliced = warehouse.build_history_slices(day, settings)
    result = {
        "status": "built" if sliced["slices"] else "nothing to slice",
        **sliced,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record_stage(day, "build_history", result, clock["seconds"], settings)
    return result


def build_warehouse(run_date: str | date, dbt_started_at: str | datetime | None = None) -> dict:
    """The warehouse stage: D's dbt build (staging, intermediate, marts and their data tests),
    then a check and a record of what the marts hold.

    The build is :func:`bankmkt.warehouse.build_warehouse` with the daily selection
    (:data:`bankmkt.warehouse.DAILY_BUILD_EXCLUDE`). In the DAG, the Cosmos task group
    (:func:`bankmkt.dbt_tasks.warehouse_task_group`) runs that same build, rendered from the same
    selection, so that each model and its tests stay an Airflow task of their own; the DAG's
    build_warehouse task then calls this function with ``dbt_started_at``, the moment the
    contract check handed over (check_landing's ``checked_at``), and the stage records the Cosmos
    tasks' wall time instead of building again. Called without it (`python -m bankmkt.cli stage
    build_warehouse`, backfills, the Berka build), the stage runs the build itself; dbt's unit
    tests then also run when the warehouse is new (they check the SQL on fixed rows and write
    nothing to the warehouse).
    """
    from bankmkt import warehouse

    day = parse_run_date(run_date)
    settings = apply_environment()
    if dbt_started_at is None:
        with timed() as clock:
            summary = warehouse.build_warehouse(day, settings=settings)
        seconds, built = clock["seconds"], {"status_counts": summary["status_counts"]}
    else:
        started = datetime.fromisoformat(dbt_started_at) if isinstance(dbt_started_at, str) else dbt_started_at
        seconds = (datetime.now(UTC) - started).total_seconds()
        built = {"status_counts": {"built_by": "cosmos task group"}}
    result = {**warehouse_rows(day), **built}
    record_stage(day, "build_warehouse", result, seconds, settings)
    return result


def warehouse_rows(run_date: str | date) -> dict:
    """What the warehouse holds after D's build (read-only); the DAG records it after the dbt tasks."""
    from bankmkt import warehouse

    day = parse_run_date(run_date)
    settings = apply_environment()
    with warehouse.read_only_connection(settings) as con:  # as written: the gate has not run yet
        rows = {
            table: con.execute(f"select count(*) from {table}").fetchone()[0]
            for table in ("dim_customers", "fct_transactions", "customer_features", "training_labels")
        }
        rows["customer_features_on_run_date"] = con.execute(
            "select count(*) from customer_features where feature_date = ?", [day]
        ).fetchone()[0]
    if rows["customer_features_on_run_date"] == 0:
        raise RuntimeError(f"the warehouse build left no customer_features rows for {day}")
    return {"warehouse": str(settings.warehouse_path), "rows": rows}


def validate_features(run_date: str | date) -> dict:
    """Great Expectations gate on D's marts that leave the warehouse (features, segments, labels).

    Every suite runs, then a failure-level miss in any of them fails the run
    with one message listing them all, before anything is published.
    """
    from bankmkt import warehouse
    from bankmkt.quality import gate_marts

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        result = gate_marts(day, settings).as_dict()
        # Passed: readers (the training DAG, analysts, the feature export) move to this day.
        result["snapshot"] = warehouse.publish_snapshot(settings)
    record_stage(day, "validate_features", result, clock["seconds"], settings)
    return result


def publish_features(run_date: str | date) -> dict:
    """Export D's features to Parquet, `feast apply`, materialise D's window online."""
    from bankmkt import features

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        result = {
            "export": features.export_feature_mart(day, settings),
            "attributes": features.export_customer_attributes(day, settings),
            "apply": features.apply_feature_repo(settings),
            "materialize": features.materialize_day(day, settings),
            "online_store": settings.online_store_location,
        }
    record_stage(day, "publish_features", result, clock["seconds"], settings)
    return result


def monitor_models(run_date: str | date) -> dict:
    """Measure every champion on D: feature and prediction drift, realised performance, new labels.

    Read-only: the warehouse's labelled outcomes (Feast point-in-time features) and D's
    exported features. Writes ``outputs/monitoring/dt=D/model_monitoring.parquet`` (the
    warehouse loads it as ``fct_model_monitoring``). Returns the measurements per model
    (``models``): the training DAG decides from this return value (:func:`decide_retraining`).
    """
    from bankmkt import features, monitoring
    from ml.registry import use_tracking

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        population = features.scoring_frame(day, settings)
        state = monitoring.read_training_state(settings)
        client = use_tracking(settings)
        models = monitoring.platform_models(PROMOTED_PRODUCTS, settings)
        since = _earliest_label_mark(models, state, client)
        contacts = features.training_set(day, settings, since=since.get("contacts"))
        churn = features.churn_training_set(day, settings, since=since.get("churn"))
        records = [
            monitoring.monitor_model(
                model, population, churn if model.kind == "churn" else contacts, state.get(model.model_name), client
            )
            for model in models
        ]
        path = monitoring.write_parquet(
            monitoring.monitoring_rows(day, records), day, monitoring.MONITORING_FILE, settings
        )
    result = json_safe(
        {
            "run_date": day.isoformat(),
            "models": records,
            "population": len(population),
            "labelled_contacts": len(contacts),
            "labelled_churn_snapshots": len(churn),
            "monitoring": str(path),
        }
    )
    record_stage(day, "monitor_models", result, clock["seconds"], settings)
    return result


def _earliest_label_mark(models, state: dict, client) -> dict:
    """The oldest "labels through" any model counts from (contacts, churn): older outcomes need no features."""
    from ml.registry import CHAMPION, alias_version

    marks = {"contacts": [], "churn": []}
    for model in models:
        key = "churn" if model.kind == "churn" else "contacts"
        candidates = [(state.get(model.model_name) or {}).get("labels_through")]
        version = alias_version(model.model_name, CHAMPION, client)
        if version is not None:
            candidates.append((client.get_model_version(model.model_name, version).tags or {}).get("labels_through"))
        if model.model_name not in state and version is None:
            candidates = [None]  # never trained: every outcome counts
        marks[key] += candidates
    return {key: None if not values or None in values else min(values) for key, values in marks.items()}


def decide_retraining(run_date: str | date, monitoring: dict | None = None) -> dict:
    """Which models retrain today and why (the training DAG's first task), from D's monitoring.

    ``monitoring``: what :func:`monitor_models` returned for D (the training DAG pulls it, as
    XCom, from the bank_daily run whose asset event triggered it). Without it (a person at the
    command line, or no daily run's result to hand), the models are measured here first, by
    :func:`monitor_models` itself. Every model's triggers are evaluated
    (:func:`bankmkt.monitoring.decide`) and written to
    ``outputs/monitoring/dt=D/retraining_decisions.parquet``; a drift or decay that fires raises
    an alert. Returns ``retrain``: the models to train.
    """
    from bankmkt.alerts import send_alert
    from bankmkt.monitoring import DECISIONS_FILE, decide, decision_rows, write_parquet

    day = parse_run_date(run_date)
    settings = apply_environment()
    refuse_while_another_run_holds(settings, f"bank_training for {day} (decide_retraining)")
    if monitoring is None:
        monitoring = monitor_models(day)
    elif monitoring.get("run_date") not in (None, day.isoformat()):
        raise ValueError(f"the monitoring handed over is of {monitoring['run_date']}, not of {day}")
    with timed() as clock:
        records = monitoring["models"]
        decisions = [
            decide(
                r["model_name"],
                r["kind"],
                r["product_code"],
                r.get("champion_version"),
                r,
                r.get("last_training"),
                r.get("new_labels", 0),
                settings,
            )
            for r in records
        ]
        written = write_parquet(decision_rows(day, decisions), day, DECISIONS_FILE, settings)
        alerts = []
        for decision in decisions:
            worrying = [t for t in decision.triggers if t.fired and t.name not in ("no_champion", "label_surplus")]
            if worrying:
                alerts.append(
                    send_alert(
                        {
                            "kind": "model_monitoring",
                            "run_date": day.isoformat(),
                            "model": decision.model_name,
                            "summary": f"{decision.model_name} v{decision.champion_version}: "
                            + "; ".join(f"{t.name} ({t.reason})" for t in worrying)
                            + " - retraining",
                        },
                        settings,
                    )
                )
    retrain = [d.model_name for d in decisions if d.retrain]
    result = {
        "retrain": retrain,
        "decisions": [d.as_dict() for d in decisions],
        "alerts": len(alerts),
        "decisions_file": str(written),
    }
    record_stage(day, "decide_retraining", json_safe(result), clock["seconds"], settings)
    return json_safe(result)


def train_models(run_date: str | date, run_id: str | None = None, models: list[str] | None = None) -> dict:
    """Train the models the retraining decision named (all of them when ``models`` is None).

    Per promoted product a propensity model (treated contacts) and an uplift model
    (treated and control contacts), and the churn-risk model, on Feast's point-in-time
    training sets; each is registered in MLflow and gated. Every attempt, trained or
    skipped, is remembered for the label-surplus trigger. On a synthetic bank each
    propensity model is compared with the true probabilities.
    """
    import pandas as pd

    from bankmkt import attributes, features, monitoring
    from ml import CHURN, CONTACT_CATEGORICAL_COLUMNS, model_name
    from ml.training import train_and_register, train_churn_model
    from ml.uplift import train_uplift_and_register, uplift_model_name

    day = parse_run_date(run_date)
    settings = apply_environment()
    wanted = None if models is None else set(models)

    def chosen(name: str) -> bool:
        return wanted is None or name in wanted

    with timed() as clock:
        trained = {}
        if wanted is not None and not wanted:
            result = {
                "status": "skipped",
                "reason": "no retraining trigger fired (see decide_retraining)",
                "models": {},
            }
            record_stage(day, "train_models", result, clock["seconds"], settings)
            return result
        population = features.scoring_frame(day, settings)
        feature_columns = features.model_feature_names(settings)
        # The bank's declared category attributes arrive as codes: the models split them as categories.
        categorical = attributes.categorical_features(attributes.load_declaration(settings))
        product_categorical = [*categorical, *CONTACT_CATEGORICAL_COLUMNS]
        tags = {"airflow_run_id": run_id or "manual", **_dbt_run_tags(settings)}
        products = [p for p in PROMOTED_PRODUCTS if chosen(model_name(p, settings)) or chosen(uplift_model_name(p))]
        # The contacts' point-in-time join only when a product model retrains (not for churn alone).
        frame = features.training_set(day, settings) if products else pd.DataFrame()
        tags = {**tags, "feature_service": features.FEATURE_SERVICE, "training_rows": str(len(frame))}
        for product in products:
            if chosen(model_name(product, settings)):
                trained[product] = _train_once(
                    model_name(product, settings),
                    day,
                    frame,
                    feature_columns,
                    lambda tagged, product=product: train_and_register(
                        frame,
                        product_code=product,
                        run_date=day,
                        feature_columns=feature_columns,
                        settings=settings,
                        tags=tagged,
                        population=population,
                        categorical_columns=product_categorical,
                    ),
                    tags,
                    settings,
                )
            if chosen(uplift_model_name(product)):
                trained[f"uplift_{product}"] = _train_once(
                    uplift_model_name(product),
                    day,
                    frame,
                    feature_columns,
                    lambda tagged, product=product: train_uplift_and_register(
                        frame, product, day, feature_columns, settings, tags=tagged, population=population
                    ),
                    tags,
                    settings,
                )
        churn_rows = 0
        if chosen(model_name(CHURN, settings)):
            churn_frame = features.churn_training_set(day, settings)
            churn_rows = len(churn_frame)
            churn_columns = features.feature_names(settings, features.CHURN_FEATURE_SERVICE)
            trained[CHURN] = _train_once(
                model_name(CHURN, settings),
                day,
                churn_frame,
                churn_columns,
                lambda tagged: train_churn_model(
                    churn_frame,
                    run_date=day,
                    feature_columns=churn_columns,
                    settings=settings,
                    tags=tagged,
                    population=population,
                    categorical_columns=categorical,
                ),
                {**tags, "feature_service": features.CHURN_FEATURE_SERVICE, "training_rows": str(churn_rows)},
                settings,
            )
        for key, outcome in trained.items():
            if outcome.get("status") == "reused":  # its attempt was recorded when it was trained
                continue
            name = (
                uplift_model_name(key.removeprefix("uplift_"))
                if key.startswith("uplift_")
                else model_name(key, settings)
            )
            monitoring.record_training_attempt(
                settings, name, day, outcome.get("status", "?"), outcome.get("rows", 0), outcome.get("labels_through")
            )
        oracle = _oracle_comparison(day, settings) if any(p in trained for p in PROMOTED_PRODUCTS) else None
    result = json_safe(
        {  # per-segment AUCs are NaN where a segment has one outcome only
            "training_rows": len(frame),
            "churn_training_rows": churn_rows,
            "requested": "all" if wanted is None else sorted(wanted),
            "models": trained,
            "oracle": oracle,
            "tracking_uri": settings.mlflow_tracking_uri,
        }
    )
    record_stage(day, "train_models", result, clock["seconds"], settings)
    return result


FINGERPRINT_TAG = "training_fingerprint"


def _train_once(name: str, day: date, frame, feature_columns, train, tags: dict, settings) -> dict:
    """Train ``name`` unless a version was already trained for this day on the same data with the
    same code (a rerun of a finished day): then that version is reused, not registered again."""
    fingerprint = training_fingerprint(name, day, frame, feature_columns)
    version = _version_with_fingerprint(name, fingerprint, settings)
    if version is not None:
        return {
            "status": "reused",
            "model_name": name,
            "version": version,
            "reason": f"version {version} was trained for {day} on the same data with the same code",
        }
    return train({**tags, FINGERPRINT_TAG: fingerprint})


def training_fingerprint(name: str, day: date, frame, feature_columns) -> str:
    """What a model version is a function of: its name and day, the training rows, the features, the code."""
    import hashlib

    import pandas as pd

    digest = hashlib.sha256(f"{name}|{day.isoformat()}|{','.join(feature_columns)}".encode())
    if len(frame):
        digest.update(pd.util.hash_pandas_object(frame, index=False).values.tobytes())
        digest.update(",".join(map(str, frame.columns)).encode())
    digest.update(_code_digest().encode())
    return digest.hexdigest()[:40]


@functools.lru_cache(maxsize=1)
def _code_digest() -> str:
    """The training code's content (ml/*.py): a change to it makes a new model even on the same data."""
    import hashlib
    from pathlib import Path

    import ml

    digest = hashlib.sha256()
    for path in sorted(Path(ml.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()


def _version_with_fingerprint(name: str, fingerprint: str, settings) -> str | None:
    import mlflow

    from ml.registry import use_tracking

    client = use_tracking(settings)
    runs = mlflow.search_runs(
        search_all_experiments=True,
        output_format="list",
        filter_string=f"tags.{FINGERPRINT_TAG} = '{fingerprint}' and attributes.status = 'FINISHED'",
    )
    for run in runs:
        for version in client.search_model_versions(f"run_id = '{run.info.run_id}'"):
            if version.name == name:
                return str(version.version)  # as training reports it
    return None


def _dbt_run_tags(settings) -> dict:
    """What links a model to the dbt run that built its data: the invocation id and when it ran."""
    import json

    tags = {"dbt_manifest": str(settings.dbt_manifest_path)}
    results = settings.dbt_run_results_path
    if results.exists():
        metadata = json.loads(results.read_text()).get("metadata", {})
        tags["dbt_invocation_id"] = metadata.get("invocation_id", "unknown")
        tags["dbt_generated_at"] = metadata.get("generated_at", "unknown")
    return tags


def _oracle_comparison(day: date, settings) -> list[dict] | None:
    """Each product model's holdout AUC beside the generator's true probabilities (synthetic banks only)."""
    if not settings.contact_truth_path.exists():
        return None  # a real bank: no truth to compare with
    from ml.evaluation import oracle_comparison

    frame = oracle_comparison(day, settings, products=PROMOTED_PRODUCTS)
    return json_safe(frame.to_dict(orient="records"))


def score_and_target(run_date: str | date, trained: dict | None = None) -> dict:
    """Score every customer with each product's champion; build and write the campaigns' target lists.

    The champions come from the MLflow registry (``models:/<name>@champion``). ``trained``: what
    :func:`train_models` returned for D, when the caller trained first; the day's model report
    then shows that training (every outcome, skips included, and the oracle comparison). Without
    it (the daily DAG, whose training runs afterwards in the bank_training DAG, or the command
    line), the report shows the champions that scored, as the registry holds them.
    """
    import pandas as pd

    from bankmkt import features, monitoring
    from bankmkt.campaigns import ensure_catalogue
    from bankmkt.pseudonyms import customer_keys, write_lookup
    from bankmkt.quality import gate_target_lists
    from ml.registry import alias_version, champion_summary, use_tracking
    from ml.report import write_run_report
    from ml.scoring import exploration_scores, score_churn_risk, score_customers, write_churn_risk
    from ml.targeting import build_target_lists, published_lists, write_target_lists

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        campaigns, catalogue_note = ensure_catalogue(settings)
        frame = features.scoring_frame(day, settings)
        if "lifecycle_stage" in frame.columns:  # campaigns' stage rules and the lists' segment
            frame["segment"] = frame["lifecycle_stage"]
        feature_columns = features.model_feature_names(settings)
        client = use_tracking(settings)
        scores, skipped, exploring = [], {}, {}
        for product in PROMOTED_PRODUCTS:
            model_name = f"{settings.model_prefix}_{product}"
            if alias_version(model_name, "champion", client) is not None:
                scores.append(score_customers(frame, product, feature_columns, day, settings))
                continue
            prior = observed_conversion_rate(product, day, settings)
            if prior is None:
                skipped[product] = f"no champion for {model_name} and no labelled contact to explore from"
                continue
            exploring[product] = {
                "reason": f"no champion for {model_name} yet: exploring at random",
                "prior_conversion_rate": prior,
            }
            scores.append(exploration_scores(frame, product, day, prior))
        # Churn risk does not depend on the product models: it is scored whenever its champion exists.
        churn_risk = score_churn_risk(frame, feature_columns, day, settings)
        if not scores:
            result = {
                "status": "skipped",
                "reason": "no product has a champion model or a labelled contact yet",
                "skipped": skipped,
                "churn_risk_scored": len(churn_risk),
            }
            if not churn_risk.empty:
                result["churn_risk"] = str(write_churn_risk(churn_risk, day, settings))
            record_stage(day, "score_and_target", result, clock["seconds"], settings)
            return result
        all_scores = pd.concat(scores, ignore_index=True)
        all_scores, policy_used, policy_note = _with_uplift(all_scores, frame, settings)
        history, campaign_history = contact_history(day, settings)
        customers = frame.merge(history, on="customer_id", how="left")
        do_not_contact = do_not_contact_list(settings)
        policy = policy_inputs(day, settings)
        target_list, exclusions = build_target_lists(
            all_scores,
            customers=customers,
            run_date=day,
            campaigns=campaigns,
            channels=policy["channels"],
            eligibility=policy["eligibility"],
            campaign_history=campaign_history,
            do_not_contact=do_not_contact,
            churn_risk=churn_risk,
            policy=policy_used,
        )
        # Nothing is written before the lists pass their suite (a failure raises QualityGateFailed).
        published = published_lists(target_list, functools.partial(customer_keys, settings=settings))
        gate = gate_target_lists(day, settings, frame=published).as_dict()
        paths = write_target_lists(
            target_list,
            day,
            settings,
            campaigns,
            exclusions,
            published=published,
            write_lookup=functools.partial(write_lookup, settings=settings),
        )
        if not churn_risk.empty:
            paths["churn_risk.parquet"] = write_churn_risk(churn_risk, day, settings)
        if trained is not None:
            training_results = list(trained.get("models", {}).values())
            oracle = pd.DataFrame(trained["oracle"]) if trained.get("oracle") else None
        else:
            champions = (
                champion_summary(m.model_name, client) for m in monitoring.platform_models(PROMOTED_PRODUCTS, settings)
            )
            training_results, oracle = [c for c in champions if c is not None], None
        report = write_run_report(day, training_results, target_list, settings, oracle=oracle)
    active = sorted(cid for cid, c in campaigns.items() if c.is_active(day))
    result = {
        "scored_customers": int(all_scores["customer_id"].nunique()),
        "target_rows": len(target_list),
        "control_rows": int(target_list["is_control"].sum()) if len(target_list) else 0,
        "churn_risk_scored": len(churn_risk),
        "campaigns": {"active": active, "source": catalogue_note},
        "targeting_policy": {"used": policy_used, "setting": settings.targeting_policy, "note": policy_note},
        "contact_policy": {
            "offers": exclusions.pop("offers"),
            "not_selected": exclusions.pop("not_selected"),
            "excluded_by_rule": exclusions,
            "customers_contacted_last_30d": int((history["contacts_30d"] > 0).sum()),
            "do_not_contact": len(do_not_contact),
            "do_not_contact_file": str(settings.do_not_contact_file),
        },
        "quality": {"success": gate["success"], "warnings": gate["warnings"], "data_docs": gate["data_docs_page"]},
        "per_campaign": target_list.groupby("campaign_id").size().to_dict() if len(target_list) else {},
        "per_channel": target_list.loc[~target_list["is_control"].astype(bool)].groupby("channel").size().to_dict()
        if len(target_list)
        else {},
        "skipped": skipped,
        "exploring": exploring,
        "target_lists": str(settings.target_list_dir(day)),
        "outputs": {k: str(v) for k, v in paths.items()},
        "report": str(report),
    }
    record_stage(day, "score_and_target", json_safe(result), clock["seconds"], settings)
    return json_safe(result)


def observed_conversion_rate(product: str, run_date: date, settings) -> float | None:
    """Share of contacted customers who converted, over the product's labelled contacts (None without any)."""
    from bankmkt import warehouse

    with warehouse.read_only_connection(settings, snapshot=True) as con:
        rate, contacts = con.execute(
            "select avg(label), count(*) from training_labels where product_code = ? and not is_control",
            [product],
        ).fetchall()[0]
    return None if not contacts else float(rate)


def _with_uplift(scores, frame, settings):
    """``scores`` with each product's uplift from its uplift champion, and the policy that can be used.

    Uplift targeting needs an uplift champion for every scored product (offers of
    different products compete for one customer, so their values must be measured alike);
    until then the day targets by propensity and the run record says why.
    """
    import pandas as pd

    from ml.uplift import load_uplift_champion

    if settings.targeting_policy != "uplift":
        return scores, "propensity", "TARGETING_POLICY=propensity"
    parts, missing = [], []
    for product, part in scores.groupby("product_code", sort=False):
        name, version, model = load_uplift_champion(product, settings)
        if model is None:
            missing.append(name)
            continue
        uplift = model.arms(frame)["uplift"].to_numpy()
        parts.append(
            part.merge(
                frame[["customer_id"]].assign(uplift=uplift, uplift_model_version=version), on="customer_id", how="left"
            )
        )
    if missing:
        return scores, "propensity", f"no uplift champion yet for {', '.join(sorted(missing))}: targeting by propensity"
    return (
        pd.concat(parts, ignore_index=True),
        "uplift",
        "every product's uplift champion: targeting by incremental value",
    )


def contact_history(run_date: date, settings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """What the contact policy needs to know about earlier contacts, as of D (read-only).

    Returns per customer ``contacts_30d`` and ``last_contacted_at`` (the warehouse's
    ``customer_contact_history``) and every (``customer_id``, ``campaign_id``) pair already
    listed or contacted, controls included (``customer_campaign_history``): a customer enters
    a campaign once. dbt builds both in D's warehouse build from every treated row of a list
    published before D and every landed contact that executes no published row
    (``int_customer_contacts_unioned``, docs/warehouse.md).
    """
    from bankmkt import warehouse

    with warehouse.read_only_connection(settings, snapshot=True) as con:
        built_for = con.execute("select max(as_of_date) from customer_campaign_history").fetchall()[0][0]
        if built_for is not None and built_for != run_date:
            raise RuntimeError(
                f"the warehouse's contact history is as of {built_for}, not {run_date}: "
                f"build and validate the warehouse for {run_date} first"
            )
        per_customer = con.execute(
            "select customer_id, contacts_30d, last_contacted_at from customer_contact_history where as_of_date = ?",
            [run_date],
        ).df()
        campaign_history = con.execute(
            "select customer_id, campaign_id from customer_campaign_history where as_of_date = ?", [run_date]
        ).df()
    return per_customer, campaign_history


def policy_inputs(run_date: date, settings) -> dict:
    """D's eligibility (customer_product_gaps) and reachable channels (customer_contact_channels)."""
    from bankmkt import warehouse

    with warehouse.read_only_connection(settings, snapshot=True) as con:
        eligibility = con.execute(
            "select customer_id, product_code, ineligibility_reason from customer_product_gaps where as_of_date = ?",
            [run_date],
        ).df()
        channels = con.execute(
            "select customer_id, channel, channel_rank from customer_contact_channels where as_of_date = ?",
            [run_date],
        ).df()
    return {"eligibility": eligibility, "channels": channels}


def do_not_contact_list(settings) -> set[str]:
    """The bank's do-not-contact list (``reference/do_not_contact.csv``, column ``customer_id``); empty without one."""
    import pandas as pd

    path = settings.do_not_contact_file
    if not path.exists():
        return set()
    frame = pd.read_csv(path, dtype=str)
    if "customer_id" not in frame.columns:
        raise ValueError(f"{path}: the do-not-contact list needs a customer_id column (found {list(frame.columns)})")
    return set(frame["customer_id"].dropna().str.strip())


def load_target_lists(run_date: str | date) -> dict:
    """Load D's target lists, and the model monitoring and retraining decisions written so far, into
    the warehouse (fct_target_lists, fct_model_monitoring, fct_retraining_decisions; dbt writes them)."""
    from bankmkt import warehouse

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        summary = warehouse.load_published_outputs(day, settings)
    if not summary["models"]:
        result = {
            "status": "skipped",
            "reason": f"no target lists in {settings.target_list_dir(day)} and no model monitoring yet",
        }
        record_stage(day, "load_target_lists", result, clock["seconds"], settings)
        return result
    rows = 0
    if "fct_target_lists" in summary["models"]:
        with warehouse.read_only_connection(settings) as con:
            rows = con.execute("select count(*) from fct_target_lists where run_date = ?", [day]).fetchall()[0][0]
    snapshot = warehouse.publish_snapshot(settings)  # analysts read the lists from the snapshot
    result = {
        "status_counts": summary["status_counts"],
        "rows_for_run_date": rows,
        "loaded": summary["models"],
        "snapshot": snapshot,
    }
    record_stage(day, "load_target_lists", result, clock["seconds"], settings)
    return result


def report_effectiveness(run_date: str | date) -> dict:
    """Write marketing's effectiveness report for D from the warehouse (read-only)."""
    from bankmkt.effectiveness import truth_comparison, write_effectiveness_report

    day = parse_run_date(run_date)
    settings = apply_environment()
    with timed() as clock:
        report = write_effectiveness_report(day, settings)
        cells = truth_comparison(settings)
    result = {"report": str(report)}
    if len(cells):  # a synthetic bank: how often the intervals cover the simulator's true uplift
        result["truth_check"] = {"campaign_segment_cells": len(cells), "coverage": float(cells["covered"].mean())}
    record_stage(day, "report_effectiveness", json_safe(result), clock["seconds"], settings)
    return json_safe(result)
