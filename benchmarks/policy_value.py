"""Targeting policies on the simulator's ground truth: random, propensity, uplift and the oracle.

    .venv/bin/python benchmarks/policy_value.py                        # 20,000 customers
    .venv/bin/python benchmarks/policy_value.py --customers 5000 --explore-days 21 --evaluate-days 7

1. A bank with ``--history-days`` of its own campaigns, then ``--explore-days`` of campaign
   waves whose lists a random policy publishes (randomised contacts and persistent
   controls: the data an uplift model needs).
2. On the explored contacts, per product: a propensity model (LightGBM on the contacted
   customers) and an uplift model (``ml.uplift`` T-learner on contacted and control
   customers), both on the features the bank shows at the end of the day before the list
   (``SyntheticBank.features``: computable from landing data, what the warehouse knows;
   the hidden life-cycle stage is left out). Qini coefficients on a customer holdout.
3. From the same saved state, ``--evaluate-days`` more days per policy, same catalogue,
   capacity and budget: random, propensity (``policy="propensity"``), uplift
   (``policy="uplift"``: uplift x value - cost) and the oracle (the truth's uplift).
4. Each policy's value from the truth: the sum over its contacted rows of the true
   intent-to-treat uplift (expected incremental conversions, no sampling noise) times the
   product's value, minus the contacts' cost.

Simulator features stand in for the warehouse's here so that weeks simulate in minutes;
the platform's own uplift models train on Feast's features (the learning-loop issue).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT / "src", ROOT):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

PRODUCTS = ("credit_card", "personal_loan", "term_deposit", "wealth_management")


def bank_features(settings) -> tuple[pd.DataFrame, object]:
    """The bank's observable features at the end of its last simulated day, one row per customer."""
    from bankmkt.generator.propensity import FEATURES

    state = pickle.loads((settings.simulator_dir / "bank.pkl").read_bytes())
    bank, day = state["bank"], state["last_day"]
    values = bank.features(day, bank.start_epoch + day)
    frame = pd.DataFrame({name: np.asarray(values[name], dtype=float) for name in FEATURES})
    frame.insert(0, "customer_id", np.asarray(bank.customer_ids.to_pylist()))
    return frame, bank


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--history-days", type=int, default=40)
    parser.add_argument("--explore-days", type=int, default=28)
    parser.add_argument("--evaluate-days", type=int, default=14)
    parser.add_argument(
        "--explore-capacity",
        type=int,
        default=400,
        help="contacts a day per campaign while exploring (random lists: the models' training data)",
    )
    parser.add_argument(
        "--capacity",
        type=int,
        nargs="+",
        default=[100],
        help="contacts a day per campaign while the policies are compared (the contact budget); "
        "several values compare the policies at each budget from the same exploration",
    )
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    from bankmkt.campaigns import wave_catalogue, write_catalogue
    from bankmkt.generator import generate_bank
    from bankmkt.generator.policies import run_policy_loop
    from bankmkt.generator.propensity import FEATURES, control_probability
    from bankmkt.settings import get_settings
    from ml import product_value
    from ml.uplift import fit_x_learner, qini_coefficient

    work = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    explored = work / "explored"
    settings = dataclasses.replace(get_settings(), platform_env="local", data_dir=explored)
    start = date(2024, 1, 1)
    first = start + timedelta(days=args.history_days - 1)
    loop_days = args.explore_days + args.evaluate_days
    began = time.perf_counter()
    generate_bank(
        customers=args.customers,
        days=args.history_days,
        start_date=start,
        seed=args.seed,
        data_dir=explored,
        loop_days=loop_days,
    )
    write_catalogue(
        wave_catalogue(first, loop_days, args.explore_capacity, control_share=0.3), settings.campaign_catalogue_file
    )

    features_by_day: dict[date, pd.DataFrame] = {}

    def random_with_features(day, customers):
        features_by_day[day] = bank_features(settings)[0]
        rng = np.random.default_rng(day.toordinal())
        return pd.concat(
            [
                pd.DataFrame(
                    {
                        "customer_id": customers,
                        "product_code": p,
                        "propensity": rng.uniform(0.2, 0.8, len(customers)),
                        "model_name": "random",
                        "model_version": "0",
                    }
                )
                for p in PRODUCTS
            ],
            ignore_index=True,
        )

    run_policy_loop(settings, first, args.explore_days, seed=args.seed, scores=random_with_features)
    print(
        f"explored {args.explore_days} days at {args.customers:,} customers in {time.perf_counter() - began:.0f}s",
        flush=True,
    )

    # ---- training data: every explored list row, its outcome, and the features of its list day
    truth = pd.read_parquet(settings.truth_dir / "contact_truth.parquet")
    truth = truth.loc[truth["list_row_id"].notna()].copy()
    truth["list_day"] = pd.to_datetime(truth["list_row_id"].str[:8]).dt.date
    rows = []
    for day, part in truth.groupby("list_day"):
        rows.append(part.merge(features_by_day[day], on="customer_id", how="left"))
    data = pd.concat(rows, ignore_index=True)
    data["is_treated"] = ~data["is_control"]
    data["label"] = data["converted"].astype(int)
    data.to_parquet(work / "explored_contacts.parquet", index=False)  # for comparing learners afterwards
    customers = data["customer_id"].unique()
    holdout_customers = set(np.random.default_rng(0).choice(customers, size=len(customers) // 4, replace=False))
    holdout = data["customer_id"].isin(holdout_customers)
    propensity_models, uplift_models = {}, {}
    print("\nModels on the explored contacts (customer holdout):")
    print(
        f"{'product':<18} {'contacts':>8} {'controls':>8} {'Qini uplift':>12} {'Qini propensity':>16} {'Qini oracle':>12}"
        f" {'corr(uplift, truth)':>20}"
    )
    from lightgbm import LGBMClassifier

    from ml.uplift import TREES

    for product in PRODUCTS:
        part = data.loc[data["product_code"] == product]
        train, test = part.loc[~holdout.loc[part.index]], part.loc[holdout.loc[part.index]]
        uplift_models[product] = fit_x_learner(train, list(FEATURES), seed=args.seed)
        treated = train.loc[train["is_treated"]]
        propensity_models[product] = LGBMClassifier(random_state=args.seed, **TREES).fit(
            treated[list(FEATURES)], treated["label"]
        )
        qini = {
            "uplift": qini_coefficient(
                uplift_models[product].predict(test)["uplift"], test["is_treated"], test["label"]
            ),
            "propensity": qini_coefficient(
                propensity_models[product].predict_proba(test[list(FEATURES)])[:, 1], test["is_treated"], test["label"]
            ),
            "oracle": qini_coefficient(
                test["true_probability"] - test["true_probability_control"], test["is_treated"], test["label"]
            ),
        }
        correlation = np.corrcoef(
            uplift_models[product].predict(test)["uplift"], test["true_probability"] - test["true_probability_control"]
        )[0, 1]
        print(
            f"{product:<18} {len(part):>8,} {int(part['is_control'].sum()):>8,} {qini['uplift']:>12.4f} "
            f"{qini['propensity']:>16.4f} {qini['oracle']:>12.4f} {correlation:>20.2f}"
        )

    # ---- evaluation: the same weeks from the same state, one copy per policy
    def scorer(kind: str):
        def scores(day, customers):
            frame, bank = bank_features(run_settings[kind])
            frame = frame.loc[frame["customer_id"].isin(set(customers))].reset_index(drop=True)
            parts = []
            for index, product in enumerate(PRODUCTS):
                part = frame[["customer_id"]].assign(product_code=product, model_name=kind, model_version="1")
                if kind == "random":
                    rng = np.random.default_rng([day.toordinal(), PRODUCTS.index(product)])
                    part["propensity"] = rng.uniform(0.2, 0.8, len(frame))
                elif kind == "propensity":
                    part["propensity"] = propensity_models[product].predict_proba(frame[list(FEATURES)])[:, 1]
                elif kind == "uplift":
                    predicted = uplift_models[product].predict(frame)
                    part["propensity"] = predicted["p_treated"].to_numpy()
                    part["uplift"] = predicted["uplift"].to_numpy()
                else:  # oracle: the truth's effect of a delivered contact
                    number = frame["customer_id"].str[1:].astype(int).to_numpy() - 1
                    p1 = bank.propensity[number, index]
                    part["propensity"] = p1
                    part["uplift"] = p1 - control_probability(p1, bank.effect[number, index])
                parts.append(part)
            return pd.concat(parts, ignore_index=True)

        return scores

    run_settings = {}
    evaluate_from = first + timedelta(days=args.explore_days)
    summary = []
    for capacity in args.capacity:
        results = []
        for kind, policy in (
            ("random", "propensity"),
            ("propensity", "propensity"),
            ("uplift", "uplift"),
            ("oracle", "uplift"),
        ):
            folder = work / f"{kind}-{capacity}"
            shutil.copytree(explored, folder)
            run_settings[kind] = dataclasses.replace(settings, data_dir=folder)
            # The same campaigns, with the evaluation's contact budget.
            write_catalogue(
                wave_catalogue(first, loop_days, capacity, control_share=0.3),
                run_settings[kind].campaign_catalogue_file,
            )
            began = time.perf_counter()
            run_policy_loop(
                run_settings[kind],
                evaluate_from,
                args.evaluate_days,
                seed=args.seed,
                scores=scorer(kind),
                policy=policy,
            )
            evaluated = pd.read_parquet(run_settings[kind].truth_dir / "contact_truth.parquet")
            evaluated = evaluated.loc[
                evaluated["list_row_id"].notna()
                & (pd.to_datetime(evaluated["list_row_id"].str[:8]).dt.date >= evaluate_from)
            ]
            contacted = evaluated.loc[~evaluated["is_control"]]
            lists = pd.concat(
                pd.read_parquet(f)
                for d in range(args.evaluate_days)
                for f in run_settings[kind].target_list_dir(evaluate_from + timedelta(days=d)).glob("*.parquet")
            )
            cost = float(lists["contact_cost"].sum())
            value = float((contacted["true_uplift"] * contacted["product_code"].map(product_value)).sum())
            results.append(
                {
                    "policy": kind,
                    "contacts": len(contacted),
                    "incremental_conversions": contacted["true_uplift"].sum(),
                    "incremental_value": value,
                    "cost": cost,
                    "net": value - cost,
                    "seconds": time.perf_counter() - began,
                }
            )
            print(
                f"  {capacity} a day, {kind}: {len(contacted):,} contacts in {time.perf_counter() - began:.0f}s",
                flush=True,
            )
            shutil.rmtree(folder)

        table = pd.DataFrame(results).set_index("policy")
        oracle, propensity = table.loc["oracle", "net"], table.loc["propensity", "net"]
        print(
            f"\nContact budget {capacity} a day per campaign; same {args.evaluate_days} days, catalogue and "
            "channels; value from the truth (true uplift x value per conversion - contact cost, EUR):"
        )
        print(
            f"{'policy':<12} {'contacts':>9} {'incr. conv.':>12} {'incr. value':>12} {'cost':>9} {'net':>10} "
            f"{'of oracle':>10}"
        )
        for policy, row in table.iterrows():
            print(
                f"{policy:<12} {row['contacts']:>9,} {row['incremental_conversions']:>12.1f} "
                f"{row['incremental_value']:>12,.0f} {row['cost']:>9,.0f} {row['net']:>10,.0f} "
                f"{row['net'] / oracle:>10.0%}"
            )
        uplift = table.loc["uplift", "net"]
        summary.append((capacity, uplift / oracle, (uplift - propensity) / abs(propensity)))
        print(
            f"uplift targeting: {uplift / oracle:.0%} of the oracle's net incremental value (goal >= 70%), "
            f"{(uplift - propensity) / abs(propensity):+.0%} against propensity targeting (goal >= +20%)\n",
            flush=True,
        )
    print("budget (contacts a day per campaign) -> uplift targeting's share of the oracle, gain over propensity:")
    for capacity, share, gain in summary:
        met = "both goals met" if share >= 0.7 and gain >= 0.2 else "goal missed"
        print(f"  {capacity:>5}: {share:.0%} of the oracle, {gain:+.0%} against propensity ({met})")
    print(f"(state kept under {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
