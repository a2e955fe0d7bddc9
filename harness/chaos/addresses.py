"""Addresses of an experiment's services and proxies, bound to free ports and passed on by name.

An experiment's service (``services: [FILE.py:serve]``) is an async context manager that binds
port 0 and yields its ``host:port``: it is published as ``HARNESS_SERVICE_<NAME>`` (``NAME`` is
the factory's name, upper-cased, non-alphanumerics as ``_``). A network fault's ``listen`` and
``upstream`` may name published addresses (``upstream: ${HARNESS_SERVICE_SERVE}``); a proxy
created without ``listen`` gets a free port, and every proxy a planned fault names is published
as ``HARNESS_PROXY_<TARGET>`` (so ``--broker 'amqp://guest:guest@${HARNESS_PROXY_RABBIT}/'``
reaches RabbitMQ through the proxy ``rabbit``). The variables are set in this process's
environment for the run (in-process agents and the processes it starts read them there) and
restored after it.
"""

from __future__ import annotations

import os
import re
import string
from typing import Any

from harness.errors import InputError

__all__ = ["Addresses", "variable"]

_NAME = re.compile(r"[^A-Za-z0-9]+")


def variable(kind: str, name: str) -> str:
    """``variable("proxy", "eta_model")`` -> ``HARNESS_PROXY_ETA_MODEL``."""
    return f"HARNESS_{kind.upper()}_{_NAME.sub('_', name).upper()}"


class Addresses:
    """The run's published addresses, also set in ``os.environ`` until :meth:`restore`."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self._saved: dict[str, str | None] = {}

    def publish(self, kind: str, name: str, address: Any) -> None:
        """Publish ``address`` (``host:port``) as ``HARNESS_<KIND>_<NAME>``."""
        if not isinstance(address, str) or ":" not in address:
            return  # a service that yields nothing (or not an address) publishes nothing
        key = variable(kind, name)
        self._saved.setdefault(key, os.environ.get(key))
        self.values[key] = address
        os.environ[key] = address

    def expand(self, text: str, *, where: str) -> str:
        """Replace ``${HARNESS_...}`` in ``text`` with published addresses.

        Raises:
            InputError: a name that was not published (naming ``where``).
        """
        if "$" not in text:
            return text
        try:
            return string.Template(text).substitute(self.values)
        except KeyError as exc:
            known = ", ".join(sorted(self.values)) or "none"
            raise InputError(f"${{{exc.args[0]}}} is not a published address (published: "
                             f"{known})", where=where) from None
        except ValueError as exc:
            raise InputError(f"bad ${{...}} in {text!r}: {exc}", where=where) from None

    def expand_params(self, faults: list[Any], *, where: str) -> None:
        """Expand ``listen``/``upstream`` of planned faults in place (their params are copies)."""
        for f in faults:
            for key in ("listen", "upstream"):
                value = (f.params or {}).get(key)
                if isinstance(value, str):
                    f.params[key] = self.expand(value, where=f"{where}: {f.fault} {key}")

    def publish_proxies(self, network: Any, faults: list[Any]) -> None:
        """Publish the listen address of every proxy a planned fault names."""
        proxies = getattr(network, "proxies", None) or {}
        for f in faults:
            handle = proxies.get(f.target)
            if handle is not None:
                self.publish("proxy", f.target, getattr(handle, "listen", None))

    def restore(self) -> None:
        """Put the environment back as it was before the run."""
        for key, old in self._saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old
        self._saved.clear()
