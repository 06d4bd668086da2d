"""Small Arrow helpers shared by the log and the operators."""
from __future__ import annotations

import pyarrow as pa


def contiguous(column: pa.Array | pa.ChunkedArray) -> pa.Array:
    """`column` as one array; zero-copy unless it really has several chunks
    (`ChunkedArray.combine_chunks` copies even a single chunk)."""
    if isinstance(column, pa.ChunkedArray):
        return column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column
