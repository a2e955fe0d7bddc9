"""The rides pricing endpoint answers what its OpenAPI document says."""

from __future__ import annotations

from starlette.testclient import TestClient

from examples.rides.pricing_api import OPENAPI, app, price_cents


def test_quote_and_errors() -> None:
    client = TestClient(app)
    ok = client.post("/quote", json={"ride_id": "ride-1", "distance_km": 10, "duration_min": 20,
                                     "currency": "EUR", "surge": 1.5})
    assert ok.status_code == 200
    assert ok.json() == {"ride_id": "ride-1", "price_cents": price_cents(10, 20, surge=1.5),
                         "currency": "EUR", "surge": 1.5}
    bad = client.post("/quote", json={"ride_id": "ride-1", "distance_km": -1,
                                      "duration_min": 1, "currency": "EUR"})
    assert bad.status_code == 422 and bad.json()["field"] == "#/distance_km"
    junk = client.post("/quote", content=b"\xff{", headers={"content-type": "application/json"})
    assert junk.status_code == 422
    assert client.get("/health").json() == {"ok": True}
    assert client.get("/openapi.json").json() == OPENAPI
