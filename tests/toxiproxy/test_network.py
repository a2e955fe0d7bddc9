"""The network-fault API and fixture: proxies between an agent and a dependency, recorded."""

from __future__ import annotations

import socket
import time

import pytest

from harness.chaos.network import FaultError, NetworkFaults
from harness.errors import InputError, ServiceUnavailable
from harness.history import Recorder
from tests.timing import within
from tests.toxiproxy.conftest import recv_exactly


def _rtt(address: str, payload: bytes = b"hi") -> float:
    host, _, port = address.rpartition(":")
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        start = time.monotonic()
        sock.sendall(payload)
        assert recv_exactly(sock, len(payload)) == payload
        return time.monotonic() - start


def test_fixture_applies_changes_and_clears(network_faults, echo_upstream):
    recorder = Recorder()
    network_faults.recorder = recorder
    dep = network_faults.proxy("netfault_dep", echo_upstream)
    assert dep.host == "127.0.0.1" and dep.port > 0
    within(lambda: _rtt(dep.address), 0, 0.1)
    toxic = dep.add_toxic("latency", latency=150)
    assert toxic["name"] == "latency_downstream"
    assert _rtt(dep.address) >= 0.14
    dep.update_toxic("latency_downstream", latency=20)
    within(lambda: _rtt(dep.address), 0.015, 0.14)
    with dep.outage():
        with pytest.raises(OSError):
            _rtt(dep.address)
    assert _rtt(dep.address) < 1
    dep.clear()
    assert dep.toxics() == []
    kinds = [(e["kind"], e["fault"]) for e in recorder.events]
    assert kinds == [("fault_start", "latency"), ("fault_end", "latency"),
                     ("fault_start", "latency"), ("fault_start", "down"), ("fault_end", "down"),
                     ("fault_end", "latency")]
    first = recorder.events[0]
    assert first["target"] == "netfault_dep"
    assert first["params"]["attributes"] == {"latency": 150, "jitter": 0}


def test_toxic_context_manager_and_validation(network_faults, echo_upstream):
    dep = network_faults.proxy("netfault_ctx", echo_upstream)
    with dep.toxic("timeout", stream="upstream", timeout=0):
        assert [t["type"] for t in dep.toxics()] == ["timeout"]
    assert dep.toxics() == []
    with pytest.raises(InputError):
        dep.add_toxic("packet_loss")
    with pytest.raises(InputError):
        dep.add_toxic("latency", stream="sideways")
    with pytest.raises(InputError):
        dep.add_toxic("latency", latency=1.5)
    with pytest.raises(FaultError) as err:
        dep.remove_toxic("nope")
    assert err.value.status == 404


def test_recreates_existing_proxy_and_cleans_up(toxiproxy_url, echo_upstream):
    with NetworkFaults(toxiproxy_url) as faults:
        faults.proxy("netfault_dup", echo_upstream)
        again = faults.proxy("netfault_dup", echo_upstream)
        assert again.name == "netfault_dup"
    with NetworkFaults(toxiproxy_url) as check:
        assert "netfault_dup" not in check.call("GET", "/proxies")


def test_embedded_and_unreachable():
    with NetworkFaults(embedded=True) as faults:
        assert faults.call("GET", "/proxies") == {}
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))
    port = spare.getsockname()[1]
    spare.close()
    faults = NetworkFaults(f"http://127.0.0.1:{port}")
    with pytest.raises(ServiceUnavailable):
        faults.proxy("x", "127.0.0.1:1")
    faults.close()


def test_fixture_records_into_the_run_history(harness_history, network_faults, echo_upstream):
    dep = network_faults.proxy("netfault_hist", echo_upstream)
    with dep.outage():
        pass
    faults = [(e["kind"], e["fault"], e["target"]) for e in harness_history.events]
    assert faults == [("fault_start", "down", "netfault_hist"),
                      ("fault_end", "down", "netfault_hist")]
