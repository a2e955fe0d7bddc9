"""Contracts for a pipeline of one's own (not the example), as docs/contracts.md shows it: a
consumer pact test using only the plugin's fixtures, then ``contracts verify`` in that folder."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
ORDERS = ROOT / "tests" / "data" / "orders"


def _project(tmp_path: Path) -> Path:
    folder = tmp_path / "orders"
    shutil.copytree(ORDERS, folder)
    (folder / "tests").mkdir()
    shutil.move(folder / "shipping_consumer_test.txt", folder / "tests" / "test_shipping.py")
    return folder


def _pytest(folder: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str],
            *args: str) -> tuple[int, str]:
    """Run pytest on the user's folder in this process (a subprocess costs seconds of imports)."""
    monkeypatch.chdir(folder)
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--import-mode=importlib",
                        "-o", "asyncio_default_fixture_loop_scope=function",
                        "--rootdir", str(folder), *args])
    captured = capfd.readouterr()
    for name, module in list(sys.modules.items()):  # the next run imports its own copy
        if str(getattr(module, "__file__", None) or "").startswith(str(folder)):
            del sys.modules[name]
    return int(code), captured.out + captured.err


def test_consumer_test_then_provider_verification_in_a_fresh_folder(tmp_path, monkeypatch,
                                                                     capfd):
    folder = _project(tmp_path)
    code, out = _pytest(folder, monkeypatch, capfd, "tests", "--harness-pact-dir",
                        "contracts/pacts")
    assert code == 0, out
    assert (folder / "contracts" / "pacts" / "shipping-inventory.json").is_file()
    assert main(["contracts", "verify", "--provider", "inventory"]) == 0
    assert "OK: 1 interactions verified" in capfd.readouterr().out
    # a new inventory renames a field shipping reads (its schema allows it): verification says so
    agents = folder / "agents.py"
    (folder / "agents_v2.py").write_text(
        agents.read_text().replace('"warehouse": "wh-1"', '"depot": "wh-1"'))
    (folder / "contracts" / "order.reserved" / "v1.json").write_text(
        '{"type": "object", "required": ["order_id"]}')
    assert main(["contracts", "verify", "--provider", "inventory", "--agent",
                 "agents_v2.py:inventory"]) == 1
    out = capfd.readouterr().out
    assert "shipping" in out and "warehouse" in out and "FAILED" in out


def test_a_consumer_example_that_breaks_the_schema_is_the_only_error(tmp_path, monkeypatch,
                                                                     capfd):
    folder = _project(tmp_path)
    test = folder / "tests" / "test_shipping.py"
    test.write_text(test.read_text().replace('"quantity": match.int(2)',
                                             '"quantity": match.int(0)'))
    code, out = _pytest(folder, monkeypatch, capfd, "tests")
    assert code == 1
    assert "order.reserved v1 at #/quantity" in out
    assert "no running event loop" not in out


def test_without_a_pipeline_the_fixtures_say_how_to_name_one(tmp_path, monkeypatch, capfd):
    folder = _project(tmp_path)
    (folder / "pipeline.yaml").rename(folder / "orders.yaml")
    code, out = _pytest(folder, monkeypatch, capfd, "tests")
    assert code != 0 and "--harness-pipeline" in out
    code, out = _pytest(folder, monkeypatch, capfd, "tests", "--harness-pipeline", "orders.yaml")
    assert code == 0, out
