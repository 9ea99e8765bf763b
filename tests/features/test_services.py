"""Feature services are versioned: a new feature goes into a new service, older ones keep their features."""

import pandas as pd

from bankmkt import features


def _names(store, service: str) -> list[str]:
    fs = store.get_feature_service(service)
    return [f.name for projection in fs.feature_view_projections for f in projection.features]


def test_v1_services_keep_their_features_and_v2_adds_the_savings_balance(local_store):
    store = features.feature_store(local_store)
    v1, v2 = _names(store, "propensity_v1"), _names(store, "propensity_v2")
    assert len(v1) == 28 and "balance_savings" not in v1
    assert [name for name in v2 if name != "balance_savings"] == v1
    assert "balance_savings" in v2
    assert _names(store, "churn_v1") == v1
    # v3 and churn v2 add the bank's declared attributes: the synthetic bank declares none.
    assert features.FEATURE_SERVICE == "propensity_v3" and features.CHURN_FEATURE_SERVICE == "churn_v2"
    assert features.feature_names(local_store) == v2
    assert _names(store, features.CHURN_FEATURE_SERVICE) == v2


def test_a_v1_training_set_has_no_v2_feature(local_store, days):
    store = features.feature_store(local_store)
    contacts = pd.DataFrame(
        {"customer_id": ["C0000001"], "event_timestamp": [pd.Timestamp(days.known_at(days.RUN_DAY))]}
    )
    v1 = features.retrieval._with_segment(store, contacts, "propensity_v1")
    v2 = features.retrieval._with_segment(store, contacts, features.FEATURE_SERVICE)
    assert "balance_savings" not in v1.columns and "balance_total" in v1.columns
    assert v2["balance_savings"].notna().all()
    assert v1["balance_total"].tolist() == v2["balance_total"].tolist()
