"""Grain: one row per candidate number of needs clusters k (3..8) for the run date.

How many needs segments the bank's customers fall into is measured, not chosen:
the behaviour measures of int_customer_behaviours_profiled are standardised
(z-scores over every customer), a fixed random sample of at most 3,000
customers is clustered with k-means for each k from 3 to 8, and the k with the
highest mean silhouette coefficient is chosen (ties go to the smaller k).
int_customer_needs_clustered then clusters every customer with that k.

When the bank's data cannot be clustered (no customer with a behaviour row, or
fewer distinct behaviour profiles than the smallest k needs: every customer
looks the same), the one row is k = 1 with the reason in fallback_reason: every
customer is "unsegmented", counted, and the run goes on.
"""

import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

CANDIDATE_K = range(3, 9)
COLUMNS = ["segment_date", "k", "silhouette_score", "inertia", "sample_size", "customers", "fallback_reason"]
SAMPLE_SIZE = 3000
RANDOM_STATE = 42
KEYS = ("customer_id", "segment_date")


def model(dbt, session):
    behaviours = dbt.ref("int_customer_behaviours_profiled").df()
    # One thread: dbt already runs models in parallel, and OpenMP threads spinning on a
    # busy 2-core machine made k-means 50 times slower; one thread also keeps it reproducible.
    with threadpool_limits(limits=1):
        selection = select_k(behaviours)
    return selection


def select_k(behaviours: pd.DataFrame) -> pd.DataFrame:
    """Silhouette score of k-means for each candidate k on a fixed sample; the best k flagged.

    One k = 1 row with the reason when no candidate k can be measured.
    """
    behaviours = behaviours.sort_values("customer_id", ignore_index=True)
    traits = [column for column in behaviours.columns if column not in KEYS]
    segment_date = behaviours["segment_date"].max() if len(behaviours) else None
    rows = []
    sample = pd.DataFrame()
    if len(behaviours):
        standardised = pd.DataFrame(StandardScaler().fit_transform(behaviours[traits]), columns=traits)
        sample = standardised.sample(n=min(SAMPLE_SIZE, len(standardised)), random_state=RANDOM_STATE)
    distinct = len(sample.drop_duplicates())
    for k in CANDIDATE_K:
        # A silhouette needs at least k + 1 distinct points; tiny banks skip the larger k.
        if distinct <= k:
            continue
        clusters = KMeans(n_clusters=k, n_init=10, random_state=RANDOM_STATE).fit(sample)
        rows.append(
            {
                "segment_date": segment_date,
                "k": k,
                "silhouette_score": round(float(silhouette_score(sample, clusters.labels_)), 6),
                "inertia": round(float(clusters.inertia_), 3),
                "sample_size": len(sample),
                "customers": len(behaviours),
                "fallback_reason": None,
            }
        )
    if not rows:
        reason = (
            "no customer has behaviour measures to cluster"
            if not len(behaviours)
            else f"{distinct} distinct behaviour profile(s) among {len(behaviours)} customers: "
            f"k-means needs at least {min(CANDIDATE_K) + 1}"
        )
        rows.append(
            {
                "segment_date": segment_date,
                "k": 1,
                "silhouette_score": None,
                "inertia": None,
                "sample_size": len(sample),
                "customers": len(behaviours),
                "fallback_reason": reason,
            }
        )
    selection = pd.DataFrame(rows, columns=COLUMNS)
    best = selection.sort_values(["silhouette_score", "k"], ascending=[False, True], na_position="last").head(1)
    selection["is_chosen"] = selection["k"].isin(best["k"])
    selection["segment_date"] = pd.to_datetime(selection["segment_date"]).dt.date
    selection["silhouette_score"] = selection["silhouette_score"].astype("float64")
    selection["inertia"] = selection["inertia"].astype("float64")
    selection["fallback_reason"] = selection["fallback_reason"].astype("string")
    return selection.astype({"k": "int32", "sample_size": "int32", "customers": "int32"})
