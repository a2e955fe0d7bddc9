"""The pytest plugin: options, the seed in the header, fixtures (tested with pytester)."""

from __future__ import annotations

from pathlib import Path

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]


def test_seed_is_printed_and_reused(pytester):
    pytester.makepyfile(
        """
        def test_seed(harness_seed_value):
            assert harness_seed_value == 1234
        """
    )
    result = pytester.runpytest("--harness-seed=1234", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*harness: seed=1234 broker=memory*--harness-seed=1234*"])
    result.assert_outcomes(passed=1)


def test_pipeline_fixture_runs_the_payments_example(pytester):
    pytester.makeini("[pytest]\nasyncio_mode = auto\n"
                     "asyncio_default_fixture_loop_scope = function\n")
    pytester.makepyfile(
        f"""
        from harness.envelope import Envelope

        async def test_run(harness_pipeline, harness_history):
            run = harness_pipeline({str(ROOT / 'examples/payments/pipeline.yaml')!r})
            async with run:
                env = Envelope.ingress(type="payment.requested", schema_version=1,
                    correlation_id="pay-t1", payload={{"payment_id": "pay-1",
                    "amount_cents": 100, "currency": "EUR", "customer_id": "c",
                    "merchant_id": "m", "card_last4": "0000"}})
                await run.send(env)
                assert await run.settle(timeout=10)
                assert run.terminal["pay-t1"] == "completed"
            kinds = {{e["kind"] for e in harness_history.events}}
            assert {{"ingress", "publish", "deliver", "ack", "effect", "outcome"}} <= kinds
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


def test_unreachable_broker_skips_but_fails_when_services_are_required(pytester, monkeypatch):
    pytester.makepyfile(
        """
        def test_t(harness_broker_url):
            pass
        """
    )
    args = ("--harness-broker=amqp://guest:guest@127.0.0.1:1/", "-p", "no:cacheprovider")
    monkeypatch.delenv("HARNESS_REQUIRE_SERVICES", raising=False)
    pytester.runpytest(*args).assert_outcomes(skipped=1)
    monkeypatch.setenv("HARNESS_REQUIRE_SERVICES", "1")
    pytester.runpytest(*args).assert_outcomes(errors=1)
