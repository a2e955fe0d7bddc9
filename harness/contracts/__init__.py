"""Contracts: the schema registry, compatibility checking, and Pact integration.

- :mod:`~harness.contracts.registry`: the file-based schema registry.
- :mod:`~harness.contracts.consumer`: consumer message pacts (``ConsumerPact``), run through the
  consumer's real handler; :mod:`~harness.contracts.pact_fixtures`: the ``message_pact`` fixture.
- :mod:`~harness.contracts.pactfiles`: load, merge and write pact files.
- :mod:`~harness.contracts.states`, :mod:`~harness.contracts.target`: provider states, the agent
  under verification (variants, incidents, registry overlays).
- :mod:`~harness.contracts.verify`: provider verification with pact-python's ``Verifier``.
- :mod:`~harness.contracts.pact_cli`: the Pact Foundation's broker client (``pact broker``,
  pact-python-cli), wrapped thinly; :mod:`~harness.contracts.broker_pacts`: the pacts a provider
  must verify, read before the verifier runs.

See docs/contracts.md.
"""
