"""Kafka's default partitioner: murmur2 bit-exact with Java, vectorized == scalar."""
import numpy as np
import pyarrow as pa
import pytest

from pyksqlite.log.partitioner import murmur2, murmur2_array, partition_for_key, partitions_for_keys, to_signed

# Kafka's UtilsTest.testMurmur2 vectors (signed Java ints).
KAFKA_VECTORS = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize("data,expected", KAFKA_VECTORS.items())
def test_scalar_matches_kafka(data, expected):
    assert to_signed(murmur2(data)) == expected


def test_vectorized_matches_kafka_vectors():
    keys = pa.array(list(KAFKA_VECTORS), pa.binary())
    assert [to_signed(int(h)) for h in murmur2_array(keys)] == list(KAFKA_VECTORS.values())


def test_vectorized_equals_scalar_on_random_keys_of_many_lengths():
    rng = np.random.default_rng(7)
    keys = [rng.integers(0, 256, rng.integers(0, 40), dtype=np.uint8).tobytes() for _ in range(3000)]
    hashes = murmur2_array(pa.array(keys, pa.binary()))
    assert hashes.tolist() == [murmur2(k) for k in keys]


def test_vectorized_handles_sliced_and_large_binary_arrays():
    keys = [bytes([i]) * (i % 9) for i in range(100)]
    sliced = pa.array(keys, pa.binary()).slice(13, 50)
    assert murmur2_array(sliced).tolist() == [murmur2(k) for k in keys[13:63]]
    large = pa.array(keys, pa.large_binary())
    assert murmur2_array(large).tolist() == [murmur2(k) for k in keys]


def test_partitions_match_scalar_and_keyless_go_round_robin():
    keys = [b"k%d" % i if i % 3 else None for i in range(60)]
    partitions = partitions_for_keys(pa.array(keys, pa.binary()), 7, round_robin_start=5)
    keyed = [(p, k) for p, k in zip(partitions, keys) if k is not None]
    assert all(p == partition_for_key(k, 7) for p, k in keyed)
    keyless = [int(p) for p, k in zip(partitions, keys) if k is None]
    assert keyless == [(5 + i) % 7 for i in range(len(keyless))]


def test_sign_bit_is_masked_not_negated():
    # murmur2("21") is negative in Java: toPositive masks the sign bit (not abs()).
    assert partition_for_key(b"21", 1 << 31) == (-973932308) & 0x7FFFFFFF
