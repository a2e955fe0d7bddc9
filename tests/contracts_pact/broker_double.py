"""A test double of the Pact Broker (HAL over HTTP, in process), built from its documented API
and checked against what the Pact Foundation's own client (``pact broker ...``) asks.

It keeps everything in memory and implements what the harness and the Pact verifier use:

- ``GET /`` index with HAL links (``pb:publish-contracts``, ``pb:provider-pacts-for-verification``,
  ``pb:pacticipant-branch-version``, ``pb:environments``, ``pb:can-i-deploy-...``);
- ``POST /contracts/publish`` (pacticipant version, branch, tags, base64 contracts; 409 when a
  version republishes different content);
- pacts for verification (``GET``/``POST /pacts/provider/{p}/for-verification``) with consumer
  version selectors (``mainBranch``, ``branch``, ``matchingBranch``, ``deployedOrReleased``,
  ``deployed``, ``environment``, ``consumer``, ``latest``), pending status and WIP pacts;
- pact documents (``/pacts/provider/{p}/consumer/{c}/pact-version/{sha}``) with
  ``pb:publish-verification-results``, and verification results;
- provider versions (``PUT /pacticipants/{p}/branches/{b}/versions/{v}``), tags;
- environments, recorded deployments, and ``GET /can-i-deploy`` / ``GET /matrix`` with a summary
  (deployable, reason, success, failed, unknown), matrix rows and notices.

- latest versions (``pb:latest-version``, ``pb:latest-tagged-version``), the latest pact per
  integration (``pb:latest-pact-versions``) and the pacticipants (``pb:pacticipants``).

Usage::

    with BrokerStub() as broker:
        subprocess.run(["pact", "broker", "describe-version", "-b", broker.url, ...])
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlparse

__all__ = ["BrokerStub"]

MAIN_BRANCHES = ("main", "master", "develop")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


@dataclass
class _Version:
    number: str
    order: int
    branches: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    created_at: str = field(default_factory=_now)


@dataclass
class _Pact:
    consumer: str
    provider: str
    version: str
    sha: str
    content: dict[str, Any]
    created_at: str = field(default_factory=_now)


class _State:
    """The broker's data (guarded by one lock)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.versions: dict[str, dict[str, _Version]] = {}
        self.pacts: list[_Pact] = []
        self.verifications: list[dict[str, Any]] = []
        self.environments: dict[str, dict[str, Any]] = {}
        self.deployments: list[dict[str, Any]] = []
        self.counter = 0

    def version(self, name: str, number: str, branch: str | None = None) -> _Version:
        versions = self.versions.setdefault(name, {})
        ver = versions.get(number)
        if ver is None:
            self.counter += 1
            ver = versions[number] = _Version(number, self.counter)
        if branch and branch not in ver.branches:
            ver.branches.append(branch)
        return ver

    def main_branch(self, name: str) -> str | None:
        for ver in sorted(self.versions.get(name, {}).values(), key=lambda v: v.order):
            for branch in ver.branches:
                if branch in MAIN_BRANCHES:
                    return branch
        return None

    def pacts_between(self, provider: str, consumer: str | None = None) -> list[_Pact]:
        return [p for p in self.pacts if p.provider == provider
                and (consumer is None or p.consumer == consumer)]

    def order_of(self, pact: _Pact) -> int:
        return self.versions[pact.consumer][pact.version].order

    def deployed(self, name: str, env_uuid: str | None = None) -> list[str]:
        return [d["version"] for d in self.deployments if d["pacticipant"] == name
                and d["currentlyDeployed"] and (env_uuid is None or d["environment"] == env_uuid)]

    def env_by_name(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.environments.values() if e["name"] == name), None)

    def verified(self, pact: _Pact, provider_version: str | None = None,
                 branch: str | None = None) -> bool | None:
        """True/False: the latest matching verification's result; None: never verified."""
        found = [v for v in self.verifications if v["sha"] == pact.sha
                 and v["provider"] == pact.provider
                 and (provider_version is None or v["providerVersion"] == provider_version)
                 and (branch is None or branch in self.version(
                     pact.provider, v["providerVersion"]).branches)]
        return found[-1]["success"] if found else None


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        self.server.log.append(f"{self.command} {self.path}")

    # -- plumbing ----------------------------------------------------------------------------
    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/hal+json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return None

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = parse_qs(url.query)
        body = self._body() if method in ("POST", "PUT") else {}
        if body is None:
            self._send(400, {"errors": {"body": ["is not valid JSON"]}})
            return
        for verb, pattern, fn in _ROUTES:
            match = re.fullmatch(pattern, path)
            if verb == method and match:
                with self.server.state.lock:
                    status, result = fn(self.server, *match.groups(), body=body, query=query)
                self._send(status, result)
                return
        self._send(404, {"error": f"no route for {method} {path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = _State()
        self.log: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def link(self, path: str, **kw: Any) -> dict[str, Any]:
        return {"href": self.base + path, **kw}


# -- routes ------------------------------------------------------------------------------------
def _index(srv: _Server, **_: Any) -> tuple[int, Any]:
    t = {"templated": True}
    return 200, {"_links": {
        "self": srv.link("/"),
        "pb:publish-contracts": srv.link("/contracts/publish"),
        "pb:provider-pacts-for-verification": srv.link(
            "/pacts/provider/{provider}/for-verification", **t),
        "pb:pacticipant": srv.link("/pacticipants/{pacticipant}", **t),
        "pb:pacticipant-version": srv.link("/pacticipants/{pacticipant}/versions/{version}", **t),
        "pb:pacticipant-branch-version": srv.link(
            "/pacticipants/{pacticipant}/branches/{branch}/versions/{version}", **t),
        "pb:pacticipant-version-tag": srv.link(
            "/pacticipants/{pacticipant}/versions/{version}/tags/{tag}", **t),
        "pb:latest-version": srv.link("/pacticipants/{pacticipant}/latest-version", **t),
        "pb:latest-tagged-version": srv.link("/pacticipants/{pacticipant}/latest-version/{tag}",
                                             **t),
        "pb:latest-pact-versions": srv.link("/pacts/latest"),
        "pb:pacticipants": srv.link("/pacticipants"),
        "pb:environments": srv.link("/environments"),
        "pb:environment": srv.link("/environments/{uuid}", **t),
        "pb:can-i-deploy-pacticipant-version-to-environment": srv.link(
            "/can-i-deploy?pacticipant={pacticipant}&version={version}"
            "&environment={environment}", **t),
    }}


def _publish(srv: _Server, body: Any, **_: Any) -> tuple[int, Any]:
    errors: dict[str, list[str]] = {}
    for key in ("pacticipantName", "pacticipantVersionNumber"):
        if not isinstance(body.get(key), str) or not body.get(key):
            errors[key] = ["is missing"]
    contracts = body.get("contracts")
    if not isinstance(contracts, list) or not contracts:
        errors["contracts"] = ["is missing"]
    decoded = []
    for i, c in enumerate(contracts or []):
        try:
            content = json.loads(base64.b64decode(c["content"]))
            decoded.append((c["consumerName"], c["providerName"], content))
        except (KeyError, TypeError, ValueError):
            errors[f"contracts[{i}].content"] = ["is not base64-encoded pact JSON"]
    if errors:
        return 400, {"errors": errors}
    st = srv.state
    name, number = body["pacticipantName"], body["pacticipantVersionNumber"]
    for consumer, provider, content in decoded:
        sha = _sha(content)
        old = next((p for p in st.pacts if (p.consumer, p.provider, p.version) ==
                    (consumer, provider, number)), None)
        if old is not None and old.sha != sha:
            return 409, {"errors": {"contracts": [
                f"Cannot change the content of the pact for {consumer} version {number} and "
                f"provider {provider}, as race conditions will cause unreliable results for "
                "can-i-deploy. Each pact must be published with a unique consumer version."]}}
    ver = st.version(name, number, body.get("branch"))
    for tag in body.get("tags") or []:
        if tag not in ver.tags:
            ver.tags.append(tag)
    notices, links = [], []
    for consumer, provider, content in decoded:
        sha = _sha(content)
        if not any((p.consumer, p.provider, p.version) == (consumer, provider, number)
                   for p in st.pacts):
            st.pacts.append(_Pact(consumer, provider, number, sha, content))
        notices.append({"type": "success", "text": f"Pact published for {consumer} version "
                        f"{number} and provider {provider}."})
        links.append(srv.link(_pact_path(provider, consumer, sha),
                              name=f"Pact between {consumer} ({number}) and {provider}"))
    return 200, {"notices": notices, "_embedded": {"pacticipant": {"name": name},
                                                   "version": {"number": number}},
                 "_links": {"pb:pacticipant-version": srv.link(
                     f"/pacticipants/{quote(name)}/versions/{quote(number)}"),
                            "pb:contracts": links}}


def _sha(content: Any) -> str:
    return hashlib.sha1(json.dumps(content, sort_keys=True).encode()).hexdigest()


def _pact_path(provider: str, consumer: str, sha: str) -> str:
    return f"/pacts/provider/{quote(provider)}/consumer/{quote(consumer)}/pact-version/{sha}"


def _for_verification_get(srv: _Server, provider: str, **_: Any) -> tuple[int, Any]:
    return 200, {"_links": {"self": srv.link(f"/pacts/provider/{quote(provider)}/"
                                             "for-verification", title="Pacts to be verified")}}


def _latest(pacts: list[_Pact], st: _State) -> _Pact | None:
    return max(pacts, key=st.order_of) if pacts else None


def _select(st: _State, provider: str, sel: dict[str, Any], branch: str | None) -> list[_Pact]:
    pacts = st.pacts_between(provider, sel.get("consumer"))
    consumers = sorted({p.consumer for p in pacts})
    out: list[_Pact] = []
    for consumer in consumers:
        mine = [p for p in pacts if p.consumer == consumer]

        def on(b: str | None, mine: list[_Pact] = mine, consumer: str = consumer) -> list[_Pact]:
            return [p for p in mine if b and b in st.versions[consumer][p.version].branches]

        if sel.get("mainBranch"):
            found = _latest(on(st.main_branch(consumer)), st)
            out += [found] if found else []
        elif sel.get("matchingBranch"):
            found = _latest(on(branch), st)
            out += [found] if found else []
        elif sel.get("branch"):
            found = _latest(on(sel["branch"]), st)
            out += [found] if found else []
        elif sel.get("deployedOrReleased") or sel.get("deployed") or sel.get("environment"):
            env = st.env_by_name(sel["environment"]) if sel.get("environment") else None
            if sel.get("environment") and env is None:
                continue
            deployed = st.deployed(consumer, env["uuid"] if env else None)
            out += [p for p in mine if p.version in deployed]
        elif sel.get("tag"):
            tagged = [p for p in mine if sel["tag"] in st.versions[consumer][p.version].tags]
            out += ([_latest(tagged, st)] if tagged and sel.get("latest") else tagged)
        elif sel.get("latest"):
            found = _latest(mine, st)
            out += [found] if found else []
    return out


def _for_verification(srv: _Server, provider: str, body: Any, **_: Any) -> tuple[int, Any]:
    st = srv.state
    branch = body.get("providerVersionBranch")
    selectors = body.get("consumerVersionSelectors") or [{"mainBranch": True}]
    if not isinstance(selectors, list):
        return 400, {"errors": {"consumerVersionSelectors": ["must be a list"]}}
    chosen: dict[str, tuple[_Pact, list[str]]] = {}
    for sel in selectors:
        for pact in _select(st, provider, sel, branch):
            why = chosen.setdefault(pact.sha, (pact, []))[1]
            why.append(json.dumps(sel, sort_keys=True))
    wip: list[_Pact] = []
    since = body.get("includeWipPactsSince")
    if since:
        for consumer in sorted({p.consumer for p in st.pacts_between(provider)}):
            for b in sorted({b for v in st.versions[consumer].values() for b in v.branches}):
                heads = [p for p in st.pacts_between(provider, consumer)
                         if b in st.versions[consumer][p.version].branches]
                head = _latest(heads, st)
                if (head and head.sha not in chosen and head.created_at[:10] >= since[:10]
                        and st.verified(head, branch=branch) is not True
                        and head not in wip):
                    wip.append(head)
    out = []
    for pact, why in chosen.values():
        pending = bool(body.get("includePendingStatus")) and st.verified(
            pact, branch=branch) is not True
        out.append(_pact_entry(srv, pact, pending, False, f"selected by {', '.join(why)}"))
    for pact in wip:
        out.append(_pact_entry(srv, pact, True, True, "a work in progress pact"))
    return 200, {"_embedded": {"pacts": out}, "_links": {"self": srv.link(
        f"/pacts/provider/{quote(provider)}/for-verification")}}


def _pact_entry(srv: _Server, pact: _Pact, pending: bool, wip: bool, why: str) -> dict[str, Any]:
    url = srv.base + _pact_path(pact.provider, pact.consumer, pact.sha)
    notices = [{"when": "before_verification",
                "text": f"The pact at {url} is being verified because it is {why}"}]
    if pending:
        notices.append({"when": "before_verification", "text": "This pact is in pending state "
                        "for this version of the provider: a failure will not fail the build"})
    props: dict[str, Any] = {"pending": pending, "notices": notices}
    if wip:
        props["wip"] = True
    return {"shortDescription": f"latest pact of {pact.consumer} {pact.version}",
            "verificationProperties": props,
            "_links": {"self": srv.link(_pact_path(pact.provider, pact.consumer, pact.sha),
                                        name=f"Pact between {pact.consumer} ({pact.version}) "
                                             f"and {pact.provider}")}}


def _find_pact(st: _State, provider: str, consumer: str, sha: str) -> _Pact | None:
    return next((p for p in st.pacts if (p.provider, p.consumer, p.sha) ==
                 (provider, consumer, sha)), None)


def _get_pact(srv: _Server, provider: str, consumer: str, sha: str, **_: Any) -> tuple[int, Any]:
    pact = _find_pact(srv.state, provider, consumer, sha)
    if pact is None:
        return 404, {"error": "no such pact"}
    path = _pact_path(provider, consumer, sha)
    return 200, {**pact.content, "_links": {
        "self": srv.link(path),
        "pb:publish-verification-results": srv.link(path + "/verification-results",
                                                    title="Publish verification results"),
        "pb:provider": srv.link(f"/pacticipants/{quote(provider)}", name=provider),
        "pb:consumer": srv.link(f"/pacticipants/{quote(consumer)}", name=consumer)}}


def _get_pact_by_version(srv: _Server, provider: str, consumer: str, version: str,
                         **_: Any) -> tuple[int, Any]:
    pact = next((p for p in srv.state.pacts if (p.provider, p.consumer, p.version) ==
                 (provider, consumer, version)), None)
    if pact is None:
        return 404, {"error": "no such pact"}
    return _get_pact(srv, provider, consumer, pact.sha)


def _post_results(srv: _Server, provider: str, consumer: str, sha: str, body: Any,
                  **_: Any) -> tuple[int, Any]:
    st = srv.state
    pact = _find_pact(st, provider, consumer, sha)
    if pact is None:
        return 404, {"error": "no such pact"}
    version = body.get("providerApplicationVersion")
    if not isinstance(version, str) or not isinstance(body.get("success"), bool):
        return 400, {"errors": {"providerApplicationVersion": ["and success are required"]}}
    st.version(provider, version)
    result = {"sha": sha, "provider": provider, "consumer": consumer,
              "providerVersion": version, "success": body["success"],
              "testResults": body.get("testResults"), "verifiedAt": _now(),
              "verifiedBy": body.get("verifiedBy")}
    st.verifications.append(result)
    return 201, {**{k: v for k, v in result.items() if k != "sha"},
                 "_links": {"self": srv.link(_pact_path(provider, consumer, sha) +
                                             f"/verification-results/{len(st.verifications)}")}}


def _put_branch_version(srv: _Server, name: str, branch: str, number: str,
                        **_: Any) -> tuple[int, Any]:
    ver = srv.state.version(name, number, branch)
    return 200, {"number": ver.number, "branches": ver.branches, "_links": {"self": srv.link(
        f"/pacticipants/{quote(name)}/versions/{quote(number)}")}}


def _put_tag(srv: _Server, name: str, number: str, tag: str, **_: Any) -> tuple[int, Any]:
    ver = srv.state.version(name, number)
    if tag not in ver.tags:
        ver.tags.append(tag)
    return 201, {"name": tag}


def _get_version(srv: _Server, name: str, number: str, **_: Any) -> tuple[int, Any]:
    ver = srv.state.versions.get(name, {}).get(number)
    if ver is None:
        return 404, {"error": f"no version {number} of {name}"}
    return 200, {"number": number, "branches": ver.branches, "tags": ver.tags, "_links": {
        "self": srv.link(f"/pacticipants/{quote(name)}/versions/{quote(number)}"),
        "pb:record-deployment": [srv.link(
            f"/pacticipants/{quote(name)}/versions/{quote(number)}/deployed-versions/"
            f"environment/{e['uuid']}", name=e["name"]) for e in srv.state.environments.values()]}}


def _version_resource(srv: _Server, name: str, ver: _Version) -> dict[str, Any]:
    base = f"/pacticipants/{quote(name)}/versions/{quote(ver.number)}"
    return {"number": ver.number, "createdAt": ver.created_at,
            "_embedded": {
                "branchVersions": [{"name": b, "latest": True} for b in ver.branches],
                "tags": [{"name": t, "latest": True} for t in ver.tags]},
            "_links": {"self": srv.link(base, title="Version", name=ver.number),
                       "pb:pacticipant": srv.link(f"/pacticipants/{quote(name)}", name=name)}}


def _latest_version(srv: _Server, name: str, tag: str | None = None,
                    **_: Any) -> tuple[int, Any]:
    versions = [v for v in srv.state.versions.get(name, {}).values()
                if tag is None or tag in v.tags]
    if not versions:
        return 404, {"error": f"no version of {name}" + (f" tagged {tag}" if tag else "")}
    return 200, _version_resource(srv, name, max(versions, key=lambda v: v.order))


def _latest_pacts(srv: _Server, **_: Any) -> tuple[int, Any]:
    st = srv.state
    latest: dict[tuple[str, str], _Pact] = {}
    for pact in st.pacts:
        key = (pact.consumer, pact.provider)
        if key not in latest or st.order_of(pact) >= st.order_of(latest[key]):
            latest[key] = pact
    pacts = [{"createdAt": p.created_at,
              "_embedded": {"consumer": {"name": p.consumer,
                                         "_embedded": {"version": {"number": p.version}}},
                            "provider": {"name": p.provider}},
              "_links": {"self": srv.link(_pact_path(p.provider, p.consumer, p.sha))}}
             for _, p in sorted(latest.items())]
    return 200, {"pacts": pacts, "_links": {"self": srv.link("/pacts/latest")}}


def _pacticipants(srv: _Server, **_: Any) -> tuple[int, Any]:
    st = srv.state
    names = sorted(set(st.versions) | {n for p in st.pacts for n in (p.consumer, p.provider)})
    return 200, {"_embedded": {"pacticipants": [
        {"name": n, "displayName": n, "mainBranch": st.main_branch(n),
         "_links": {"self": srv.link(f"/pacticipants/{quote(n)}")}} for n in names]},
        "_links": {"self": srv.link("/pacticipants")}}


def _get_pacticipant(srv: _Server, name: str, **_: Any) -> tuple[int, Any]:
    st = srv.state
    if name not in st.versions and not any(name in (p.consumer, p.provider) for p in st.pacts):
        return 404, {"error": f"no pacticipant {name}"}
    base = f"/pacticipants/{quote(name)}"
    t = {"templated": True}
    return 200, {"name": name, "mainBranch": st.main_branch(name), "_links": {
        "self": srv.link(base),
        "pb:version": srv.link(base + "/versions/{version}", **t),
        "pb:version-tag": srv.link(base + "/versions/{version}/tags/{tag}", **t),
        "pb:branch-version": srv.link(base + "/branches/{branch}/versions/{version}", **t)}}


def _environments(srv: _Server, **_: Any) -> tuple[int, Any]:
    return 200, {"_embedded": {"environments": list(srv.state.environments.values())},
                 "_links": {"self": srv.link("/environments")}}


def _create_environment(srv: _Server, body: Any, **_: Any) -> tuple[int, Any]:
    name = body.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        return 400, {"errors": {"name": ["is missing or has characters other than letters, "
                                         "digits, _ . -"]}}
    if srv.state.env_by_name(name):
        return 409, {"errors": {"name": [f"Another environment with name '{name}' already "
                                         "exists."]}}
    env = {"uuid": str(uuid.uuid4()), "name": name,
           "displayName": body.get("displayName") or name,
           "production": bool(body.get("production")), "createdAt": _now()}
    env["_links"] = {"self": srv.link(f"/environments/{env['uuid']}")}
    srv.state.environments[env["uuid"]] = env
    return 201, env


def _record_deployment(srv: _Server, name: str, number: str, env_uuid: str, body: Any,
                       **_: Any) -> tuple[int, Any]:
    st = srv.state
    env = st.environments.get(env_uuid)
    if env is None or number not in st.versions.get(name, {}):
        return 404, {"error": "no such environment or pacticipant version"}
    for d in st.deployments:
        if d["pacticipant"] == name and d["environment"] == env_uuid and \
                d.get("applicationInstance") == body.get("applicationInstance"):
            d["currentlyDeployed"] = False
    record = {"uuid": str(uuid.uuid4()), "pacticipant": name, "version": number,
              "environment": env_uuid, "currentlyDeployed": True, "createdAt": _now(),
              "applicationInstance": body.get("applicationInstance")}
    st.deployments.append(record)
    return 201, {**record, "_links": {"self": srv.link(f"/deployed-versions/{record['uuid']}")}}


def _can_i_deploy(srv: _Server, query: dict[str, list[str]], **_: Any) -> tuple[int, Any]:
    name = (query.get("pacticipant") or query.get("q[][pacticipant]") or [""])[0]
    number = (query.get("version") or query.get("q[][version]") or [""])[0]
    env_name = (query.get("environment") or [""])[0]
    st = srv.state
    env = st.env_by_name(env_name)
    if not name or not number or env is None:
        known = ", ".join(e["name"] for e in st.environments.values()) or "none"
        return 400, {"errors": {"environment": [f"environment {env_name!r} not found "
                                                f"(known: {known})"]}}
    rows, notices = [], []
    counts = {"success": 0, "failed": 0, "unknown": 0}

    def row(pact: _Pact | None, consumer: str, cver: str | None, provider: str,
            pver: str | None) -> None:
        ok = st.verified(pact, provider_version=pver) if pact and pver else None
        key = "success" if ok else "failed" if ok is False else "unknown"
        counts[key] += 1
        text = (f"The verification for the pact between {consumer} ({cver}) and {provider} "
                f"({pver}) {'passed' if ok else 'failed' if ok is False else 'is missing'}"
                if pver else f"There is no verified pact between {consumer} ({cver}) and a "
                f"version of {provider} currently in {env_name} (no such version exists)")
        notices.append({"type": {"success": "success", "failed": "error"}.get(key, "warning"),
                        "text": text})
        rows.append({"consumer": {"name": consumer, "version": {"number": cver}},
                     "provider": {"name": provider, "version": {"number": pver} if pver else
                                  None},
                     "pact": {"createdAt": pact.created_at} if pact else None,
                     "verificationResult": None if ok is None else {"success": ok}})

    for pact in [p for p in st.pacts if p.consumer == name and p.version == number]:
        deployed = st.deployed(pact.provider, env["uuid"])
        for pver in deployed or [None]:
            row(pact, name, number, pact.provider, pver)
    for consumer in sorted({p.consumer for p in st.pacts_between(name)}):
        for cver in st.deployed(consumer, env["uuid"]):
            pact = next((p for p in st.pacts_between(name, consumer) if p.version == cver), None)
            if pact is not None:
                row(pact, consumer, cver, name, number)
    deployable = counts["failed"] == 0 and counts["unknown"] == 0
    reason = ("All required verification results are published and successful" if deployable
              else "One or more of the required verification results failed or are missing"
              if rows else "")
    return 200, {"summary": {"deployable": deployable, "reason": reason, **counts},
                 "notices": notices, "matrix": rows,
                 "_links": {"self": srv.link(f"/can-i-deploy?pacticipant={quote(name)}"
                                             f"&version={quote(number)}&environment={env_name}")}}


_P = r"/pacts/provider/([^/]+)/consumer/([^/]+)"
_ROUTES: list[tuple[str, str, Any]] = [
    ("GET", r"/", _index),
    ("POST", r"/contracts/publish", _publish),
    ("GET", r"/pacts/provider/([^/]+)/for-verification", _for_verification_get),
    ("POST", r"/pacts/provider/([^/]+)/for-verification", _for_verification),
    ("GET", _P + r"/pact-version/([0-9a-f]+)", _get_pact),
    ("GET", _P + r"/version/([^/]+)", _get_pact_by_version),
    ("POST", _P + r"/pact-version/([0-9a-f]+)/verification-results", _post_results),
    ("PUT", r"/pacticipants/([^/]+)/branches/([^/]+)/versions/([^/]+)", _put_branch_version),
    ("PUT", r"/pacticipants/([^/]+)/versions/([^/]+)/tags/([^/]+)", _put_tag),
    ("GET", r"/pacticipants/([^/]+)/versions/([^/]+)", _get_version),
    ("GET", r"/pacticipants/([^/]+)/latest-version", _latest_version),
    ("GET", r"/pacticipants/([^/]+)/latest-version/([^/]+)", _latest_version),
    ("GET", r"/pacts/latest", _latest_pacts),
    ("GET", r"/pacticipants", _pacticipants),
    ("GET", r"/pacticipants/([^/]+)", _get_pacticipant),
    ("GET", r"/environments", _environments),
    ("POST", r"/environments", _create_environment),
    ("POST", r"/pacticipants/([^/]+)/versions/([^/]+)/deployed-versions/environment/([^/]+)",
     _record_deployment),
    ("GET", r"/can-i-deploy", _can_i_deploy),
    ("GET", r"/matrix", _can_i_deploy),
]


class BrokerStub:
    """The stub broker on 127.0.0.1 (a free port), served from a background thread.

    Attributes:
        url: its base URL (after :meth:`start`).
        log: ``"METHOD /path"`` of every request served.
    """

    def __init__(self) -> None:
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        return self._server.base

    @property
    def log(self) -> list[str]:
        return self._server.log if self._server else []

    def start(self) -> BrokerStub:
        self._server = _Server()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="pact-broker-stub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> BrokerStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
