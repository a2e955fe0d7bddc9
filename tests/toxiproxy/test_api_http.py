"""HTTP-level conformance with Toxiproxy 2.12: status codes, error bodies, shapes, bad input."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx
import pytest


@pytest.fixture(scope="module")
def http(toxiproxy_url):
    with httpx.Client(base_url=toxiproxy_url, timeout=10) as client:
        yield client


def _proxy(http, name, upstream, **extra):
    resp = http.post("/proxies", json={"name": name, "upstream": upstream,
                                       "listen": "127.0.0.1:0", **extra})
    assert resp.status_code == 201, resp.text
    return resp.json()


def _error(resp, status, message=None, prefix=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == status
    if message is not None:
        assert body["error"] == message
    if prefix is not None:
        assert body["error"].startswith(prefix), body["error"]


def test_unknown_path_and_method(http):
    resp = http.get("/nope")
    assert resp.status_code == 404 and resp.text == "404 page not found\n"
    resp = http.put("/proxies")
    assert resp.status_code == 405 and resp.content == b""
    assert http.get("/proxies/").status_code == 404


def test_browser_guard_and_request_id(http):
    resp = http.get("/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert resp.status_code == 403 and resp.text.strip() == "User agent not allowed"
    ok = http.get("/proxies")
    assert ok.status_code == 200 and isinstance(ok.json(), dict)
    assert ok.headers["X-Toxiproxy-Request-Id"]
    assert ok.headers["content-type"].startswith("application/json")


def test_version_shape(http):
    resp = http.get("/version")
    assert resp.status_code == 200
    assert set(resp.json()) == {"version"}


@pytest.mark.parametrize(("body", "message", "prefix"), [
    (b"", "bad request body: EOF", None),
    (b"{", None, "bad request body: "),
    (b"{nope}", None, "bad request body: "),
    (b"[1, 2]", None, "bad request body: "),
    (b'{"name": 5, "upstream": "127.0.0.1:1"}', None, "bad request body: "),
    (b'{"name": "x", "upstream": "127.0.0.1:1", "enabled": "yes"}', None, "bad request body: "),
    (b'{"upstream": "127.0.0.1:1"}', "missing required field: name", None),
    (b'{"name": "x"}', "missing required field: upstream", None),
])
def test_create_bad_body(http, body, message, prefix):
    resp = http.post("/proxies", content=body)
    _error(resp, 400, message, prefix)


def test_create_case_insensitive_keys_and_unknown_keys(http, new_name, echo_upstream):
    name = new_name()
    resp = http.post("/proxies", json={"NAME": name, "Upstream": echo_upstream,
                                       "listen": "127.0.0.1:0", "whatever": [1]})
    assert resp.status_code == 201
    assert resp.json()["name"] == name and resp.json()["toxics"] == []
    _error(http.post("/proxies", json={"name": name, "upstream": echo_upstream}), 409,
           "proxy already exists")


def test_occupied_port_is_500_and_not_added(http, new_name, echo_upstream):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    name = new_name()
    try:
        resp = http.post("/proxies", json={"name": name, "upstream": echo_upstream,
                                           "listen": f"127.0.0.1:{port}"})
        _error(resp, 500)
        assert "address already in use" in resp.json()["error"]
        _error(http.get(f"/proxies/{name}"), 404, "proxy not found")
    finally:
        holder.close()
    assert http.get("/version").status_code == 200


def test_not_found_errors(http, new_name, echo_upstream):
    _error(http.get("/proxies/missing-proxy"), 404, "proxy not found")
    _error(http.delete("/proxies/missing-proxy"), 404, "proxy not found")
    _error(http.post("/proxies/missing-proxy/toxics", content=b"{"), 404, "proxy not found")
    name = new_name()
    _proxy(http, name, echo_upstream)
    _error(http.get(f"/proxies/{name}/toxics/none"), 404, "toxic not found")
    _error(http.post(f"/proxies/{name}/toxics/none", content=b"{"), 404, "toxic not found")
    _error(http.delete(f"/proxies/{name}/toxics/none"), 404, "toxic not found")


def test_toxic_create_rules(http, new_name, echo_upstream):
    name = new_name()
    _proxy(http, name, echo_upstream)
    url = f"/proxies/{name}/toxics"
    _error(http.post(url, content=b""), 400, "bad request body: EOF")
    _error(http.post(url, json={"type": "latency", "stream": "both"}), 400,
           "stream was invalid, can be either upstream or downstream")
    _error(http.post(url, json={"type": "latency", "stream": ""}), 400,
           "stream was invalid, can be either upstream or downstream")
    _error(http.post(url, json={"type": "nope"}), 400, "invalid toxic type")
    _error(http.post(url, json={}), 400, "invalid toxic type")
    for bad in ("1.5", "100.0", '"100"', "1e3", "true"):
        body = b'{"type": "latency", "attributes": {"latency": ' + bad.encode() + b"}}"
        _error(http.post(url, content=body), 400, prefix="bad request body: ")
    _error(http.post(url, json={"type": "latency", "toxicity": "high"}), 400,
           prefix="bad request body: ")
    resp = http.post(url, json={"type": "latency", "stream": "UpStream", "toxicity": 2.5})
    assert resp.status_code == 200
    assert resp.json() == {"attributes": {"latency": 0, "jitter": 0}, "name": "latency_UpStream",
                           "type": "latency", "stream": "UpStream", "toxicity": 2.5}
    _error(http.post(url, json={"type": "slicer", "name": "latency_UpStream"}), 409,
           "toxic already exists")
    resp = http.post(url, json={"type": "noop", "attributes": {"Latency": 3, "x": 1}})
    assert resp.status_code == 200 and resp.json()["attributes"] == {}


def test_every_toxic_type_has_all_attributes(http, new_name, echo_upstream):
    name = new_name()
    _proxy(http, name, echo_upstream)
    expected = {
        "latency": {"latency": 0, "jitter": 0}, "bandwidth": {"rate": 0},
        "slow_close": {"delay": 0}, "timeout": {"timeout": 0}, "reset_peer": {"timeout": 0},
        "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},
        "limit_data": {"bytes": 0},
    }
    for kind, attrs in expected.items():
        resp = http.post(f"/proxies/{name}/toxics", json={"type": kind, "stream": "upstream",
                                                          "toxicity": 0})
        assert resp.status_code == 200, resp.text
        assert resp.json()["attributes"] == attrs


def test_toxic_list_order_update_delete(http, new_name, echo_upstream):
    name = new_name()
    _proxy(http, name, echo_upstream)
    base = f"/proxies/{name}/toxics"
    http.post(base, json={"name": "d1", "type": "latency"})
    http.post(base, json={"name": "u1", "type": "latency", "stream": "upstream"})
    http.post(base, json={"name": "d2", "type": "slow_close"})
    http.post(base, json={"name": "u2", "type": "timeout", "stream": "upstream"})
    assert [t["name"] for t in http.get(base).json()] == ["u1", "u2", "d1", "d2"]
    assert [t["name"] for t in http.get(f"/proxies/{name}").json()["toxics"]] == [
        "u1", "u2", "d1", "d2"]
    resp = http.patch(f"{base}/d1", json={"attributes": {"jitter": 5}, "toxicity": 0.25})
    assert resp.status_code == 200
    assert resp.json()["attributes"] == {"latency": 0, "jitter": 5}
    assert resp.json()["toxicity"] == 0.25
    resp = http.post(f"{base}/d1", json={"attributes": {"latency": 7}})
    assert resp.json()["attributes"] == {"latency": 7, "jitter": 5}
    assert resp.json()["toxicity"] == 0.25
    _error(http.post(f"{base}/d1", json={"attributes": {"latency": "x"}}), 400,
           prefix="bad request body: ")
    _error(http.post(f"{base}/d1", content=b"{"), 400, prefix="bad request body: ")
    resp = http.delete(f"{base}/d1")
    assert resp.status_code == 204 and resp.content == b""
    assert [t["name"] for t in http.get(base).json()] == ["u1", "u2", "d2"]


def test_proxy_update(http, new_name, echo_upstream):
    name = new_name()
    first = _proxy(http, name, echo_upstream)
    same = http.post(f"/proxies/{name}", json={})
    assert same.status_code == 200 and same.json()["listen"] == first["listen"]
    moved = http.patch(f"/proxies/{name}", json={"listen": "127.0.0.1:0"})
    assert moved.status_code == 200 and moved.json()["enabled"] is True
    assert moved.json()["listen"] != first["listen"]
    _error(http.patch(f"/proxies/{name}", json={"enabled": 1}), 400, prefix="bad request body: ")
    off = http.patch(f"/proxies/{name}", json={"enabled": False})
    assert off.json()["enabled"] is False and off.json()["listen"] == moved.json()["listen"]


def test_populate_rules(http, new_name, echo_upstream):
    empty = http.post("/populate", json=[])
    assert empty.status_code == 201 and empty.json() == {"proxies": None}
    _error(http.post("/populate", json={"name": "x"}), 400, prefix="bad request body: ")
    a, b = new_name(), new_name()
    _error(http.post("/populate", json=[{"name": a, "upstream": echo_upstream},
                                        {"upstream": echo_upstream}]), 400,
           "missing required field: name at proxy 2")
    _error(http.post("/populate", json=[{"name": a}]), 400,
           "missing required field: upstream at proxy 1")
    assert http.get(f"/proxies/{a}").status_code == 404  # validated before anything is made
    cfg = [{"name": a, "upstream": echo_upstream, "listen": "127.0.0.1:0"}]
    made = http.post("/populate", json=cfg)
    assert made.status_code == 201
    listen = made.json()["proxies"][0]["listen"]
    http.post(f"/proxies/{a}/toxics", json={"type": "latency"})
    again = http.post("/populate", json=[{"name": a, "upstream": echo_upstream, "listen": listen,
                                          "toxics": [{"type": "timeout"}]}])
    assert again.status_code == 201
    assert [t["type"] for t in again.json()["proxies"][0]["toxics"]] == ["latency"]
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    try:
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        part = http.post("/populate", json=[
            {"name": b, "upstream": echo_upstream, "listen": "127.0.0.1:0"},
            {"name": new_name(), "upstream": echo_upstream, "listen": taken}])
    finally:
        holder.close()
    assert part.status_code == 500
    assert [p["name"] for p in part.json()["proxies"]] == [b]
    assert part.json()["status"] == 500 and part.json()["error"]


def test_reset_is_204(http):
    resp = http.post("/reset")
    assert resp.status_code == 204 and resp.content == b""


def test_huge_body_then_still_serving(http):
    resp = http.post("/proxies", content=b"x" * (20 * 1024 * 1024))
    assert resp.status_code in (400, 413)
    assert resp.json()["status"] == resp.status_code
    assert http.get("/version").status_code == 200


def _raw(url, data: bytes) -> bytes:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(data)
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def test_keep_alive_and_malformed_request_line(toxiproxy_url, http):
    two = (b"GET /version HTTP/1.1\r\nHost: x\r\n\r\n"
           b"GET /version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    out = _raw(toxiproxy_url, two)
    assert out.count(b"HTTP/1.1 200 OK") == 2
    out = _raw(toxiproxy_url, b"THIS IS NOT HTTP\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400")
    assert http.get("/version").status_code == 200


#: above 65535: no machine can listen on it, so the refusal is the same everywhere
_NO_SUCH_PORT = 65535 + 34464

# Exact texts observed from Toxiproxy 2.12.0 (built from source) for the same requests.
_GO_TEXTS = [
    ("/proxies", b'{"name":"b",}',
     "bad request body: invalid character '}' looking for beginning of object key string"),
    ("/proxies", b'{"name":5}',
     "bad request body: json: cannot unmarshal number into Go struct field Proxy.name of type "
     "string"),
    ("/proxies", b'{"name":"b","upstream":"x","listen":"127.0.0.1:%d"}' % _NO_SUCH_PORT,
     f"listen tcp: address {_NO_SUCH_PORT}: invalid port"),
    ("/proxies", b'{"name":"b","upstream":"x","listen":"nope"}',
     "listen tcp: address nope: missing port in address"),
    ("/proxies/{p}/toxics", b'{"type":"latency","attributes":{"latency":1e3}}',
     "bad request body: json: cannot unmarshal number 1e3 into Go struct field "
     "LatencyToxic.attributes.latency of type int64"),
    ("/proxies/{p}/toxics", b'{"type":"latency","attributes":[1]}',
     "bad request body: json: cannot unmarshal array into Go struct field "
     "ToxicWrapper.attributes of type toxics.NoopToxic"),
    ("/proxies/{p}/toxics", b'{"type":5}',
     "bad request body: json: cannot unmarshal number into Go struct field ToxicWrapper.type of "
     "type string"),
]


@pytest.mark.parametrize(("path", "body", "text"), _GO_TEXTS)
def test_error_texts_match_go(http, new_name, echo_upstream, path, body, text):
    name = new_name()
    _proxy(http, name, echo_upstream)
    resp = http.post(path.format(p=name), content=body)
    assert resp.json()["error"] == text


def test_populate_errors_keep_populate_shape(http):
    resp = http.post("/populate", content=b"[null]")
    assert resp.status_code == 400
    assert resp.json() == {"error": "missing required field: name at proxy 1", "status": 400,
                           "proxies": None}
    resp = http.post("/populate", content=b"{}")
    assert resp.status_code == 400 and resp.json()["proxies"] is None
    assert resp.json()["error"].startswith(
        "bad request body: json: cannot unmarshal object into Go value of type []struct {")


def test_deep_nesting_and_chunked_body(http, toxiproxy_url, new_name, echo_upstream):
    resp = http.post("/proxies", content=b"[" * 200_000)
    _error(resp, 400, prefix="bad request body: ")
    name = new_name()
    body = json.dumps({"name": name, "upstream": echo_upstream, "listen": "127.0.0.1:0"})
    resp = http.post("/proxies", content=iter([body[:10].encode(), body[10:].encode()]))
    assert resp.status_code == 201 and resp.json()["name"] == name
    assert http.get("/version").status_code == 200
