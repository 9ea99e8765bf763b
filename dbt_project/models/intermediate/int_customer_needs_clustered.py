"""Grain: one row per customer who has not churned, as of the run date: the needs segment.

Every customer's behaviour measures (int_customer_behaviours_profiled) are
standardised and clustered by k-means with the k that needs_segment_selection
chose by silhouette. A cluster is named after its dominant trait: the measure
whose standardised centre lies farthest from the average, read in the direction
it lies (a cluster far above average on balances is "saver", far below is
"low_balance"). Directions without a name of their own (few travel, credit or
investment products is not a need) are skipped. When two clusters share a
dominant trait, both are named "<first>_<second>" after their two strongest.
When needs_segment_selection fell back to k = 1 (nothing to tell customers
apart by), every customer is "unsegmented" (cluster 0).
"""

import pandas as pd
from sklearn.cluster import KMeans
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

RANDOM_STATE = 42
UNSEGMENTED = "unsegmented"
KEYS = ("customer_id", "segment_date")
# (measure, direction of the centre) -> segment name
TRAIT_NAMES = {
    ("balance_level", 1): "saver",
    ("balance_level", -1): "low_balance",
    ("spend_to_income", 1): "spender",
    ("spend_to_income", -1): "frugal",
    ("travel_share", 1): "traveller",
    ("digital_use", 1): "digital",
    ("digital_use", -1): "offline",
    ("credit_products", 1): "borrower",
    ("investment_products", 1): "investor",
}


def traits_by_strength(centre: pd.Series) -> list[str]:
    """The named traits of one standardised cluster centre, strongest first."""
    named = [
        (abs(value), TRAIT_NAMES[(measure, 1 if value > 0 else -1)])
        for measure, value in centre.items()
        if (measure, 1 if value > 0 else -1) in TRAIT_NAMES
    ]
    return [name for _, name in sorted(named, key=lambda pair: -pair[0])]


def name_clusters(centres: pd.DataFrame) -> dict[int, str]:
    """Cluster number -> name, from the standardised cluster centres (one column per measure)."""
    ranked = {cluster: traits_by_strength(centre) or ["average"] for cluster, centre in centres.iterrows()}
    first = {cluster: traits[0] for cluster, traits in ranked.items()}
    names = {
        cluster: "_".join(traits[:2]) if list(first.values()).count(first[cluster]) > 1 else first[cluster]
        for cluster, traits in ranked.items()
    }
    # Still equal (same two strongest traits): number them, strongest centre first.
    seen: dict[str, int] = {}
    for cluster in sorted(names, key=lambda c: (-centres.loc[c].abs().max(), c)):
        seen[names[cluster]] = seen.get(names[cluster], 0) + 1
        if seen[names[cluster]] > 1:
            names[cluster] = f"{names[cluster]}_{seen[names[cluster]]}"
    return names


def model(dbt, session):
    behaviours = dbt.ref("int_customer_behaviours_profiled").df()
    selection = dbt.ref("needs_segment_selection").df()
    # One thread, as in needs_segment_selection.
    with threadpool_limits(limits=1):
        segments = assign_segments(behaviours, selection)
    return segments


def assign_segments(behaviours: pd.DataFrame, selection: pd.DataFrame) -> pd.DataFrame:
    """Cluster every customer with the chosen k and name the clusters."""
    behaviours = behaviours.sort_values("customer_id", ignore_index=True)
    result = behaviours[list(KEYS)].copy()
    result["segment_date"] = pd.to_datetime(result["segment_date"]).dt.date  # a DATE, not a TIMESTAMP
    chosen = selection.loc[selection["is_chosen"], "k"]
    if chosen.empty or int(chosen.iloc[0]) < 2 or result.empty:  # the selection's counted fallback
        result["needs_cluster"] = pd.Series(0, index=result.index, dtype="int32")
        result["needs_segment"] = pd.Series(UNSEGMENTED, index=result.index, dtype="string")
        return result
    traits = [column for column in behaviours.columns if column not in KEYS]
    standardised = pd.DataFrame(StandardScaler().fit_transform(behaviours[traits]), columns=traits)
    clusters = KMeans(n_clusters=int(chosen.iloc[0]), n_init=10, random_state=RANDOM_STATE).fit(standardised)
    names = name_clusters(pd.DataFrame(clusters.cluster_centers_, columns=traits))
    result["needs_cluster"] = pd.Series(clusters.labels_, dtype="int32")
    result["needs_segment"] = result["needs_cluster"].map(names)
    return result
