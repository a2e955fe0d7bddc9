"""The rides pipeline's pricing service as an HTTP endpoint (ASGI, Starlette), with OpenAPI.

``POST /quote`` prices a ride; ``GET /health`` says it is up; ``GET /openapi.json`` describes
both. Every request body is validated against the documented schema before pricing, so bad input
gets a 422 with the failing field, never a 5xx. Independent of the rides agents (matching,
pricing, ETA); Schemathesis fuzzes it (``harness.fuzz.http``)::

    uvicorn examples.rides.pricing_api:app
"""

from __future__ import annotations

import json
import math
from typing import Any

from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

__all__ = ["OPENAPI", "app", "price_cents"]

QUOTE_REQUEST: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ride_id": {"type": "string", "pattern": "^ride-[0-9a-z-]{1,64}$"},
        "distance_km": {"type": "number", "minimum": 0, "maximum": 1000},
        "duration_min": {"type": "number", "minimum": 0, "maximum": 1440},
        "surge": {"type": "number", "minimum": 1, "maximum": 5},
        "vehicle": {"type": "string", "enum": ["standard", "xl", "premium"]},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
    },
    "required": ["ride_id", "distance_km", "duration_min", "currency"],
    "additionalProperties": False,
}
QUOTE: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ride_id": {"type": "string"},
        "price_cents": {"type": "integer", "minimum": 0},
        "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
        "surge": {"type": "number"},
    },
    "required": ["ride_id", "price_cents", "currency", "surge"],
    "additionalProperties": False,
}
ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    "required": ["error", "field"],
    "additionalProperties": False,
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "rides pricing", "version": "1.0.0"},
    "paths": {
        "/quote": {"post": {
            "operationId": "quote",
            "requestBody": {"required": True, "content": {
                "application/json": {"schema": QUOTE_REQUEST}}},
            "responses": {
                "200": {"description": "the price",
                        "content": {"application/json": {"schema": QUOTE}}},
                "422": {"description": "the request does not match its schema",
                        "content": {"application/json": {"schema": ERROR}}},
            },
        }},
        "/health": {"get": {
            "operationId": "health",
            "responses": {"200": {"description": "up", "content": {"application/json": {
                "schema": {"type": "object", "properties": {"ok": {"type": "boolean"}},
                           "required": ["ok"], "additionalProperties": False}}}}},
        }},
    },
}
BASE_CENTS = {"standard": 250, "xl": 400, "premium": 700}
_validator = Draft202012Validator(QUOTE_REQUEST)


def price_cents(distance_km: float, duration_min: float, *, vehicle: str = "standard",
                surge: float = 1.0) -> int:
    """Base fare plus 90 cents a km and 25 cents a minute, times the surge, rounded up."""
    raw = (BASE_CENTS[vehicle] + 90 * distance_km + 25 * duration_min) * surge
    return math.ceil(raw)


def _error(message: str, field: str) -> JSONResponse:
    return JSONResponse({"error": message[:300], "field": field}, status_code=422)


async def quote(request: Request) -> JSONResponse:
    body = await request.body()
    try:
        data = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _error(f"not JSON: {type(exc).__name__}", "#")
    error = next(iter(sorted(_validator.iter_errors(data), key=lambda e: list(e.path))), None)
    if error is not None:
        return _error(error.message, "#/" + "/".join(str(p) for p in error.absolute_path))
    surge = float(data.get("surge", 1.0))
    cents = price_cents(data["distance_km"], data["duration_min"],
                        vehicle=data.get("vehicle", "standard"), surge=surge)
    return JSONResponse({"ride_id": data["ride_id"], "price_cents": cents,
                         "currency": data["currency"], "surge": surge})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


app = Starlette(routes=[
    Route("/quote", quote, methods=["POST"]),
    Route("/health", health, methods=["GET"]),
    Route("/openapi.json", openapi, methods=["GET"]),
])
