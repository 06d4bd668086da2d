"""Collect every statement of ksqlDB's QTT and RQTT cases, with whether its case expects an error."""
from __future__ import annotations

import json
from typing import Iterator, NamedTuple

from tests.reference import qtt_root



class QttStatement(NamedTuple):
    file: str
    case: str
    text: str
    expects_error: bool


def qtt_statements() -> Iterator[QttStatement]:
    for path in sorted(qtt_root().glob("**/*.json")):
        document = json.loads(path.read_text())
        for case in document.get("tests", []) if isinstance(document, dict) else []:
            expects_error = "expectedException" in case or "expectedError" in case
            for statement in case.get("statements", []):
                for fmt in case.get("format", ["JSON"]) if "{FORMAT}" in statement else [None]:
                    text = statement.replace("{FORMAT}", fmt) if fmt else statement
                    yield QttStatement(path.name, case.get("name", ""), text, expects_error)
