"""A Python UDAF's accumulator in checkpoints: JSON data plus the typed values its arguments
arrive as, back as the same values; a user's own `$` keys are never taken for tags."""
import datetime
from decimal import Decimal

import pytest

from pyksqlite.state import tagged_json
from pyksqlite.state.snapshot import SnapshotError

VALUES = [
    [Decimal("6.1"), Decimal("-0.00"), None],
    {"bytes": b"\x00\xffabc", "when": datetime.datetime(2024, 1, 2, 3, 4, 5, 600000, tzinfo=datetime.timezone.utc)},
    {"day": datetime.date(1970, 1, 1), "at": datetime.time(23, 59, 59, 1)},
    {"$decimal": "not a tag", "$$x": 1, "nested": [{"$bytes": "AA=="}]},
    [1, 2.5, float("inf"), "text", True, {"k": []}],
]


@pytest.mark.parametrize("value", VALUES)
def test_values_round_trip(value):
    text = tagged_json.dumps(value, "acc")
    back = tagged_json.loads(text, "acc")
    assert back == value and repr(back) == repr(value)


def test_objects_are_refused_naming_where():
    with pytest.raises(SnapshotError, match="the accumulator of UDAF X"):
        tagged_json.dumps({"a": (1, 2)}, "the accumulator of UDAF X")


def test_a_malformed_tag_is_an_error():
    with pytest.raises(SnapshotError, match="acc"):
        tagged_json.loads('{"$decimal": 5}', "acc")
    with pytest.raises(SnapshotError, match="acc"):
        tagged_json.loads('{"$bytes": "***"}', "acc")
