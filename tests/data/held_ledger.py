"""The payments ledger, held once in the middle of a delivery so a test can kill it there.

When ``HARNESS_TEST_HOLD`` names a file that does not exist yet, the ``HARNESS_TEST_HOLD_AFTER``-th
delivery this process handles applies its effect, then creates that file (exclusively, so only one
process ever holds) with the delivery's correlation id, and waits forever before its output is
published and the delivery acked. The test waits for the file and the effect in the history,
SIGKILLs the process, and checks the redelivery is applied once. Without the variable it is the
plain ledger.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from harness import Context, Envelope
from harness.pipeline import load_object

_EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "payments"
_ours = load_object("agents.py:ledger", base=_EXAMPLES, where="held_ledger.py")
_handled = 0

ledger = _ours.variant(version="1.0.0-held")


@ledger.handler
async def post_then_hold(ctx: Context, msg: Envelope) -> None:
    global _handled
    await _ours.fn(ctx, msg)  # the effect is applied; the emit is published after we return
    marker = os.environ.get("HARNESS_TEST_HOLD")
    _handled += 1
    if not marker or _handled < int(os.environ.get("HARNESS_TEST_HOLD_AFTER", "1")):
        return
    try:
        fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return  # held (and killed) once already
    os.write(fd, msg.correlation_id.encode())
    os.close(fd)
    await asyncio.Event().wait()  # held, unacked, until the process is killed
