"""Operator state as data: named, typed sections in one versioned, checksummed container.

No code in data: state is never pickled (nor marshalled, nor evaluated). An operator's
`snapshot()` returns a `Snapshot` of named sections, each of one kind: a JSON value (orjson), an
Arrow table (IPC stream), a 1-D numpy array of a plain number type (its raw bytes), raw bytes, a
nested snapshot, a list of nested snapshots, or a `Stored` value. `restore()` reads them back by
name and kind through methods that check both (`integer`, `table(name, schema)`, `array(name,
dtype)`...), so a wrong or hostile section is a `SnapshotError`, never a surprise object.

The container (`encode` / `decode`):

    b"KSQSNAP1" | header length u32 | header (JSON) | body | crc32 u32    (little-endian)

The CRC (zlib's CRC-32) covers every byte before it. The header is {"v": 1, "body": <body length>,
"root": node}; a node is {"t": kind, ...}: "v" a JSON value ("v"), "n" None, "t" an Arrow table,
"a" an array (dtype "d"), "b" bytes (each with offset "o" and length "n" into the body), "s" a
nested snapshot ("v": name -> node), "l" a list of them, "i" a `Stored` value inline ("v": its
snapshot) and "r" a `Stored` value in a blob file of a checkpoint ("b" its name, "c" its CRC, "n"
its size; see `pyksqlite.state.checkpoint_store`).
"""
from __future__ import annotations

import math
import re
import struct
from typing import Any, Optional, Protocol

import numpy as np
import orjson
import pyarrow as pa

try:    # the same CRC-32 as zlib's, SIMD-fast (checkpoints checksum every byte they write)
    from isal.isal_zlib import crc32
except ImportError:  # pragma: no cover - isal is a dependency; zlib gives the same values
    from zlib import crc32

MAGIC = b"KSQSNAP1"
VERSION = 1
_PREFIX = struct.Struct("<8sI")
_CRC = struct.Struct("<I")
MAX_DEPTH = 32
# The dtypes an array section may have: numbers and booleans, never objects.
ARRAY_DTYPES = frozenset(np.dtype(t).str for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
    np.float32, np.float64))
BLOB_NAME = re.compile(r"[0-9a-f]{32}")
_INT_RANGE = (-(2 ** 63), 2 ** 64 - 1)      # what JSON (orjson) round-trips exactly


class SnapshotError(Exception):
    """A snapshot that cannot be used: corrupt, truncated, of another version, or not holding what
    its reader expects."""


class Stored:
    """An immutable value (a nested snapshot) that checkpoint files write once, to a blob file of
    its own; later checkpoints holding the same `Stored` only name that file. Elsewhere (a
    changelog topic) it is encoded inline."""

    __slots__ = ("value", "blob", "crc", "size")

    def __init__(self, value: "Snapshot", blob: Optional[str] = None, crc: int = 0, size: int = 0):
        self.value = value
        self.blob = blob           # the blob file holding it, once a checkpoint wrote one
        self.crc = crc
        self.size = size


class BlobStore(Protocol):
    """Where `Stored` values of a checkpoint live (`pyksqlite.state.checkpoint_store.CheckpointFile`)."""

    def blob_for(self, stored: Stored) -> Stored:
        """`stored` with its blob name, CRC and size, writing the blob file if needed."""

    def read_blob(self, name: str, crc: int, size: int) -> Stored:
        """The verified blob's value."""


class Snapshot:
    """Named, typed sections: what an operator's state is made of (see the module docstring)."""

    __slots__ = ("_sections",)

    def __init__(self) -> None:
        self._sections: dict[str, tuple[str, Any]] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._sections

    def names(self) -> list[str]:
        return list(self._sections)

    # --- writing ---
    def put(self, name: str, value: Any) -> "Snapshot":
        """A JSON value: None, bool, int (64-bit), finite float, str, lists and str-keyed dicts."""
        check_json_data(value, f"section {name}")
        self._sections[name] = ("v", value)
        return self

    def put_table(self, name: str, table: Optional[pa.Table]) -> "Snapshot":
        self._sections[name] = ("t", table) if table is not None else ("n", None)
        return self

    def put_array(self, name: str, array: np.ndarray) -> "Snapshot":
        array = np.ascontiguousarray(array)
        if array.ndim != 1 or array.dtype.str not in ARRAY_DTYPES:
            raise SnapshotError(f"section {name}: arrays are 1-D numbers, not {array.dtype}{array.shape}")
        self._sections[name] = ("a", array)
        return self

    def put_bytes(self, name: str, data: bytes) -> "Snapshot":
        self._sections[name] = ("b", bytes(data))
        return self

    def put_child(self, name: str, child: Optional["Snapshot"]) -> "Snapshot":
        self._sections[name] = ("s", child) if child is not None else ("n", None)
        return self

    def put_children(self, name: str, children: list[Optional["Snapshot"]]) -> "Snapshot":
        self._sections[name] = ("l", list(children))
        return self

    def put_stored(self, name: str, stored: Stored) -> "Snapshot":
        self._sections[name] = ("i", stored)
        return self

    # --- reading (each checks the section's kind) ---
    def _section(self, name: str, kinds: str, optional: bool = False) -> Any:
        if name not in self._sections:
            if optional:
                return None
            raise SnapshotError(f"section {name} is missing")
        kind, value = self._sections[name]
        if kind == "n" and optional:
            return None
        if kind not in kinds:
            raise SnapshotError(f"section {name} holds {_KIND_NAMES.get(kind, kind)}, "
                                f"not {' or '.join(_KIND_NAMES[k] for k in kinds)}")
        return value

    def get(self, name: str, *types: type, optional: bool = False) -> Any:
        """A JSON value of one of `types` (int never matches a bool)."""
        value = self._section(name, "v", optional)
        if value is None and optional:
            return None
        if types and not any(isinstance(value, t) and not (t is int and isinstance(value, bool)) for t in types):
            raise SnapshotError(f"section {name} is a {type(value).__name__}, not "
                                f"{' or '.join(t.__name__ for t in types)}")
        return value

    def integer(self, name: str) -> int:
        return self.get(name, int)

    def table(self, name: str, schema: Optional[pa.Schema] = None, optional: bool = False) -> Optional[pa.Table]:
        """An Arrow table; with `schema`, cast to it (an error if its columns differ)."""
        table = self._section(name, "t", optional)
        if table is None or schema is None or table.schema.equals(schema):
            return table
        try:
            return table.cast(schema)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError, TypeError) as error:
            raise SnapshotError(f"section {name}: columns {table.schema.names} do not fit "
                                f"{schema.names}: {error}") from None

    def array(self, name: str, dtype, length: Optional[int] = None) -> np.ndarray:
        """A 1-D array of `dtype` (or of one of a tuple of dtypes), of `length` values if given."""
        array = self._section(name, "a")
        allowed = [np.dtype(d) for d in (dtype if isinstance(dtype, tuple) else (dtype,))]
        if array.dtype not in allowed:
            raise SnapshotError(f"section {name} holds {array.dtype}, not {' or '.join(map(str, allowed))}")
        if length is not None and len(array) != length:
            raise SnapshotError(f"section {name} holds {len(array)} values, not {length}")
        return array

    def raw(self, name: str) -> bytes:
        return self._section(name, "b")

    def child(self, name: str, optional: bool = False) -> Optional["Snapshot"]:
        return self._section(name, "s", optional)

    def children(self, name: str) -> list[Optional["Snapshot"]]:
        return self._section(name, "l")

    def stored(self, name: str) -> Stored:
        return self._section(name, "i")


_KIND_NAMES = {"v": "a value", "n": "nothing", "t": "a table", "a": "an array", "b": "bytes",
               "s": "a snapshot", "l": "a list of snapshots", "i": "a stored value"}


def check_json_data(value: Any, where: str, exact: bool = True, depth: int = 0) -> None:
    """Raise SnapshotError unless `value` is plain JSON data (None, bool, int, float, str, lists
    and dicts with str keys; no tuples, sets or objects) that round-trips exactly. `exact`: as
    orjson writes it (64-bit ints, finite floats); else as Python's json (any int, inf and nan)."""
    if depth > MAX_DEPTH:
        raise SnapshotError(f"{where}: nested deeper than {MAX_DEPTH}")
    if value is None or type(value) in (bool, str):
        return
    if type(value) is int:
        if exact and not _INT_RANGE[0] <= value <= _INT_RANGE[1]:
            raise SnapshotError(f"{where}: {value} is outside 64 bits")
        return
    if type(value) is float:
        if exact and not math.isfinite(value):
            raise SnapshotError(f"{where}: {value} is not a finite number")
        return
    if type(value) is list:
        for item in value:
            check_json_data(item, where, exact, depth + 1)
        return
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise SnapshotError(f"{where}: a dict key {key!r} is not a string")
            check_json_data(item, where, exact, depth + 1)
        return
    raise SnapshotError(f"{where}: a {type(value).__name__} is not JSON data "
                        "(None, bool, int, float, str, list, dict with str keys)")


# --- encoding ---------------------------------------------------------------------------------

class _Body:
    def __init__(self) -> None:
        self.pieces: list = []
        self.size = 0

    def add(self, piece) -> dict:
        length = memoryview(piece).nbytes
        node = {"o": self.size, "n": length}
        if length:
            self.pieces.append(piece)
            self.size += length
        return node


def _ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _encode_snapshot(snapshot: Snapshot, body: _Body, blobs: Optional[BlobStore], depth: int) -> dict:
    if depth > MAX_DEPTH:
        raise SnapshotError(f"snapshots nested deeper than {MAX_DEPTH}")
    return {"t": "s", "v": {name: _encode_section(kind, value, body, blobs, depth)
                            for name, (kind, value) in snapshot._sections.items()}}


def _encode_section(kind: str, value: Any, body: _Body, blobs: Optional[BlobStore], depth: int) -> dict:
    if kind == "v":
        return {"t": "v", "v": value}
    if kind == "n":
        return {"t": "n"}
    if kind == "t":
        return {"t": "t", **body.add(_ipc(value))}
    if kind == "a":
        return {"t": "a", "d": value.dtype.str, **body.add(memoryview(value).cast("B"))}
    if kind == "b":
        return {"t": "b", **body.add(value)}
    if kind == "s":
        return _encode_snapshot(value, body, blobs, depth + 1)
    if kind == "l":
        return {"t": "l", "v": [{"t": "n"} if child is None else _encode_snapshot(child, body, blobs, depth + 1)
                                for child in value]}
    if blobs is None:       # "i": a Stored value, inline
        return {"t": "i", "v": _encode_snapshot(value.value, body, None, depth + 1)}
    stored = blobs.blob_for(value)
    return {"t": "r", "b": stored.blob, "c": stored.crc, "n": stored.size}


def encode(snapshot: Snapshot, blobs: Optional[BlobStore] = None) -> tuple[list, int]:
    """The container's pieces (bytes-like, to write in order) and its CRC. With `blobs`, Stored
    values go to blob files (written before this returns); without, they are inline."""
    body = _Body()
    root = _encode_snapshot(snapshot, body, blobs, 0)
    header = orjson.dumps({"v": VERSION, "body": body.size, "root": root})
    pieces = [_PREFIX.pack(MAGIC, len(header)), header, *body.pieces]
    crc = 0
    for piece in pieces:
        crc = crc32(piece, crc)
    pieces.append(_CRC.pack(crc))
    return pieces, crc


def to_bytes(snapshot: Snapshot) -> bytes:
    """The whole container, Stored values inline (for a changelog record)."""
    return b"".join(encode(snapshot)[0])


# --- decoding ---------------------------------------------------------------------------------

def container_crc(data) -> int:
    """The CRC a container declares, after checking that its bytes match it."""
    view = memoryview(data)
    if len(view) < _PREFIX.size + _CRC.size or bytes(view[:len(MAGIC)]) != MAGIC:
        raise SnapshotError("not a ksqlite snapshot (bad magic or too short)")
    declared = _CRC.unpack(view[-_CRC.size:])[0]
    if crc32(view[:-_CRC.size]) != declared:
        raise SnapshotError("checksum mismatch: the snapshot's bytes were changed or cut")
    return declared


def decode(data, blobs: Optional[BlobStore] = None) -> Snapshot:
    """The snapshot in a container, verified (CRC, structure) before anything is built."""
    container_crc(data)
    view = memoryview(data)
    _, header_length = _PREFIX.unpack(view[:_PREFIX.size])
    header_end = _PREFIX.size + header_length
    if header_end > len(view) - _CRC.size:
        raise SnapshotError("header longer than the snapshot")
    try:
        header = orjson.loads(view[_PREFIX.size:header_end])
    except orjson.JSONDecodeError as error:
        raise SnapshotError(f"header is not JSON: {error}") from None
    body = view[header_end:len(view) - _CRC.size]
    if not isinstance(header, dict) or header.get("v") != VERSION:
        raise SnapshotError(f"unknown snapshot version {header.get('v') if isinstance(header, dict) else header!r}")
    if header.get("body") != len(body):
        raise SnapshotError("body length does not match the header")
    return _decode_snapshot(header.get("root"), body, blobs, 0)


def _decode_snapshot(node: Any, body: memoryview, blobs: Optional[BlobStore], depth: int) -> Snapshot:
    if depth > MAX_DEPTH:
        raise SnapshotError(f"snapshots nested deeper than {MAX_DEPTH}")
    sections = _field(node, "s", "v", dict)
    snapshot = Snapshot()
    for name, section in sections.items():
        kind = section.get("t") if isinstance(section, dict) else None
        value = _decode_section(kind, section, body, blobs, depth, name)
        snapshot._sections[name] = ("i" if kind == "r" else kind, value)
    return snapshot


def _decode_section(kind: Any, node: dict, body: memoryview, blobs: Optional[BlobStore], depth: int,
                    name: str) -> Any:
    if kind == "v":
        return node.get("v")
    if kind == "n":
        return None
    if kind == "t":
        return _table(_slice(node, body), name)
    if kind == "a":
        dtype = node.get("d")
        if dtype not in ARRAY_DTYPES:
            raise SnapshotError(f"section {name}: dtype {dtype!r} is not allowed")
        data = _slice(node, body)
        if len(data) % np.dtype(dtype).itemsize:
            raise SnapshotError(f"section {name}: {len(data)} bytes is not a whole number of {dtype}")
        return np.frombuffer(data, dtype=np.dtype(dtype))
    if kind == "b":
        return bytes(_slice(node, body))
    if kind == "s":
        return _decode_snapshot(node, body, blobs, depth + 1)
    if kind == "l":
        items = _field(node, "l", "v", list)
        return [None if isinstance(item, dict) and item.get("t") == "n"
                else _decode_snapshot(item, body, blobs, depth + 1) for item in items]
    if kind == "i":
        return Stored(_decode_snapshot(node.get("v"), body, blobs, depth + 1))
    if kind == "r":
        if blobs is None:
            raise SnapshotError(f"section {name} names a blob file outside a checkpoint")
        blob, crc, size = node.get("b"), node.get("c"), node.get("n")
        if not isinstance(blob, str) or not BLOB_NAME.fullmatch(blob) or not _is_int(crc) or not _is_int(size):
            raise SnapshotError(f"section {name}: an invalid blob reference")
        return blobs.read_blob(blob, crc, size)
    raise SnapshotError(f"section {name}: unknown kind {kind!r}")


def _field(node: Any, kind: str, key: str, expected: type) -> Any:
    if not isinstance(node, dict) or node.get("t") != kind or not isinstance(node.get(key), expected):
        raise SnapshotError(f"malformed {_KIND_NAMES[kind]}")
    return node[key]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _slice(node: dict, body: memoryview) -> memoryview:
    offset, length = node.get("o"), node.get("n")
    if not _is_int(offset) or not _is_int(length) or offset + length > len(body):
        raise SnapshotError("a section lies outside the snapshot's body")
    return body[offset:offset + length]


def _table(data: memoryview, name: str) -> pa.Table:
    try:
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
        table.validate(full=True)
    except (pa.ArrowException, OSError, ValueError, TypeError) as error:
        raise SnapshotError(f"section {name}: not a valid Arrow table: {error}") from None
    if any(_has_extension(field.type) for field in table.schema):
        raise SnapshotError(f"section {name}: extension types are not state")
    return table


def _has_extension(typ: pa.DataType) -> bool:
    if isinstance(typ, pa.ExtensionType):
        return True
    return any(_has_extension(typ.field(i).type) for i in range(typ.num_fields))
