"""Business invariants of the payments pipeline, as user checkers (docs/detection.md).

Each is a pure function of the history's events and the end-of-run store snapshot, named in an
experiment's probes as ``checker: invariants.py:NAME``.
"""

from __future__ import annotations

import base64
import functools
import importlib.util
import json
from pathlib import Path
from typing import Any


def _published(events: list[dict[str, Any]], message_type: str):
    for e in events:
        if e.get("kind") == "publish" and e.get("type") == message_type and e.get("body"):
            yield json.loads(base64.b64decode(e["body"]))


def no_high_risk_approved(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """No payment the fraud agent rated high risk is ever posted to the ledger."""
    if snapshot is None:
        return "unknown"  # without the store's effects the postings cannot be judged
    risky = {env["payload"]["payment_id"] for env in _published(events, "payment.risk_assessed")
             if env["payload"].get("risk_level") == "high"}
    return [{"payment_id": eff.get("data", {}).get("payment_id"),
             "correlation_id": eff.get("correlation_id")}
            for eff in events if eff.get("kind") == "effect" and eff.get("applied")
            and eff.get("effect") == "ledger.post"
            and (eff.get("data") or {}).get("payment_id") in risky]


def receipts_state_the_amount(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """A receipt tells the customer the amount that was posted (amount_cents / 100, currency)."""
    posted = {env["payload"]["payment_id"]: env["payload"]
              for env in _published(events, "ledger.posted")}
    problems = []
    for env in _published(events, "notification.sent"):
        p = env["payload"]
        if p.get("kind") != "receipt" or p.get("payment_id") not in posted:
            continue
        paid = posted[p["payment_id"]]
        want = f"{paid['amount_cents'] / 100:.2f} {paid['currency']}"
        if want not in p.get("text", ""):
            problems.append({"payment_id": p["payment_id"], "text": p.get("text"),
                             "expected": want})
    return problems


def authorization_codes_identify_payments(events: list[dict[str, Any]],
                                          snapshot: dict[str, Any] | None):
    """Two different payments never share an authorization code."""
    owner: dict[str, str] = {}
    problems = []
    for env in _published(events, "payment.authorized"):
        p = env["payload"]
        first = owner.setdefault(p["authorization_code"], p["payment_id"])
        if first != p["payment_id"]:
            problems.append({"authorization_code": p["authorization_code"],
                             "payments": [first, p["payment_id"]]})
    return problems


def eta_source_is_honest(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """An ETA says ``cached`` exactly when the ETA agent fell back for that ride's message."""
    fell_back = {e.get("message_id") for e in events
                 if e.get("kind") == "fallback" and e.get("agent") == "eta"}
    problems = []
    for env in _published(events, "ride.eta_estimated"):
        cached = env["causation_id"] in fell_back
        if (env["payload"].get("eta_source") == "cached") != cached:
            problems.append({"ride_id": env["payload"].get("ride_id"),
                             "eta_source": env["payload"].get("eta_source"),
                             "fallback_recorded": cached})
    return problems


def cached_eta_is_a_seen_eta(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """A cached ETA is one of the live ETAs published for its zone, or the default (480 s)
    while none had been published when its delivery began."""
    live: dict[str, set[int]] = {}
    first_live: dict[str, int] = {}  # zone -> index of its first live ETA
    began: dict[str, int] = {}  # message id -> index its first delivery to eta began
    problems = []
    for e in events:
        if e.get("kind") == "deliver" and e.get("agent") == "eta" and e.get("message_id"):
            began.setdefault(e["message_id"], e["index"])
        if e.get("kind") != "publish" or e.get("type") != "ride.eta_estimated" or not e.get(
                "body"):
            continue
        env = json.loads(base64.b64decode(e["body"]))
        p = env["payload"]
        zone = p.get("pickup_zone")
        if p.get("eta_source") == "live":
            live.setdefault(zone, set()).add(p["eta_seconds"])
            first_live.setdefault(zone, e["index"])
        elif p.get("eta_source") == "cached":
            start = began.get(env["causation_id"], e["index"])
            default_ok = p["eta_seconds"] == 480 and first_live.get(zone, start) >= start
            if p["eta_seconds"] not in live.get(zone, set()) and not default_ok:
                problems.append({"ride_id": p.get("ride_id"), "zone": zone,
                                 "eta_seconds": p["eta_seconds"]})
    return problems


def _requests(events: list[dict[str, Any]], message_type: str, key: str) -> dict[Any, Any]:
    """The workload's inputs of a type, by a payload field."""
    return {env["payload"].get(key): env["payload"] for env in _published(events, message_type)
            if isinstance(env.get("payload"), dict)}


def memo_summaries_are_faithful(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """The fraud agent's memo summary: "no memo" exactly when the customer wrote none, else the
    number of words they wrote (never their words)."""
    asked = _requests(events, "payment.requested", "payment_id")
    problems = []
    for env in _published(events, "payment.risk_assessed"):
        p = env["payload"]
        memo = (asked.get(p.get("payment_id")) or {}).get("memo", "")
        want = f"customer memo of {len(memo.split())} word(s)" if memo else "no memo"
        if p.get("payment_id") in asked and p.get("memo_summary") != want:
            problems.append({"payment_id": p["payment_id"], "memo": memo[:40],
                             "memo_summary": p.get("memo_summary"), "expected": want})
    return problems


def renditions_follow_duration(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """A video shorter than 60 s gets two renditions (240p, 480p), a longer one all four."""
    uploads = _requests(events, "video.uploaded", "video_id")
    problems = []
    for env in _published(events, "video.transcoding_complete"):
        p = env["payload"]
        up = uploads.get(p.get("video_id"))
        if up is None:
            continue
        want = ["240p", "480p"] if up["duration_s"] < 60 else ["240p", "480p", "720p", "1080p"]
        if p.get("renditions") != want:
            problems.append({"video_id": p["video_id"], "duration_s": up["duration_s"],
                             "renditions": p.get("renditions")})
    return problems


def live_etas_are_the_models(events: list[dict[str, Any]], snapshot: dict[str, Any] | None):
    """A live ETA is the ETA model's answer for that driver and pickup zone: the service's own
    function (examples/rides/eta_http.py), not the agent's in-process stand-in for it."""
    model = _eta_service().eta_seconds
    problems = []
    for env in _published(events, "ride.eta_estimated"):
        p = env["payload"]
        if p.get("eta_source") != "live":
            continue
        want = model(p.get("driver_id", ""), p.get("pickup_zone", ""))
        if p.get("eta_seconds") != want:
            problems.append({"ride_id": p.get("ride_id"), "eta_seconds": p.get("eta_seconds"),
                             "model_says": want})
    return problems


@functools.cache
def _eta_service() -> Any:
    """examples/rides/eta_http.py, loaded by path (this file is loaded by path too)."""
    path = Path(__file__).resolve().parents[1] / "examples" / "rides" / "eta_http.py"
    spec = importlib.util.spec_from_file_location("_rides_eta_service", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
