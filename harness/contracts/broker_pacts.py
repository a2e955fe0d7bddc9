"""The pacts a provider must verify, read from a Pact Broker before the verifier runs.

pact-python's verifier fetches the same pacts itself; the harness reads them first to learn
which message type each interaction expects (the verifier's message handler is not told) and to
fail fast, naming the URL, when the broker cannot be reached. Everything else the harness asks
a broker goes through the Pact Foundation's client (:mod:`harness.contracts.pact_cli`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from harness.contracts.pactfiles import PactFile
from harness.errors import InputError, ServiceUnavailable

__all__ = ["fetch_pacts_for_verification"]


def _get(http: httpx.Client, method: str, url: str, base: str, body: Any = None) -> Any:
    try:
        resp = http.request(method, url, content=None if body is None else json.dumps(body))
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(f"Pact Broker at {base} is unreachable "
                                 f"({type(exc).__name__}: {exc})") from exc
    if resp.status_code >= 500:
        raise ServiceUnavailable(f"Pact Broker at {base} answered {resp.status_code} to "
                                 f"{method} {url}")
    if resp.status_code >= 400:
        raise InputError(f"the broker refused {method} {url} ({resp.status_code}): "
                         f"{resp.text[:300]}", where=base)
    try:
        return resp.json()
    except ValueError as exc:
        raise ServiceUnavailable(f"Pact Broker at {base} answered non-JSON to {url}") from exc


def fetch_pacts_for_verification(
        url: str, provider: str, *, selectors: list[dict[str, Any]],
        provider_branch: str | None = None, include_pending: bool = True,
        wip_since: str | None = None, token: str | None = None, username: str | None = None,
        password: str | None = None, timeout: float = 10.0) -> tuple[list[PactFile], list[str]]:
    """The provider's pacts under the selectors, and the broker's notices about them.

    Raises:
        ServiceUnavailable: the broker cannot be reached.
        InputError: the broker refused the request.
    """
    base = url.rstrip("/")
    headers = {"Accept": "application/hal+json, application/json",
               "Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    auth = (username, password or "") if username else None
    with httpx.Client(headers=headers, auth=auth, timeout=timeout,
                      follow_redirects=True) as http:
        index = _get(http, "GET", base + "/", base)
        link = ((index.get("_links") or {}).get("pb:provider-pacts-for-verification") or {})
        if "href" not in link:
            raise ServiceUnavailable(f"Pact Broker at {base} has no "
                                     "pb:provider-pacts-for-verification link")
        href = str(link["href"]).replace("{provider}", quote(provider, safe=""))
        body: dict[str, Any] = {"consumerVersionSelectors": selectors,
                                "includePendingStatus": include_pending}
        if provider_branch:
            body["providerVersionBranch"] = provider_branch
        if wip_since:
            body["includeWipPactsSince"] = wip_since
        answer = _get(http, "POST", href, base, body)
        files: list[PactFile] = []
        notices: list[str] = []
        for entry in (answer.get("_embedded") or {}).get("pacts") or []:
            props = entry.get("verificationProperties") or {}
            notices += [str(n.get("text", "")) for n in props.get("notices") or []]
            self_href = ((entry.get("_links") or {}).get("self") or {}).get("href")
            if not self_href:
                continue
            doc = _get(http, "GET", self_href, base)
            pact = {k: v for k, v in doc.items() if k != "_links"}
            files.append(PactFile(Path(self_href), str(pact["consumer"]["name"]), provider,
                                  list(pact.get("interactions") or []), pact))
    return files, notices
