"""Runner tests use a stand-in for the engine's TestRecord so they run while the engine changes."""
from dataclasses import dataclass
from typing import Any, Optional

import pytest

from pyksqlite.shell.runners import qtt


@dataclass
class StandInTestRecord:
    topic: str
    key: Any = None
    value: Any = None
    timestamp: int = 0
    partition: int = 0
    offset: int = 0
    headers: Optional[list] = None
    window: Optional[dict] = None


@pytest.fixture(autouse=True)
def stand_in_test_record(monkeypatch):
    monkeypatch.setattr(qtt, "record_class", lambda: StandInTestRecord)
