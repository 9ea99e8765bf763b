"""Command line of the platform: `python -m bankmkt.cli <command>` (the Makefile's targets call it).

init                           prepare DATA_DIR and the Airflow metadata database (prod: bankmkt.deploy init)
run --date D [--to D2]         run the daily DAG (airflow dags test) for D, or D..D2 day by day, each
                               day followed by the training DAG its monitoring asset schedules
stage NAME --date D            run one stage outside Airflow: the function its DAG task calls
demo                           generate a synthetic bank and run the DAG over its last days
summary --date D               print what each stage of D's run produced
model rollback --model NAME    move a registered model's champion alias back to its previous version
model show --model NAME        print the aliases of a registered model
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from datetime import date, timedelta

from bankmkt.runtime import apply_environment, parse_run_date
from bankmkt.settings import Settings

DAG_ID = "bank_daily"
TRAINING_DAG_ID = "bank_training"
STAGES = (
    "check_landing",
    "build_history",
    "build_warehouse",
    "validate_features",
    "publish_features",
    "monitor_models",
    "score_and_target",
    "load_target_lists",
    "report_effectiveness",
    # the bank_training DAG, scheduled on monitor_models' asset
    "decide_retraining",
    "train_models",
)


def _airflow(settings: Settings, *args: str, quiet: bool = False) -> None:
    command = [sys.executable, "-m", "airflow", *args]
    output = subprocess.DEVNULL if quiet else None
    completed = subprocess.run(
        command,
        env={**__import__("os").environ, **settings.environment()},
        stdout=output,
        stderr=subprocess.STDOUT if quiet else None,
    )
    if completed.returncode != 0:
        raise SystemExit(f"`airflow {' '.join(args)}` failed with exit code {completed.returncode}")


def init_platform() -> Settings:
    """Prepare DATA_DIR and Airflow's metadata database (prod: everything `bankmkt.deploy init` does)."""
    settings = apply_environment()
    if settings.platform_env == "prod":
        from bankmkt.deploy import DeployError, init

        try:
            init(settings)
        except DeployError as error:
            raise SystemExit(f"[init] {error}") from None
        return settings
    if not (settings.airflow_home / "airflow.db").exists():
        print(f"[init] creating the Airflow metadata database in {settings.airflow_home}", flush=True)
        _airflow(settings, "db", "migrate", quiet=True)
    from bankmkt.warehouse import manifest_is_stale, parse_project

    if manifest_is_stale(settings):
        print("[init] the dbt project changed since its manifest was built: dbt parse", flush=True)
        parse_project(settings)
    return settings


def run_days(first: date, last: date) -> list[dict]:
    """Run bank_daily for each day, then bank_training for it.

    Under a scheduler, bank_training runs when monitor_models updates its asset;
    ``airflow dags test`` has no scheduler, so this plays its part: after each daily
    run the training DAG runs for the same day (it decides whether anything retrains).
    """
    from bankmkt.runtime import RunLocked, run_lock

    settings = init_platform()
    try:
        with run_lock(settings, f"`run` for {first}..{last}"):
            return _run_days(settings, first, last)
    except RunLocked as error:
        raise SystemExit(f"[run] {error}") from None


def _run_days(settings: Settings, first: date, last: date) -> list[dict]:
    timings = []
    day = first
    while day <= last:
        print(f"[run] {DAG_ID} for logical date {day} (DATA_DIR={settings.data_dir})", flush=True)
        start = time.perf_counter()
        began = time.time()
        seconds_by_dag = _dags_test(settings, (DAG_ID, TRAINING_DAG_ID), day)
        first_record = settings.runs_dir / f"dt={day.isoformat()}" / "check_landing.json"
        if not first_record.exists() or first_record.stat().st_mtime < began - 1:
            # `airflow dags test` reports success for a run whose tasks never started.
            raise SystemExit(
                f"[run] {DAG_ID} for {day} ran no task (its first stage left no record); is {day} before the "
                f"DAG's start_date? Log: {_log_path(settings, DAG_ID, day)}"
            )
        seconds = time.perf_counter() - start
        daily = seconds_by_dag.get(DAG_ID, 0.0)
        timings.append(
            {
                "run_date": day.isoformat(),
                "seconds": round(seconds, 1),
                "daily_seconds": round(daily, 1),
                "training_seconds": round(seconds_by_dag.get(TRAINING_DAG_ID, 0.0), 1),
                "log": str(_log_path(settings, DAG_ID, day)),
            }
        )
        print(
            f"[run] {day} succeeded in {seconds:.0f}s ({DAG_ID} {daily:.0f}s, {TRAINING_DAG_ID} "
            f"{seconds_by_dag.get(TRAINING_DAG_ID, 0.0):.0f}s; logs in {_log_path(settings, DAG_ID, day).parent})",
            flush=True,
        )
        print(summary_text(day, settings), flush=True)
        day += timedelta(days=1)
    return timings


def _log_path(settings: Settings, dag_id: str, day: date):
    suffix = "" if dag_id == DAG_ID else f".{dag_id}"
    return settings.airflow_home / "runs" / f"{day.isoformat()}{suffix}.log"


def _dags_test(settings: Settings, dag_ids: tuple[str, ...], day: date) -> dict[str, float]:
    """``airflow dags test`` of each DAG for D in turn, in one process (:mod:`bankmkt.dagrun`: Airflow
    starts once for the day), each with its output in its own log file. Returns each DAG's wall seconds;
    a failure exits with the excerpt of the failed DAG's log."""
    logs = {dag_id: _log_path(settings, dag_id, day) for dag_id in dag_ids}
    for log_path in logs.values():
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_path.unlink(missing_ok=True)
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "bankmkt.dagrun", day.isoformat(), *(f"{d}={p}" for d, p in logs.items())],
        env={**__import__("os").environ, **settings.environment()},
        stdout=subprocess.PIPE,
        text=True,
    )
    ran = [json.loads(line) for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0:
        # The DAG whose run failed, or the one running when the process died before it could say.
        index = len(ran) - 1 if ran and not ran[-1]["succeeded"] else min(len(ran), len(dag_ids) - 1)
        failed = dag_ids[index]
        log_path = logs[failed]
        print(_failure_excerpt(log_path), file=sys.stderr)
        raise SystemExit(
            f"[run] {failed} failed for {day} after {time.perf_counter() - start:.0f}s; full log: {log_path}"
        )
    return {record["dag_id"]: record["seconds"] for record in ran}


# The platform's own errors: their whole message says what and where (file, row, value, report).
PLATFORM_ERRORS = (
    "QualityGateFailed",
    "ContractViolation",
    "LandingChanged",
    "WarehouseBuildError",
    "DataDirMoved",
    "FeaturePublicationError",
    "SettingsError",
)
LOG_RECORD = re.compile(r"^\[?\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def _failure_excerpt(log_path) -> str:
    """The lines of an Airflow log that say why a task failed: the failure markers, then the whole
    message of the last platform error (a gate's or the contract's message spans many lines)."""
    if not log_path.exists():
        return f"(no log at {log_path}: it was removed while the run wrote it)"
    lines = log_path.read_text(errors="replace").splitlines()
    keep = [
        line
        for line in lines
        if any(marker in line for marker in ("Error", "error:", "failed", "Violation", "Traceback", "Task failed"))
    ][-25:]
    starts = [i for i, line in enumerate(lines) if any(f"{name}:" in line for name in PLATFORM_ERRORS)]
    if starts:
        block = [lines[starts[-1]]]
        for line in lines[starts[-1] + 1 :]:
            if LOG_RECORD.match(line) or not line.strip():
                break
            block.append(line)
        keep = [line for line in keep if line not in block] + ["", "What failed:", *block]
    return "\n".join(keep)


def summary_text(day: date, settings: Settings) -> str:
    folder = settings.runs_dir / f"dt={day.isoformat()}"
    lines = [f"Run {day}:"]
    for stage in STAGES:
        path = folder / f"{stage}.json"
        if not path.exists():
            lines.append(f"  {stage:<18} not run")
            continue
        record = json.loads(path.read_text())
        lines.append(f"  {stage:<18} {record['seconds']:>7.1f}s  {_headline(stage, record['result'])}")
    return "\n".join(lines)


def _headline(stage: str, result: dict) -> str:
    if result.get("status") == "skipped":
        return f"skipped: {result.get('reason')}"
    if stage == "check_landing":
        return f"{result.get('days_checked', '?')} day(s), {result.get('rows', '?')} rows accepted"
    if stage == "build_history":
        slices = result.get("slices") or []
        if not slices:
            return "nothing to build before the day (the warehouse holds the days before it)"
        return f"{len(slices)} slice(s) of history built, up to {slices[-1]['until']}"
    if stage == "build_warehouse":
        rows = result["rows"]
        return (
            f"{rows['customer_features_on_run_date']} feature rows for the day, "
            f"{rows['training_labels']} labelled contacts -> {result['warehouse']}"
        )
    if stage == "validate_features":
        return (
            f"{'passed' if result['success'] else 'FAILED'} {result['expectations']} expectations on "
            f"{result['rows']} rows, {len(result['warnings'])} warnings; Data Docs: {result['data_docs']}"
        )
    if stage == "publish_features":
        materialize = result["materialize"]
        return (
            f"{result['export']['rows_written']} rows exported, "
            f"{len(result['apply']['feature_views'])} feature views applied, published "
            f"({materialize.get('method', '?')}) in {materialize.get('seconds', '?')} s to {result['online_store']}"
        )
    if stage == "monitor_models":
        parts = []
        for model in result["models"]:
            if model.get("champion_version") is None:
                continue
            psi = max((model.get("feature_psi") or {}).values(), default=None)
            auc = (model.get("performance") or {}).get("auc")
            text = f"{model['model_name']} v{model['champion_version']}"
            text += f" max PSI {psi:.2f}" if psi is not None else ""
            text += f", realised AUC {auc:.2f}" if auc is not None else ""
            parts.append(text)
        return f"{len(parts)} champion(s) measured: " + ("; ".join(parts) if parts else "none yet")
    if stage == "decide_retraining":
        fired = [f"{d['model_name']} ({', '.join(d['fired'])})" for d in result["decisions"] if d["retrain"]]
        return (
            ("retrain " + "; ".join(fired))
            if fired
            else (f"no trigger fired for any of {len(result['decisions'])} models: no retraining needed")
        )
    if stage == "train_models":
        parts = []
        oracle = {row["product_code"]: row for row in result.get("oracle") or []}
        for product, model in result["models"].items():
            if model.get("status") == "trained" and model.get("kind") == "uplift":
                qini = model.get("metrics", {}).get("qini")
                parts.append(
                    f"{product} v{model['version']} Qini {qini:.4f}" + (" champion" if model.get("promoted") else "")
                )
            elif model.get("status") == "trained":
                auc = model.get("metrics", {}).get("roc_auc")
                text = f"{product} v{model['version']} AUC {auc:.3f}"
                truth = oracle.get(product, {})
                if truth.get("auc_ratio") is not None:
                    text += f" ({truth['auc_ratio']:.2f} of oracle {truth['oracle_roc_auc']:.3f})"
                parts.append(text + (" champion" if model.get("promoted") else ""))
            elif model.get("status") == "reused":
                parts.append(f"{product} v{model['version']} reused (same day, data and code)")
            else:
                parts.append(f"{product} skipped ({model.get('reason', 'no reason recorded')})")
        return "; ".join(parts)
    if stage == "score_and_target":
        quality = result.get("quality", {})
        policy = result.get("contact_policy", {})
        excluded = sum((policy.get("excluded_by_rule") or {}).values())
        return (
            f"{result['scored_customers']} customers scored, {result['target_rows']} targets "
            f"({result['control_rows']} control) in {len(result.get('per_campaign', {}))} campaign(s), "
            f"{excluded} offers excluded by the contact policy, targeting by "
            f"{(result.get('targeting_policy') or {}).get('used', 'propensity')}, churn risk for "
            f"{result.get('churn_risk_scored', 0)}, list suite {'passed' if quality.get('success') else 'not run'}"
            f" -> {result['target_lists']}; report {result['report']}"
        )
    if stage == "load_target_lists":
        return f"{result['rows_for_run_date']} rows in fct_target_lists"
    if stage == "report_effectiveness":
        check = result.get("truth_check")
        truth = (
            f"; intervals cover the true uplift in {check['coverage']:.0%} of {check['campaign_segment_cells']} "
            "campaign-segment cells"
            if check
            else ""
        )
        return f"{result['report']}{truth}"
    return json.dumps(result)[:200]


def run_stage(name: str, day: date) -> dict:
    """Run stage ``name`` for D with the function its DAG task calls (:mod:`bankmkt.pipeline`).

    What the task would receive from an earlier one is computed the same way: each stage called
    without it makes it itself (build_warehouse runs the dbt build the DAG's Cosmos tasks run,
    decide_retraining measures the models as monitor_models does, score_and_target reads the
    champions from the registry), and train_models trains what decide_retraining decides.
    """
    from bankmkt import pipeline

    if name not in STAGES:
        raise SystemExit(f"unknown stage {name!r}; one of {', '.join(STAGES)}")
    if name == "train_models":
        return pipeline.train_models(day, models=pipeline.decide_retraining(day)["retrain"])
    return getattr(pipeline, name)(day)


def model_command(command: str, model: str, settings: Settings) -> int:
    """``model rollback`` or ``model show`` on the registered model ``model`` (:mod:`ml.registry`)."""
    from ml.registry import RollbackError, aliases, rollback, use_tracking

    client = use_tracking(settings)
    if command == "rollback":
        try:
            result = rollback(model, client)
        except RollbackError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        print(
            f"{result['model_name']}: champion is now v{result['champion_version']}"
            f" (rolled back from v{result['rolled_back_version']})"
        )
        return 0
    for alias, version in sorted(aliases(model, client).items()):
        print(f"{model}@{alias} = v{version}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bankmkt.cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("init")
    run = commands.add_parser("run")
    run.add_argument("--date", required=True)
    run.add_argument("--to")
    stage = commands.add_parser("stage")
    stage.add_argument("name", choices=STAGES)
    stage.add_argument("--date", required=True)
    summary = commands.add_parser("summary")
    summary.add_argument("--date", required=True)
    demo = commands.add_parser("demo")
    demo.add_argument("--customers", type=int, default=3000)
    demo.add_argument("--days", type=int, default=75)
    demo.add_argument("--start-date", default="2024-01-01")
    demo.add_argument("--seed", type=int, default=42)
    demo.add_argument(
        "--loop-days",
        type=int,
        default=21,
        help="days of closed loop after the history: run the DAG, execute its lists, simulate the next day",
    )
    model = commands.add_parser("model", help="roll back or show a registered model's aliases")
    model.add_argument("action", choices=("rollback", "show"))
    model.add_argument("--model", required=True, help="registered model name, e.g. propensity_credit_card")
    args = parser.parse_args(argv)
    for name in ("date", "to", "start_date"):  # a readable error, not a traceback, for a mistyped date
        if getattr(args, name, None):
            try:
                parse_run_date(getattr(args, name))
            except ValueError as error:
                parser.error(f"--{name.replace('_', '-')}: {error}")
    try:
        return _command(args)
    except Exception as error:
        # The platform's own errors say what and where in their message: that, not a traceback.
        if type(error).__name__ not in PLATFORM_ERRORS:
            raise
        raise SystemExit(f"[{args.command}] {type(error).__name__}: {error}") from None


def _command(args: argparse.Namespace) -> int:
    if args.command == "init":
        settings = init_platform()
        print(f"[init] DATA_DIR={settings.data_dir} PLATFORM_ENV={settings.platform_env}")
    elif args.command == "run":
        first = parse_run_date(args.date)
        run_days(first, parse_run_date(args.to) if args.to else first)
    elif args.command == "stage":
        from bankmkt.runtime import RunLocked, run_lock

        settings = apply_environment()
        try:
            with run_lock(settings, f"`stage {args.name}` for {args.date}"):
                print(json.dumps(run_stage(args.name, parse_run_date(args.date)), indent=2, default=str))
        except RunLocked as error:
            raise SystemExit(f"[stage] {error}") from None
    elif args.command == "summary":
        settings = apply_environment()
        print(summary_text(parse_run_date(args.date), settings))
    elif args.command == "demo":
        from bankmkt.demo import run_demo

        run_demo(args.customers, args.days, parse_run_date(args.start_date), args.seed, args.loop_days)
    elif args.command == "model":
        from bankmkt.settings import get_settings

        return model_command(args.action, args.model, get_settings())
    return 0


if __name__ == "__main__":
    sys.exit(main())
