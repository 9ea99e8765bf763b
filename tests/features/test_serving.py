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
    assert "propensity_v2 does not exist" in capsys.readouterr().err


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
