"""Black-box agents: services in any language that speak envelopes on a broker and know nothing
of the harness (docs/black-box.md). The harness starts (``command:``) or reaches (``external:``)
them, owns the routing between agents, gives them a database schema and reads their effects
through probes."""
