"""CLI subcommands; each module has ``register(subparsers)``. See :mod:`harness.cli`."""
