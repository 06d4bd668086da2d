"""The snapshot container refuses what it was not written as, even with a valid checksum.

The rule: decoding a container checks its CRC first, then every structural claim (version,
lengths, offsets, kinds, dtypes, blob names, nesting) before building anything, and a reader
gets a section only as the kind, dtype, length and schema it asks for; anything else is a
SnapshotError with a message, never an object of another type. Hostile containers here carry a
correct CRC, so the checks behind it are what is tested."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import orjson
import pyarrow as pa
import pytest

from pyksqlite.state.checkpoint_store import CheckpointError, CheckpointFile
from pyksqlite.state.snapshot import MAGIC, Snapshot, SnapshotError, Stored, decode, to_bytes


def container(header, body: bytes = b"") -> bytes:
    """A container with this header and body and a correct CRC."""
    header_bytes = orjson.dumps(header) if not isinstance(header, bytes) else header
    data = MAGIC + struct.pack("<I", len(header_bytes)) + header_bytes + body
    return data + struct.pack("<I", zlib.crc32(data))


def snapshot_header(sections: dict, body: bytes = b"") -> dict:
    return {"v": 1, "body": len(body), "root": {"t": "s", "v": sections}}


def test_a_round_trip_keeps_every_kind_of_section():
    table = pa.table({"a": [1, None, 3], "s": [{"x": 1}, None, {"x": 2}]})
    original = Snapshot().put("n", 7).put("doc", {"list": [1, 2.5, "x", None, True]}).put_table("t", table) \
        .put_array("a", np.arange(5, dtype=np.int32)).put_bytes("b", b"\x00\x01") \
        .put_child("c", Snapshot().put("inner", "yes")).put_children("l", [None, Snapshot().put("k", 1)]) \
        .put_stored("st", Stored(Snapshot().put_table("rows", table))).put_table("none", None)
    copy = decode(to_bytes(original))
    assert copy.integer("n") == 7 and copy.get("doc", dict) == {"list": [1, 2.5, "x", None, True]}
    assert copy.table("t").equals(table) and copy.table("none", optional=True) is None
    assert copy.array("a", np.int32).tolist() == [0, 1, 2, 3, 4] and copy.raw("b") == b"\x00\x01"
    assert copy.child("c").get("inner", str) == "yes"
    assert copy.children("l")[0] is None and copy.children("l")[1].integer("k") == 1
    assert copy.stored("st").value.table("rows").equals(table)


@pytest.mark.parametrize("value", [(1, 2), {1: "x"}, {"a"}, float("nan"), 2 ** 70, object(), b"raw"])
def test_only_plain_json_data_is_a_value(value):
    with pytest.raises(SnapshotError, match="section v"):
        Snapshot().put("v", value)


def test_readers_get_only_the_kind_they_ask_for():
    copy = decode(to_bytes(Snapshot().put("n", True).put_array("a", np.zeros(3)).put_table("t", pa.table({"x": [1]}))))
    with pytest.raises(SnapshotError, match="is a bool, not int"):
        copy.integer("n")
    with pytest.raises(SnapshotError, match="holds float64, not int64"):
        copy.array("a", np.int64)
    with pytest.raises(SnapshotError, match="holds 3 values, not 4"):
        copy.array("a", np.float64, 4)
    with pytest.raises(SnapshotError, match="holds a table, not a snapshot"):
        copy.child("t")
    with pytest.raises(SnapshotError, match="do not fit"):
        copy.table("t", pa.schema([("y", pa.int64())]))
    with pytest.raises(SnapshotError, match="section missing is missing"):
        copy.get("missing")


HOSTILE = {
    "object dtype": (snapshot_header({"a": {"t": "a", "d": "|O", "o": 0, "n": 8}}, b"\x00" * 8), b"\x00" * 8),
    "offset past the body": (snapshot_header({"b": {"t": "b", "o": 4, "n": 8}}, b"\x00" * 8), b"\x00" * 8),
    "negative offset": (snapshot_header({"b": {"t": "b", "o": -4, "n": 4}}, b"\x00" * 8), b"\x00" * 8),
    "ragged array": (snapshot_header({"a": {"t": "a", "d": "<i8", "o": 0, "n": 5}}, b"\x00" * 5), b"\x00" * 5),
    "garbage table": (snapshot_header({"t": {"t": "t", "o": 0, "n": 8}}, b"\xff" * 8), b"\xff" * 8),
    "unknown kind": (snapshot_header({"x": {"t": "pickle", "v": "cos\nsystem\n"}}), b""),
    "blob outside a checkpoint": (snapshot_header({"r": {"t": "r", "b": "0" * 32, "c": 0, "n": 0}}), b""),
    "other version": ({"v": 2, "body": 0, "root": {"t": "s", "v": {}}}, b""),
    "body length lies": ({"v": 1, "body": 99, "root": {"t": "s", "v": {}}}, b""),
    "root not a snapshot": ({"v": 1, "body": 0, "root": [1, 2]}, b""),
    "too deep": (snapshot_header({"c": {"t": "s", "v": {"c": {"t": "s", "v": {}}}}}), b""),
    "header not json": (b"\x80\x03cos\nsystem\n", b""),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_container_with_a_valid_crc_is_refused(case):
    header, body = HOSTILE[case]
    if case == "too deep":
        node = {"t": "s", "v": {}}
        for _ in range(100):
            node = {"t": "s", "v": {"c": node}}
        header = {"v": 1, "body": 0, "root": node}
    with pytest.raises(SnapshotError):
        decode(container(header, body))


def test_a_changed_byte_or_a_cut_is_a_checksum_error():
    data = bytearray(to_bytes(Snapshot().put("n", 1).put_array("a", np.arange(100))))
    data[40] ^= 1
    with pytest.raises(SnapshotError, match="checksum mismatch"):
        decode(bytes(data))
    with pytest.raises(SnapshotError):
        decode(to_bytes(Snapshot().put("n", 1))[:-10])


def test_a_checkpoint_cannot_name_a_blob_outside_its_directory(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(to_bytes(Snapshot().put("stolen", True)))
    checkpoint = tmp_path / "state" / "checkpoint.state"
    checkpoint.parent.mkdir()
    for name in ("../../secret", "/etc/passwd", "A" * 32, "0" * 31 + "/"):
        checkpoint.write_bytes(container(snapshot_header({"r": {"t": "r", "b": name, "c": 0, "n": 0}})))
        with pytest.raises(CheckpointError, match="invalid blob reference"):
            CheckpointFile(checkpoint).read()


def test_a_checkpoint_that_is_a_fifo_or_a_symlink_is_an_error_not_a_hang(tmp_path):
    import os
    checkpoint = tmp_path / "checkpoint.state"
    os.mkfifo(checkpoint)
    with pytest.raises(CheckpointError, match="unreadable"):
        CheckpointFile(checkpoint).read()
    checkpoint.unlink()
    target = tmp_path / "elsewhere"
    target.write_bytes(to_bytes(Snapshot()))
    checkpoint.symlink_to(target)
    with pytest.raises(CheckpointError, match="unreadable"):
        CheckpointFile(checkpoint).read()
