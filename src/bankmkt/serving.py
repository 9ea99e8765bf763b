"""Online feature serving: a small HTTP service over the Feast online store.

    python -m bankmkt.serving [--host 127.0.0.1] [--port 6566] [--reader direct|sdk] [--feature-store-yaml PATH]

Endpoints (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``):

* ``GET /customers/{customer_id}/features``: one customer's features;
* ``POST /features`` with ``{"customer_ids": [...]}`` (1 to 100 customers);
* ``GET /feature-service``: which feature comes from which view, types, TTLs;
* ``GET /health``.

Every answer carries the feature values of the feature service
(``propensity_v3`` by default) and, per feature view, the event time of the
values (the start of the day after their feature date).

The default ``direct`` reader reads Feast's storage format itself (one SQLite
query over the service's tables, or one Redis HMGET per customer) and decodes
the ValueProtos; ``sdk`` serves through ``FeatureStore.get_online_features``.
Both give the same answers; the direct reader is several times faster (see
benchmarks/serving_latency.py). The feature views and their types come from
the Feast registry and are re-read every ``cache_ttl_seconds`` of the registry
configuration, so `feast apply` of a new service version is picked up.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import struct
import sys
import threading
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Body, FastAPI, HTTPException, Path, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

from bankmkt.feast_plugin import storage_kind
from bankmkt.features import FEATURE_SERVICE, feature_store, settings_with_store_yaml
from bankmkt.settings import Settings, get_settings

logger = logging.getLogger(__name__)

MAX_CUSTOMERS_PER_REQUEST = 100
# What a customer id may look like (settings: CUSTOMER_ID_PATTERN); anything else is answered 422
# without reading the store, and error messages never repeat what the client sent.
MAX_ERRORS_SHOWN = 5
DEFAULT_HOST = "127.0.0.1"  # loopback unless the operator says otherwise
DEFAULT_PORT = 6566  # the port of `feast serve`


# ---------------------------------------------------------------------------
# What the service serves (from the registry)
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServedView:
    name: str  # feature view name as in the registry
    online_name: str  # name Feast's online store uses (versioned when versioning is on)
    features: tuple[str, ...]  # as projected by the feature service
    value_types: tuple  # feast ValueType per feature
    ttl_seconds: int | None


@dataclass(frozen=True)
class Catalog:
    project: str
    service: str
    join_key: str
    key_type: object  # feast ValueType of the join key
    key_version: int
    views: tuple[ServedView, ...]
    loaded_at: float = field(compare=False)

    @property
    def feature_names(self) -> list[str]:
        return [name for view in self.views for name in view.features]


def load_catalog(store, service: str) -> Catalog:
    """The feature service's views, features and types, read from the registry."""
    from feast.infra.online_stores.helpers import compute_versioned_name

    store.refresh_registry()
    feature_service = store.get_feature_service(service, allow_cache=True)
    versioning = store.config.registry.enable_online_feature_view_versioning
    views, join_keys = [], set()
    for projection in feature_service.feature_view_projections:
        view = store.get_feature_view(projection.name)
        join_keys.update((c.name, c.dtype.to_value_type()) for c in view.entity_columns)
        features = list(projection.features)
        views.append(
            ServedView(
                name=view.name,
                online_name=compute_versioned_name(view, versioning),
                features=tuple(f.name for f in features),
                value_types=tuple(f.dtype.to_value_type() for f in features),
                ttl_seconds=int(view.ttl.total_seconds()) if view.ttl else None,
            )
        )
    if len(join_keys) != 1:
        raise ValueError(f"feature service {service} needs one entity key, has {sorted(join_keys)}")
    ((join_key, key_type),) = join_keys
    return Catalog(
        project=store.project,
        service=service,
        join_key=join_key,
        key_type=key_type,
        key_version=store.config.entity_key_serialization_version,
        views=tuple(views),
        loaded_at=time.monotonic(),
    )


# ---------------------------------------------------------------------------
# Decoding Feast's ValueProto bytes
# ---------------------------------------------------------------------------

_DOUBLE = struct.Struct("<d")
_FLOAT = struct.Struct("<f")


def decode_value(raw: bytes | None, value_type, _cache: dict = {}):  # noqa: B006 - a deliberate memo
    """The Python value of a serialised ValueProto, as Feast's SDK returns it (None when missing)."""
    if not raw:
        return None
    tag = raw[0]
    if tag == 0x29 and len(raw) == 9:  # double_val
        return _DOUBLE.unpack_from(raw, 1)[0]
    if tag == 0x35 and len(raw) == 5:  # float_val
        return _FLOAT.unpack_from(raw, 1)[0]
    key = (raw, value_type)
    try:
        return _cache[key]
    except KeyError:
        pass
    from feast.protos.feast.types.Value_pb2 import Value as ValueProto
    from feast.type_map import feast_value_type_to_python_type

    proto = ValueProto()
    proto.ParseFromString(raw)
    value = feast_value_type_to_python_type(proto, value_type)
    if len(raw) <= 11 and len(_cache) < 100_000:  # small integers, flags: few distinct byte strings
        _cache[key] = value
    return value


def _isoformat(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


# ---------------------------------------------------------------------------
# Readers: customer ids -> one record per customer
# ---------------------------------------------------------------------------


def _empty_record(catalog: Catalog, customer_id: str) -> dict:
    return {
        "customer_id": customer_id,
        "found": False,
        "features": dict.fromkeys(catalog.feature_names),
        "event_timestamps": dict.fromkeys(v.name for v in catalog.views),
    }


class DirectReader:
    """Reads the stored bytes through the platform's Feast plugin and decodes them (what
    `get_online_features` does, faster): one SQLite query over the service's tables, or one Redis HMGET
    per customer."""

    def __init__(self, store, catalog: Catalog):
        from bankmkt.feast_plugin import serialize_entity_keys, storage_kind, storage_reader

        if storage_kind(store.config) is None:
            raise ValueError(f"the direct reader knows sqlite and redis, not {store.config.online_store.type}")
        self.catalog = catalog
        views = {v.name: v for v in store.list_feature_views()}
        self._storage = storage_reader(store.config, [(views[v.name], v.features) for v in catalog.views])
        self._types = [dict(zip(v.features, v.value_types)) for v in catalog.views]
        self._serialize = serialize_entity_keys

    def read(self, customer_ids: list[str]) -> list[dict]:
        c = self.catalog
        keys = self._serialize(c.join_key, customer_ids, c.key_type, c.key_version, check=0)
        out = []
        for customer_id, stored in zip(customer_ids, self._storage.read(keys)):
            record = _empty_record(c, customer_id)
            for view, types, (event_time, raw_values) in zip(c.views, self._types, stored):
                if event_time is None:
                    continue
                record["found"] = True
                record["event_timestamps"][view.name] = event_time
                features = record["features"]
                for name, raw in raw_values.items():
                    features[name] = decode_value(raw, types[name])
            out.append(record)
        return out


class SdkReader:
    """Serves through Feast's SDK (``FeatureStore.get_online_features``)."""

    def __init__(self, store, catalog: Catalog):
        self.store = store
        self.catalog = catalog
        self.service = store.get_feature_service(catalog.service)

    def read(self, customer_ids: list[str]) -> list[dict]:
        from feast.online_response import TIMESTAMP_POSTFIX

        c = self.catalog
        response = self.store.get_online_features(
            features=self.service, entity_rows=[{c.join_key: cid} for cid in customer_ids]
        ).to_dict(include_event_timestamps=True)
        out = []
        for row, customer_id in enumerate(customer_ids):
            record = _empty_record(c, customer_id)
            for view in c.views:
                stamp = None
                for name in view.features:
                    record["features"][name] = response[name][row]
                    stamp = stamp or response[name + TIMESTAMP_POSTFIX][row]
                if stamp:
                    record["found"] = True
                    record["event_timestamps"][view.name] = _isoformat(datetime.fromtimestamp(stamp, tz=UTC))
            out.append(record)
        return out


READERS = {"direct": DirectReader, "sdk": SdkReader}


class FeatureServer:
    """A reader over a catalog that is reloaded from the registry in the background."""

    def __init__(self, settings: Settings | None = None, service: str = FEATURE_SERVICE, reader: str = "direct"):
        self.settings = settings or get_settings()
        self.service = service
        self.reader_name = reader
        self.store = feature_store(self.settings)
        self.refresh_seconds = max(float(self.store.config.registry.cache_ttl_seconds or 60), 5.0)
        self._reader = self._build()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._refresh_loop, name="registry-refresh", daemon=True)

    def _build(self):
        catalog = load_catalog(self.store, self.service)
        return READERS[self.reader_name](self.store, catalog)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_seconds):
            try:
                if load_catalog(self.store, self.service) != self._reader.catalog:
                    self._reader = self._build()  # one reference swap: requests never see half a catalog
            except Exception:  # keep serving the last good catalog
                logger.exception("registry refresh failed; serving the previous catalog")

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def catalog(self) -> Catalog:
        return self._reader.catalog

    def read(self, customer_ids: list[str]) -> list[dict]:
        return self._reader.read(customer_ids)


# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------

FeatureValue = int | float | str | bool | None


class CustomerFeatures(BaseModel):
    customer_id: str = Field(description="Bank customer number.", examples=["C0000001"])
    found: bool = Field(description="False when the online store holds nothing for the customer.")
    features: dict[str, FeatureValue] = Field(description="Feature name -> value (null when missing).")
    event_timestamps: dict[str, str | None] = Field(
        description="Feature view -> event time of its values (UTC, ISO 8601): the start of the day "
        "after the feature date. Null when the view holds nothing for the customer."
    )


class BatchRequest(BaseModel):
    customer_ids: list[str] = Field(
        min_length=1, max_length=MAX_CUSTOMERS_PER_REQUEST, examples=[["C0000001", "C0000002"]]
    )


class BatchResponse(BaseModel):
    feature_service: str
    customers: list[CustomerFeatures]


class ViewDescription(BaseModel):
    name: str
    features: dict[str, str] = Field(description="Feature name -> value type.")
    ttl_seconds: int | None = Field(description="How old a value may be before the offline join stops using it.")


class ServiceDescription(BaseModel):
    project: str
    feature_service: str
    entity_key: str
    feature_views: list[ViewDescription]


def create_app(server: FeatureServer | None = None, settings: Settings | None = None, reader: str = "direct"):
    """The FastAPI application (the server is built at start-up unless one is given)."""
    state: dict = {}

    @asynccontextmanager
    async def lifespan(app):
        state["server"] = server or FeatureServer(settings, reader=reader)
        state["server"].start()
        yield
        state["server"].stop()

    app = FastAPI(
        title="Bank marketing online features",
        version="1",
        description="Feature values of the propensity models' feature service, per customer, from the Feast online store.",
        lifespan=lifespan,
    )

    id_pattern = re.compile((settings or get_settings()).customer_id_pattern)

    def _bad_ids(customer_ids: list[str]) -> list[str]:
        """Where and why ids break the pattern (the ids themselves are not repeated)."""
        problems = []
        for position, customer_id in enumerate(customer_ids):
            if not id_pattern.fullmatch(customer_id):
                problems.append(
                    f"customer_ids[{position}] ({len(customer_id)} characters) does not match {id_pattern.pattern}"
                )
        return problems

    def _reject(problems: list[str]) -> None:
        shown = problems[:MAX_ERRORS_SHOWN]
        more = f" (and {len(problems) - len(shown)} more)" if len(problems) > len(shown) else ""
        raise HTTPException(status_code=422, detail="; ".join(shown) + more)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request, error: RequestValidationError):
        """FastAPI's 422 without the ``input`` it would echo (a 10,000-id body, a 5 MB id)."""
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in error.errors()[:MAX_ERRORS_SHOWN]
        ]
        return Response(json.dumps({"detail": errors}), status_code=422, media_type="application/json")

    def _json(payload) -> Response:
        # The records are built to the response models' shape; skipping re-validation keeps latency low.
        return Response(json.dumps(payload, separators=(",", ":")), media_type="application/json")

    @app.get(
        "/customers/{customer_id}/features",
        response_model=CustomerFeatures,
        tags=["features"],
        responses={404: {"description": "The online store holds no features for this customer."}},
    )
    async def customer_features(customer_id: Annotated[str, Path(examples=["C0000001"])]):
        """Features of one customer."""
        if not id_pattern.fullmatch(customer_id):
            _reject([f"the customer id ({len(customer_id)} characters) does not match {id_pattern.pattern}"])
        record = state["server"].read([customer_id])[0]
        if not record["found"]:
            raise HTTPException(status_code=404, detail=f"no online features for customer {customer_id}")
        return _json(record)

    @app.post("/features", response_model=BatchResponse, tags=["features"])
    async def batch_features(request: Annotated[BatchRequest, Body()]):
        """Features of 1 to 100 customers, in the order asked (``found`` is false for unknown customers)."""
        problems = _bad_ids(request.customer_ids)
        if problems:
            _reject(problems)
        srv = state["server"]
        return _json({"feature_service": srv.service, "customers": srv.read(request.customer_ids)})

    @app.get("/feature-service", response_model=ServiceDescription, tags=["metadata"])
    async def describe():
        """The served feature service: views, features with their types, TTLs."""
        catalog = state["server"].catalog
        return {
            "project": catalog.project,
            "feature_service": catalog.service,
            "entity_key": catalog.join_key,
            "feature_views": [
                {
                    "name": v.name,
                    "features": {n: t.name for n, t in zip(v.features, v.value_types)},
                    "ttl_seconds": v.ttl_seconds,
                }
                for v in catalog.views
            ],
        }

    @app.get("/health", tags=["metadata"])
    async def health():
        """Liveness and what is served."""
        srv = state["server"]
        return {
            "status": "ok",
            "reader": srv.reader_name,
            "online_store": storage_kind(srv.store.config) or srv.store.config.online_store.type,
            "project": srv.catalog.project,
            "feature_service": srv.service,
        }

    return app


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m bankmkt.serving", description="Serve online features over HTTP.")
    parser.add_argument("--host", default=DEFAULT_HOST, help="interface to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument(
        "--reader",
        choices=sorted(READERS),
        default="direct",
        help="direct: decode Feast's storage format; sdk: FeatureStore.get_online_features",
    )
    parser.add_argument("--feature-service", default=FEATURE_SERVICE)
    parser.add_argument(
        "--feature-store-yaml",
        metavar="PATH",
        help="serve the store this Feast file describes instead of the profile's (trial projects)",
    )
    args = parser.parse_args(argv)
    settings = settings_with_store_yaml(args.feature_store_yaml) if args.feature_store_yaml else None
    from feast.errors import FeastObjectNotFoundException

    try:
        server = FeatureServer(settings, service=args.feature_service, reader=args.reader)
    except FeastObjectNotFoundException as error:  # a DATA_DIR where features were never applied
        print(
            f"error: {error}; publish features into this DATA_DIR first (make demo, or "
            "python -m bankmkt.features materialize --date YYYY-MM-DD after a run)",
            file=sys.stderr,
        )
        return 2
    print(
        f"serving {args.feature_service} ({args.reader} reader, {storage_kind(server.store.config) or server.store.config.online_store.type}) on "
        f"http://{args.host}:{args.port}; OpenAPI at /openapi.json, docs at /docs",
        flush=True,
    )
    uvicorn.run(create_app(server), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
