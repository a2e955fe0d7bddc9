"""The Pact Broker flow: publish, verify with selectors/pending/WIP, results, deploy, can-i-deploy.

Runs against the in-process HAL stub, or against a real broker when PACT_BROKER_BASE_URL is set
(docker-compose provides one); versions, branches and environments are unique per run so a
shared broker's other data does not interfere.
"""

from __future__ import annotations

import copy
import os
import uuid

import pytest

from harness.cli import main
from harness.contracts.broker import BrokerClient
from harness.contracts.broker_stub import BrokerStub
from harness.contracts.pactfiles import load_pacts
from harness.contracts.registry import default_registry_path
from harness.contracts.target import resolve_target
from harness.contracts.verify import BrokerOptions, verify_provider
from harness.errors import InputError

PACTS = default_registry_path() / "pacts"
RUN = uuid.uuid4().hex[:8]
BRANCH = f"main-{RUN}" if os.environ.get("PACT_BROKER_BASE_URL") else "main"
V1, FRAUD1, FRAUD2 = f"1.0.0+{RUN}", f"1.0.0+{RUN}", f"2.0.0+{RUN}"
ENV = f"staging-{RUN}"


@pytest.fixture(scope="module")
def broker_url():
    real = os.environ.get("PACT_BROKER_BASE_URL")
    if real:
        yield real
        return
    with BrokerStub() as stub:
        yield stub.url


@pytest.fixture(scope="module")
def client(broker_url):
    client = BrokerClient.from_env(broker_url)
    yield client
    client.close()


def _options(url, **kw):
    return BrokerOptions(url=url, token=os.environ.get("PACT_BROKER_TOKEN"),
                         username=os.environ.get("PACT_BROKER_USERNAME"),
                         password=os.environ.get("PACT_BROKER_PASSWORD"),
                         provider_branch=BRANCH, selectors=[{"branch": BRANCH}], **kw)


@pytest.fixture(scope="module")
def published(client):
    pacts = load_pacts(PACTS)
    answers = [client.publish(c, V1, [p.data for p in pacts if p.consumer == c], branch=BRANCH)
               for c in sorted({p.consumer for p in pacts})]
    return answers


def test_publish_reports_notices(published):
    assert len(published) == 5
    assert all(a.get("notices") for a in published)


def test_republishing_other_content_under_the_same_version_is_refused(client, published):
    [pact] = load_pacts(PACTS / "authorization-fraud.json")
    changed = copy.deepcopy(pact.data)
    changed["interactions"][0]["description"] = "changed"
    with pytest.raises(InputError, match="409"):
        client.publish("authorization", V1, [changed], branch=BRANCH)


def test_verify_from_the_broker_and_publish_results(broker_url, published):
    report = verify_provider(resolve_target("fraud"), provider_version=FRAUD1,
                             broker=_options(broker_url, publish=True))
    assert report.ok
    assert {o.consumer for o in report.outcomes} == {"authorization"}
    assert len(report.outcomes) == 2


def test_fraud_v2_fails_against_the_broker(broker_url, published):
    target = resolve_target("fraud", variant="fraud-v2")
    report = verify_provider(target, provider_version=FRAUD2,
                             broker=_options(broker_url, publish=True))
    assert not report.ok, "the pact was verified by fraud 1 on this branch: no longer pending"
    assert {(o.consumer, o.pending) for o in report.failures} == {("authorization", False)}
    assert any(m.path == "$.risk_level" for o in report.failures for m in o.mismatches)


def test_wip_pacts_are_included_as_pending(client, broker_url, published):
    [pact] = load_pacts(PACTS / "authorization-fraud.json")
    wip = copy.deepcopy(pact.data)
    extra = copy.deepcopy(wip["interactions"][0])
    extra["description"] = "a high-risk assessment, work in progress"
    wip["interactions"].append(extra)
    client.publish("authorization", f"1.1.0+{RUN}", [wip], branch=f"feat-{RUN}")
    found = client.pacts_for_verification("fraud", selectors=[{"branch": BRANCH}],
                                          provider_branch=BRANCH, wip_since="2020-01-01")
    wips = [p for p in found if p["wip"]]
    assert len(wips) == 1 and wips[0]["pending"]
    report = verify_provider(resolve_target("fraud"), provider_version=FRAUD1,
                             broker=_options(broker_url, wip_since="2020-01-01"))
    assert report.ok
    assert "a high-risk assessment, work in progress" in {o.description for o in report.outcomes}


def test_deployments_and_can_i_deploy(client, published, capsys, broker_url):
    assert main(["contracts", "create-environment", "--broker", broker_url, "--name", ENV]) == 0
    client.record_deployment("authorization", V1, ENV)
    answer = client.can_i_deploy("fraud", FRAUD2, ENV)
    assert answer["summary"]["deployable"] is not True
    assert any("authorization" in r for r in answer["reasons"])
    answer = client.can_i_deploy("fraud", FRAUD1, ENV)
    assert any("authorization" in r for r in answer["reasons"])
    assert not [r for r in answer["matrix"] if r["consumer"]["name"] == "authorization"
                and (r["verificationResult"] or {}).get("success") is not True]
    assert main(["contracts", "record-deployment", "--broker", broker_url, "--pacticipant",
                 "fraud", "--version", FRAUD1, "--environment", ENV]) == 0
    code = main(["can-i-deploy", "--broker", broker_url, "--pacticipant", "authorization",
                 "--version", V1, "--to-environment", ENV])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "YES" in out
    code = main(["can-i-deploy", "--broker", broker_url, "--pacticipant", "fraud",
                 "--version", FRAUD2, "--to-environment", ENV, "--json"])
    assert code == 1


def test_cli_publish(broker_url, capsys):
    code = main(["contracts", "publish", "--broker", broker_url, "--consumer-version",
                 f"3.0.0+{RUN}", "--branch", f"other-{RUN}", "--json"])
    assert code == 0
    assert '"published"' in capsys.readouterr().out


def test_a_failing_pending_pact_does_not_fail_the_build(client, broker_url, published):
    [pact] = load_pacts(PACTS / "authorization-fraud.json")
    branch = f"fresh-{RUN}"
    client.publish("authorization", f"1.2.0+{RUN}", [pact.data], branch=branch)
    options = _options(broker_url)
    options.selectors = [{"branch": branch}]
    options.provider_branch = f"fraud-v2-{RUN}"
    report = verify_provider(resolve_target("fraud", variant="fraud-v2"),
                             provider_version=FRAUD2, broker=options)
    assert report.failures and all(o.pending for o in report.failures)
    assert report.ok
