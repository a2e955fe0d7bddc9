"""A deliberately broken pricing endpoint for the HTTP fuzzing tests (not part of the pipeline):
no input validation (500 on bad bodies) and an undocumented field in its responses."""

from __future__ import annotations

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from examples.rides.pricing_api import OPENAPI, price_cents


async def quote(request: Request) -> JSONResponse:
    data = json.loads(await request.body())
    cents = price_cents(data["distance_km"], data["duration_min"],
                        vehicle=data.get("vehicle", "standard"), surge=data.get("surge", 1.0))
    return JSONResponse({"ride_id": data["ride_id"], "price_cents": cents,
                         "currency": data["currency"], "surge": data.get("surge", 1.0),
                         "debug": "undocumented"})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def openapi(request: Request) -> JSONResponse:
    return JSONResponse(OPENAPI)


app = Starlette(routes=[Route("/quote", quote, methods=["POST"]),
                        Route("/health", health, methods=["GET"]),
                        Route("/openapi.json", openapi, methods=["GET"])])
