"""Crash points: named places where a fault-injection test can kill the process (tests/faults).

`KSQLITE_CRASH_AT=<name>:<n>` makes the process kill itself with SIGKILL (as `kill -9` would: no
cleanup, no flush, no atexit) the n-th time it passes the point `<name>` (n counts from 1).
Unset, which is always the case outside those tests, a point costs one module attribute test:
call sites read `if crash_points.ARMED: crash_points.reach("name")`.

The points (see docs/architecture.md, "Exactly-once"):
    log.append.written         an append's batches are written, not yet published
    txn.commit.written         a transaction's batches are written, its commit record not yet
    txn.commit.recorded        the commit record is in place, the batches not yet published
    txn.commit.published       the batches are published
    checkpoint.written         a checkpoint is written beside the committed one, not yet installed
    checkpoint.installed       the checkpoint is installed
    offsets.committed          a non-transactional offset commit is done
    task.processed             a batch went through a query's plan, nothing committed yet
"""
from __future__ import annotations

import os
import signal

_SETTING = os.environ.get("KSQLITE_CRASH_AT", "")
ARMED = bool(_SETTING)
_name, _, _count = _SETTING.partition(":")
_remaining = int(_count or 1) if ARMED else 0


def reach(name: str) -> None:
    """Count a pass of the point `name`; SIGKILL this process at the configured pass."""
    global _remaining
    if name != _name:
        return
    _remaining -= 1
    if _remaining == 0:
        os.kill(os.getpid(), signal.SIGKILL)
