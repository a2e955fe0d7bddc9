"""Hide secrets (passwords in URLs, tokens in query strings) before anything is printed or written.

Every place that shows a broker, store or dependency URL goes through :func:`redact_url`; text
that may quote one (error messages, reports) goes through :func:`redact_text`.
"""

from __future__ import annotations

import re

__all__ = ["MASK", "redact_text", "redact_url"]

MASK = "***"

# scheme://user:password@host  ->  scheme://user:***@host  (the password may even hold a '/')
_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@]*):(?P<secret>[^\s@]*)@")
# ?password=..., &token=..., access_key=... in query strings
_QUERY = re.compile(r"(?P<head>[?&;](?:password|passwd|pwd|token|secret|access_key|"
                    r"secret_key|api_key|apikey|sslpassword)=)(?P<secret>[^&#\s]+)", re.I)


def redact_text(text: str) -> str:
    """``text`` with every URL password and secret query value replaced by ``***``."""
    if "://" not in text and "=" not in text:
        return text
    text = _USERINFO.sub(lambda m: f"{m['head']}:{MASK}@", text)
    return _QUERY.sub(lambda m: f"{m['head']}{MASK}", text)


def redact_url(url: str) -> str:
    """A URL with its password hidden (``amqp://guest:***@host/``); other text unchanged."""
    return redact_text(url)
