"""The serving command (`make serve`) and the OpenAPI description clients are generated from."""

from __future__ import annotations

from bankmkt import features


def test_serve_on_a_store_without_features_stops_with_a_reason(local_store, tmp_path, capsys, monkeypatch):
    import uvicorn

    from bankmkt import serving

    def must_not_start(*args, **kwargs):
        raise AssertionError("the service started on a store without the feature service")

    monkeypatch.setattr(uvicorn, "run", must_not_start)
    never_applied = features.settings_for_project("never_applied", tmp_path, local_store, file_registry=True)

    assert serving.main(["--feature-store-yaml", str(never_applied.feature_store_yaml)]) == 2
    assert "propensity_v3 does not exist" in capsys.readouterr().err


def test_openapi_description_and_docs_page_are_served(local_store, days, tmp_path):
    from fastapi.testclient import TestClient

    from bankmkt.serving import FeatureServer, create_app

    settings = features.settings_for_project(days.unique_project("openapi"), tmp_path, local_store)
    days.quiet_apply(settings)
    try:
        with TestClient(create_app(FeatureServer(settings))) as client:
            spec = client.get("/openapi.json").json()
            docs = client.get("/docs")
    finally:
        features.remove_project(settings)

    assert spec["openapi"].startswith("3.")
    assert {"/customers/{customer_id}/features", "/features", "/feature-service", "/health"} <= set(spec["paths"])
    assert docs.status_code == 200 and "/openapi.json" in docs.text


def test_bad_customer_ids_get_a_422_that_does_not_echo_them(local_store, days, tmp_path):
    """A lone surrogate, a 60,000-character id, 10,000 ids or free text: 422 with a short answer, never a 500 or an echo."""
    from fastapi.testclient import TestClient

    from bankmkt.serving import FeatureServer, create_app

    settings = features.settings_for_project(days.unique_project("validation"), tmp_path, local_store)
    days.quiet_apply(settings)
    try:
        with TestClient(create_app(FeatureServer(settings))) as client:
            surrogate = client.post(
                "/features",
                content='{"customer_ids": ["C0000001", "\\ud800"]}',
                headers={"Content-Type": "application/json"},
            )
            huge = client.get("/customers/" + "C" * 60_000 + "/features")
            body_5mb = client.post("/features", json={"customer_ids": ["C" * 5_000_000]})
            many = client.post("/features", json={"customer_ids": [f"C{i:07d}" for i in range(10_000)]})
            free_text = client.post("/features", json={"customer_ids": ["john.doe@example.com", "C0000001"]})
            unknown = client.get("/customers/C9999999/features")
            fine = client.post("/features", json={"customer_ids": ["C9999999"]})
    finally:
        features.remove_project(settings)

    assert surrogate.status_code == 422 and "customer_ids[1] (1 characters)" in surrogate.text
    assert huge.status_code in (414, 422) and len(huge.content) < 1_000
    assert body_5mb.status_code == 422 and len(body_5mb.content) < 1_000
    assert many.status_code == 422 and len(many.content) < 1_000 and "C0000001" not in many.text
    assert free_text.status_code == 422 and "example.com" not in free_text.text
    assert unknown.status_code == 404
    assert fine.status_code == 200 and fine.json()["customers"][0]["found"] is False
