"""The NONE format: a key (or value) with no columns; whatever bytes the record has are ignored."""
from __future__ import annotations

import pyarrow as pa

from pyksqlite.serde.api import DecodeResult


class NoneSerde:
    """Decodes any bytes to a row with no columns; encodes every row as a null key."""

    def deserialize(self, data: pa.Array) -> DecodeResult:
        return DecodeResult(pa.table({"_": pa.nulls(len(data))}).select([]), {})

    def serialize(self, columns: pa.Table) -> pa.Array:
        return pa.nulls(columns.num_rows, pa.binary())
