"""Where ksqlDB's query-validation tests are, for the tests that run them.

The project does not ship ksqlDB's test files. They are looked for where `KSQLITE_SHARED_QTT`
points, by default `../shared/ksql-qtt` beside the checkout. Without them the tests that need
them are skipped with a reason saying how to get them; with `KSQLITE_REQUIRE_QTT=1` (set by
`.ci/run`) their absence is a failure instead, so CI can never skip the conformance ratchet.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pyksqlite.shell.runners import qtt

HOW_TO_GET_THEM = (
    "ksqlDB's query-validation tests were not found at {path}. Put a checkout of ksqlDB's "
    "ksqldb-functional-tests/src/test/resources (query-validation-tests/ and "
    "rest-query-validation-tests/) there, or point KSQLITE_SHARED_QTT at one.")


def qtt_root() -> Path:
    """The folder holding query-validation-tests/ (and rest-query-validation-tests/), or skip."""
    root = qtt.SHARED_QTT_DIR
    if (root / "query-validation-tests").is_dir():
        return root
    message = HOW_TO_GET_THEM.format(path=root)
    if os.environ.get("KSQLITE_REQUIRE_QTT") == "1":
        pytest.fail(message + " (KSQLITE_REQUIRE_QTT=1: required here)")
    pytest.skip(message)
