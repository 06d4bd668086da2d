"""Windowed keys built in one numpy copy when the inner key has a fixed width (KAFKA BIGINT),
and the partitioner's one-length path: both must equal the general, per-length forms."""
import struct

import numpy as np
import pyarrow as pa

from pyksqlite.log.partitioner import murmur2, murmur2_array
from pyksqlite.serde.windowed import TimeWindowedSerde
from pyksqlite.common.types import BIGINT, STRING
from tests.serde.conftest import key_column, serde


def _windows(keys) -> pa.Table:
    starts = np.arange(len(keys), dtype=np.int64) * 2000
    return pa.table({"K": keys, "WINDOWSTART": starts, "WINDOWEND": starts + 10_000})


def test_bigint_windowed_keys_are_the_key_bytes_then_the_start():
    codec = TimeWindowedSerde(serde("KAFKA", key_column("K", BIGINT), key=True), window_size_ms=10_000)
    table = _windows(pa.array(np.arange(-5, 95, dtype=np.int64))).slice(7, 60)
    encoded = codec.serialize(table)
    expected = [struct.pack(">q", k) + struct.pack(">q", s)
                for k, s in zip(table.column("K").to_pylist(), table.column("WINDOWSTART").to_pylist())]
    assert encoded.to_pylist() == expected
    assert codec.deserialize(encoded).columns.to_pylist() == table.to_pylist()


def test_keys_of_varying_length_or_null_take_the_general_form():
    codec = TimeWindowedSerde(serde("KAFKA", key_column("K", STRING), key=True), window_size_ms=10_000)
    encoded = codec.serialize(_windows(pa.array(["a", "bcd", None])))
    assert encoded.to_pylist() == [b"a" + struct.pack(">q", 0), b"bcd" + struct.pack(">q", 2000),
                                   struct.pack(">q", 4000)]


def test_murmur2_of_one_length_keys_matches_the_scalar_form():
    keys = [struct.pack(">q", k) for k in range(-50, 450)]
    sliced = pa.array(keys, pa.binary()).slice(11, 300)
    assert murmur2_array(sliced).tolist() == [murmur2(k) for k in keys[11:311]]
