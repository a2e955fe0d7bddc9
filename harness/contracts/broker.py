"""A small client of the Pact Broker's HAL API (httpx): publish, fetch, deploy, can-i-deploy.

It starts at the index (``GET /``) and follows its ``pb:`` relations, expanding templated links,
so it works against the real broker and :mod:`harness.contracts.broker_stub` alike. Transport
failures become :class:`~harness.errors.ServiceUnavailable` naming the URL; a 4xx answer becomes
:class:`~harness.errors.InputError` with the broker's own error text.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any
from urllib.parse import quote

import httpx

from harness.errors import InputError, ServiceUnavailable

__all__ = ["BrokerClient"]

_HAL = {"Accept": "application/hal+json, application/json",
        "Content-Type": "application/json"}


class BrokerClient:
    """Talk to one Pact Broker.

    Args:
        url: base URL.
        token: bearer token; or username/password for basic auth.
        timeout: seconds per request.
        transport: an httpx transport (tests).
    """

    def __init__(self, url: str, *, token: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = url.rstrip("/")
        headers = dict(_HAL)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        auth = (username, password or "") if username else None
        self.http = httpx.Client(headers=headers, auth=auth, timeout=timeout,
                                 transport=transport, follow_redirects=True)
        self._index: dict[str, Any] | None = None

    @classmethod
    def from_env(cls, url: str | None = None) -> BrokerClient:
        """A client configured from ``PACT_BROKER_BASE_URL``/``_TOKEN``/``_USERNAME``/
        ``_PASSWORD``."""
        url = url or os.environ.get("PACT_BROKER_BASE_URL")
        if not url:
            raise InputError("no broker URL (give --broker or set PACT_BROKER_BASE_URL)")
        return cls(url, token=os.environ.get("PACT_BROKER_TOKEN"),
                   username=os.environ.get("PACT_BROKER_USERNAME"),
                   password=os.environ.get("PACT_BROKER_PASSWORD"))

    # -- HTTP ---------------------------------------------------------------------------------
    def request(self, method: str, url: str, body: Any = None,
                ok: tuple[int, ...] = (200, 201)) -> Any:
        """One request; returns the decoded JSON body.

        Raises:
            ServiceUnavailable: the broker cannot be reached, or answers 5xx.
            InputError: the broker refused the request (4xx), with its errors.
        """
        try:
            resp = self.http.request(method, url, content=None if body is None else
                                     json.dumps(body).encode("utf-8"))
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(f"Pact Broker at {self.url} is unreachable "
                                     f"({type(exc).__name__}: {exc})") from exc
        if resp.status_code >= 500:
            raise ServiceUnavailable(f"Pact Broker at {self.url} answered {resp.status_code} "
                                     f"to {method} {url}")
        try:
            data = resp.json() if resp.content else {}
        except ValueError:
            data = {"error": resp.text[:200]}
        if resp.status_code not in ok:
            errors = data.get("errors") or data.get("error") or data
            raise InputError(f"the broker refused {method} {url} ({resp.status_code}): "
                             f"{json.dumps(errors)[:400]}", where=self.url)
        return data

    def index(self) -> dict[str, Any]:
        """The broker's index (cached)."""
        if self._index is None:
            self._index = self.request("GET", self.url + "/")
        return self._index

    def link(self, rel: str, **params: str) -> str:
        """The href of an index relation, with ``{param}`` templates expanded."""
        links = self.index().get("_links", {})
        node = links.get(rel)
        if not isinstance(node, dict) or "href" not in node:
            raise ServiceUnavailable(f"Pact Broker at {self.url} has no {rel} link")
        href = node["href"]
        for key, value in params.items():
            href = href.replace("{" + key + "}", quote(str(value), safe=""))
        return href

    # -- operations ---------------------------------------------------------------------------
    def publish(self, consumer: str, version: str, pacts: list[dict[str, Any]], *,
                branch: str | None = None, tags: list[str] | None = None,
                build_url: str | None = None) -> dict[str, Any]:
        """Publish one consumer version's pacts (``POST pb:publish-contracts``).

        Returns:
            the broker's answer (``notices``, ``_links``).
        """
        body: dict[str, Any] = {
            "pacticipantName": consumer, "pacticipantVersionNumber": version,
            "tags": list(tags or []),
            "contracts": [{"consumerName": p["consumer"]["name"],
                           "providerName": p["provider"]["name"], "specification": "pact",
                           "contentType": "application/json",
                           "content": base64.b64encode(json.dumps(p).encode()).decode()}
                          for p in pacts]}
        if branch:
            body["branch"] = branch
        if build_url:
            body["buildUrl"] = build_url
        return self.request("POST", self.link("pb:publish-contracts"), body)

    def pacts_for_verification(self, provider: str, *, selectors: list[dict[str, Any]],
                               provider_branch: str | None = None, include_pending: bool = True,
                               wip_since: str | None = None) -> list[dict[str, Any]]:
        """The pacts a provider must verify, each with its document.

        Returns:
            ``[{url, name, pending, wip, notices: [text], pact: {...}}]``.
        """
        href = self.link("pb:provider-pacts-for-verification", provider=provider)
        body: dict[str, Any] = {"consumerVersionSelectors": selectors,
                                "includePendingStatus": include_pending}
        if provider_branch:
            body["providerVersionBranch"] = provider_branch
        if wip_since:
            body["includeWipPactsSince"] = wip_since
        answer = self.request("POST", href, body)
        out = []
        for entry in (answer.get("_embedded") or {}).get("pacts") or []:
            props = entry.get("verificationProperties") or {}
            self_link = (entry.get("_links") or {}).get("self") or {}
            doc = self.request("GET", self_link["href"])
            out.append({"url": self_link["href"], "name": self_link.get("name", ""),
                        "pending": bool(props.get("pending")), "wip": bool(props.get("wip")),
                        "notices": [n.get("text", "") for n in props.get("notices") or []],
                        "pact": {k: v for k, v in doc.items() if k != "_links"}})
        return out

    def environments(self) -> list[dict[str, Any]]:
        data = self.request("GET", self.link("pb:environments"))
        return list((data.get("_embedded") or {}).get("environments") or [])

    def create_environment(self, name: str, *, production: bool = False,
                           display_name: str | None = None) -> dict[str, Any]:
        return self.request("POST", self.link("pb:environments"),
                            {"name": name, "displayName": display_name or name,
                             "production": production})

    def environment(self, name: str) -> dict[str, Any]:
        """The environment called ``name``.

        Raises:
            InputError: no such environment (listing the known ones).
        """
        envs = self.environments()
        for env in envs:
            if env.get("name") == name:
                return env
        known = ", ".join(e.get("name", "?") for e in envs) or "none"
        raise InputError(f"no environment {name!r} in the broker (known: {known})",
                         where=self.url)

    def record_deployment(self, pacticipant: str, version: str, environment: str,
                          *, application_instance: str | None = None) -> dict[str, Any]:
        """Record that ``pacticipant`` ``version`` is deployed to ``environment``."""
        env = self.environment(environment)
        href = self.link("pb:pacticipant-version", pacticipant=pacticipant, version=version)
        data = self.request("GET", href)
        links = (data.get("_links") or {}).get("pb:record-deployment") or []
        target = next((ln["href"] for ln in links if ln.get("name") == environment), None)
        if target is None:
            target = f"{href}/deployed-versions/environment/{env['uuid']}"
        body = {"applicationInstance": application_instance} if application_instance else {}
        return self.request("POST", target, body)

    def can_i_deploy(self, pacticipant: str, version: str, environment: str) -> dict[str, Any]:
        """The broker's answer: ``{summary: {deployable, reason, success, failed, unknown},
        matrix: [...], notices: [...]}`` plus ``reasons`` (the notices' texts)."""
        try:
            href = self.link("pb:can-i-deploy-pacticipant-version-to-environment",
                             pacticipant=pacticipant, version=version, environment=environment)
        except ServiceUnavailable:
            href = (f"{self.url}/can-i-deploy?pacticipant={quote(pacticipant)}"
                    f"&version={quote(version)}&environment={quote(environment)}")
        data = self.request("GET", href)
        data["reasons"] = [n.get("text", "") for n in data.get("notices") or []]
        return data

    def close(self) -> None:
        self.http.close()
