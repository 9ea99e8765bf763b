"""A real-shaped telemarketing campaign through the platform, against LightGBM on the same source fields.

    .venv/bin/python benchmarks/adapter_auc.py                      # a synthetic extract of the shape
    .venv/bin/python benchmarks/adapter_auc.py --source bank-additional-full.csv   # the real file, if you have it

The extract (the public "bank marketing" shape, bankmkt.adapters.telemarketing; without
``--source`` the adapter's fixture of ``--rows`` calls over ``--months`` months) is converted
into a fresh DATA_DIR and put through the whole daily run (``python -m bankmkt.cli run`` for its
last day: contract, dbt, gate, Feast, bank_training). The platform's term-deposit model is the
one bank_training registered: its holdout (MLflow artifact ``holdout.parquet``) is the comparison's
test set. The direct model is a LightGBM (pandas categories for the text fields) trained on the
extract's own fields for the same labelled contacts outside that holdout, stopped early on the
latest quarter of them as the platform is, and scored on the same holdout. ``duration`` is left
out of both: it is known only when the call ends (it leaks the outcome).

Prints both AUCs and the gap; exits 1 when the platform is more than ``--tolerance`` (0.03) below.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

LEAKING = ("duration",)
LABEL = "y"


def run_platform(data_dir: Path, day: date) -> float:
    """The daily and training DAGs for ``day`` on ``data_dir`` (settings from DATA_DIR alone); seconds."""
    from bankmkt.settings import Settings

    derived = set(Settings(platform_env="local", data_dir=data_dir).environment())
    env = {k: v for k, v in os.environ.items() if k not in derived}
    env.update(DATA_DIR=str(data_dir), PLATFORM_ENV="local")
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "bankmkt.cli", "run", "--date", day.isoformat()], env=env, text=True, capture_output=True
    )
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-5000:])
        raise SystemExit(f"the platform's run for {day} failed")
    return time.perf_counter() - began


def platform_model(settings, day: date) -> tuple[dict, pd.DataFrame]:
    """The term-deposit training record of ``day`` and its holdout (contact_id, label, propensity)."""
    import mlflow

    from ml.training import HOLDOUT_ARTIFACT

    record = json.loads((settings.runs_dir / f"dt={day.isoformat()}" / "train_models.json").read_text())
    model = record["result"]["models"].get("term_deposit")
    if not model or "run_id" not in model:
        raise SystemExit(f"the platform trained no term-deposit model on {day}: {json.dumps(model)[:600]}")
    mlflow.set_tracking_uri(settings.mlflow_tracking_uri)
    with tempfile.TemporaryDirectory() as folder, contextlib.redirect_stderr(io.StringIO()):
        path = mlflow.artifacts.download_artifacts(
            run_id=model["run_id"], artifact_path=HOLDOUT_ARTIFACT, dst_path=folder
        )
        holdout = pd.read_parquet(path)
    return model, holdout


def direct_lightgbm(extract: pd.DataFrame, train_ids: pd.Series, test_ids: pd.Series) -> tuple[np.ndarray, dict]:
    """LightGBM on the extract's fields: fit on ``train_ids`` (oldest first, the latest quarter stops the
    boosting), predict ``test_ids``; returns the probabilities and the parameters."""
    import lightgbm as lgb

    fields = [c for c in extract.columns if c not in (*LEAKING, LABEL, "contact_id")]
    frame = extract.set_index("contact_id")
    x = frame[fields].copy()
    for column in fields:
        numbers = pd.to_numeric(x[column], errors="coerce")
        x[column] = numbers if numbers.notna().all() else x[column].astype("category")
    y = (frame[LABEL] == "yes").astype(int)
    train = x.loc[train_ids]
    stop = int(len(train) * 0.75)
    params = {
        "objective": "binary",
        "learning_rate": 0.03,
        "num_leaves": 15,
        "min_child_samples": 40,
        "subsample": 0.8,
        "subsample_freq": 1,
        "colsample_bytree": 0.8,
        "n_estimators": 3000,
        "random_state": 0,
        "verbose": -1,
    }
    model = lgb.LGBMClassifier(**params)
    model.fit(
        train.iloc[:stop],
        y.loc[train_ids].iloc[:stop],
        eval_X=train.iloc[stop:],
        eval_y=y.loc[train_ids].iloc[stop:],
        callbacks=[lgb.early_stopping(200, verbose=False)],
    )
    params["best_iteration"] = int(model.best_iteration_ or 0)
    return model.predict_proba(x.loc[test_ids])[:, 1], params


def paired_bootstrap_gap(labels: np.ndarray, platform: np.ndarray, direct: np.ndarray, draws: int = 2000):
    """95% interval of AUC(direct) - AUC(platform) over resamples of the holdout (the same rows for both)."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    gaps = []
    for _ in range(draws):
        rows = rng.integers(0, len(labels), len(labels))
        if 0 < labels[rows].sum() < len(rows):
            gaps.append(roc_auc_score(labels[rows], direct[rows]) - roc_auc_score(labels[rows], platform[rows]))
    return float(np.quantile(gaps, 0.025)), float(np.quantile(gaps, 0.975))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, help="an extract of the shape (default: the adapter's fixture)")
    parser.add_argument("--rows", type=int, default=30_000, help="fixture: calls")
    parser.add_argument("--months", type=int, default=12, help="fixture: months of calls")
    parser.add_argument("--variant", choices=("additional", "full"), default="additional", help="fixture: variant")
    parser.add_argument("--seed", type=int, default=0, help="fixture: seed")
    parser.add_argument("--tolerance", type=float, default=0.03)
    parser.add_argument("--data-dir", type=Path, help="keep the platform's DATA_DIR here (default: a temporary one)")
    parser.add_argument(
        "--reuse", action="store_true", help="--data-dir already holds a converted and run extract: compare only"
    )
    args = parser.parse_args(argv)

    from sklearn.metrics import roc_auc_score

    from bankmkt.adapters import telemarketing as tm
    from bankmkt.settings import Settings

    workdir = Path(tempfile.mkdtemp(prefix="bankmkt-bench-adapter-"))
    data_dir = (args.data_dir or workdir / "data").resolve()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; DATA_DIR {data_dir}", flush=True)
    try:
        source = args.source or tm.write_fixture(
            workdir / "extract.csv", rows=args.rows, months=args.months, variant=args.variant, seed=args.seed
        )
        settings = Settings(platform_env="local", data_dir=data_dir)
        if args.reuse:
            source = args.source or data_dir / "benchmark_extract.csv"
            last = max(date.fromisoformat(p.name[3:]) for p in settings.runs_dir.glob("dt=*"))
        else:
            began = time.perf_counter()
            summary = tm.convert_telemarketing(source, settings)
            if args.data_dir is not None and args.source is None:
                shutil.copy(source, data_dir / "benchmark_extract.csv")  # for --reuse
            last = date.fromisoformat(summary["last_day"])
            print(
                f"converted {summary['contacts']:,} calls ({summary['variant']}, {summary['conversions']:,} "
                f"conversions) into {summary['days']} days in {time.perf_counter() - began:.0f} s",
                flush=True,
            )
            seconds = run_platform(data_dir, last)
            print(f"the daily run (first load of {summary['days']} days, training) took {seconds:.0f} s", flush=True)

        model, holdout = platform_model(settings, last)
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as con:
            labelled = con.execute(
                "select contact_id from training_labels where product_code = 'term_deposit' and not is_control "
                "order by event_timestamp, contact_id"
            ).df()["contact_id"]
        test_ids = holdout["contact_id"]
        train_ids = labelled[~labelled.isin(set(test_ids))]

        _, extract, _ = tm.read_extract(source)
        extract = extract.reset_index(drop=True)
        extract["contact_id"] = [f"TM{n:08d}" for n in range(1, len(extract) + 1)]
        direct, params = direct_lightgbm(extract, train_ids, test_ids)
        labels = holdout["label"].to_numpy()
        platform_auc = float(roc_auc_score(labels, holdout["propensity"]))
        direct_auc = float(roc_auc_score(labels, direct))
        gap = direct_auc - platform_auc
        low, high = paired_bootstrap_gap(labels, holdout["propensity"].to_numpy(), direct)
        print()
        print(f"holdout: {len(test_ids):,} contacts, {int(labels.sum()):,} conversions ({model.get('holdout_split')})")
        print(f"training: {len(train_ids):,} contacts")
        print(f"{'model':<52} {'holdout AUC':>11}")
        print(f"{'platform (bank_training, features through Feast)':<52} {platform_auc:>11.4f}")
        print(f"{'LightGBM directly on the extract fields':<52} {direct_auc:>11.4f}")
        print(
            f"gap {gap:+.4f} (95% paired bootstrap interval {low:+.4f} .. {high:+.4f}; tolerance {args.tolerance}); "
            f"direct model: {params['best_iteration']} trees"
        )
        return 0 if gap <= args.tolerance else 1
    finally:
        if args.data_dir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
