"""Targeting policies run straight against the simulator, without the daily DAG.

For checks and benchmarks that need many simulated weeks fast: each day a policy's
lists are built with the platform's own targeting (:func:`ml.targeting.build_target_lists`:
catalogue, capacity, channels, persistent controls, one entry per campaign), written
where the DAG writes them, and executed by :func:`bankmkt.generator.simulator.step`.
The warehouse is then built once at the end to measure what happened.

``random`` scores every customer at random: the control/treated split is then the only
difference between the arms, which is what an interval-coverage check wants.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable

import numpy as np
import pandas as pd

from bankmkt.settings import Settings

CHANNELS_BY_PREFERENCE = ("email", "push", "sms", "phone", "branch")


def observable_customers(settings: Settings) -> pd.DataFrame:
    """What the bank's landed data says about each current customer at the end of the last simulated day:
    marketing consent and the products held (churned customers, whose accounts are all closed, left out)."""
    import pickle

    from bankmkt.generator.catalogue import CHURNED, PRODUCTS
    from bankmkt.generator.simulator import STATE_FILE

    state = pickle.loads((settings.simulator_dir / STATE_FILE).read_bytes())
    bank, day = state["bank"], state["last_day"]
    current = (bank.pop.arrival_day <= day) & (bank.stage != CHURNED)
    frame = pd.DataFrame(
        {"customer_id": np.asarray(bank.customer_ids.to_pylist()), "has_marketing_consent": bank.pop.consent}
    )
    for index, product in enumerate(PRODUCTS):
        frame[f"has_{product}"] = bank.held[:, index]
    return frame.loc[current].reset_index(drop=True)


def random_scores(customers: pd.Series, products, rng: np.random.Generator) -> pd.DataFrame:
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "customer_id": customers,
                    "product_code": product,
                    "propensity": rng.uniform(0.2, 0.8, len(customers)),
                    "model_name": "random",
                    "model_version": "0",
                }
            )
            for product in products
        ],
        ignore_index=True,
    )


def run_policy_loop(
    settings: Settings,
    first_day: dt.date,
    days: int,
    seed: int = 0,
    scores: Callable[[dt.date, pd.Series], pd.DataFrame] | None = None,
    progress: Callable[[str], None] | None = None,
    policy: str = "propensity",
) -> list[dict]:
    """Publish a policy's lists for ``first_day`` .. ``first_day + days - 1`` and let the simulator execute them.

    ``scores(day, customers)`` gives each customer's propensity (and, for ``policy="uplift"``,
    uplift) per product (default: random).
    The contact policy sees what the landed data says (consent, products held, churned
    customers left out, :func:`observable_customers`); every channel is offered to every
    customer in one fixed preference order, so capacity, not reachability, decides the
    channel. Returns the simulator's summary of each day.
    """
    from bankmkt.campaigns import load_catalogue
    from bankmkt.generator.simulator import step
    from bankmkt.pseudonyms import customer_keys, write_lookup
    from ml.targeting import build_target_lists, write_target_lists

    rng = np.random.default_rng(seed)
    campaigns = load_catalogue(settings.campaign_catalogue_file)
    products = sorted({c.product_code for c in campaigns.values()})
    history = pd.DataFrame(columns=["customer_id", "campaign_id"])
    executed = []
    for offset in range(days):
        day = first_day + dt.timedelta(days=offset)
        frame = observable_customers(settings)
        customers = frame["customer_id"]
        channels = pd.DataFrame(
            [(c, ch, rank) for c in customers for rank, ch in enumerate(CHANNELS_BY_PREFERENCE, start=1)],
            columns=["customer_id", "channel", "channel_rank"],
        )
        day_scores = scores(day, customers) if scores else random_scores(customers, products, rng)
        lists, exclusions = build_target_lists(
            day_scores, frame, day, campaigns, channels, campaign_history=history, policy=policy
        )
        write_target_lists(
            lists,
            day,
            settings,
            campaigns,
            exclusions,
            customer_keys=functools.partial(customer_keys, settings=settings),
            write_lookup=functools.partial(write_lookup, settings=settings),
        )
        history = pd.concat([history, lists[["customer_id", "campaign_id"]]], ignore_index=True)
        summary = step(day, settings)
        executed.append(summary)
        if progress:
            progress(f"{day}: {len(lists)} listed, {summary['contacts']} contacted, {summary['controls']} held out")
    return executed
