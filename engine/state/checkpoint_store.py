"""Checkpoint files, verified, whose large immutable parts are written once, not at every checkpoint.

A checkpoint is one snapshot container (`pyksqlite.state.snapshot`: a JSON header and Arrow/raw
sections, CRC-checked; no pickle) of the operators' state and the consumer positions it covers,
written to a temporary file, fsynced and renamed over the previous one. State that does not change
once built (a fragment's columns: only its `alive` mask changes) is a `Stored` value. The first
checkpoint holding one writes it to its own container file in `<checkpoint>.blobs/` (fsynced before
the checkpoint is renamed into place) and the checkpoint names that file with its CRC and size;
every later checkpoint holding the same value only names it again. A checkpoint therefore costs
what changed since the previous one rather than the whole state. Blob files that the newest
checkpoint no longer names (dropped or merged fragments, leftovers of a crash mid-checkpoint) are
deleted once it is in place.

Under exactly-once a checkpoint is written in two steps around the transaction that commits it
(`pyksqlite.runtime.query_task`): `write_next` puts it beside the installed one (`<name>.next`, fsynced) and
returns its identity (CRC and size), which the transaction's commit record keeps; `install_next`
renames it into place once the transaction committed (and only then deletes the blobs that only
the previous checkpoint named). `read(expected=...)` accepts only the checkpoint with that
identity: the installed file, or `<name>.next` when a crash came between the commit and the
rename (it is installed then).

Reading verifies everything before any state is built: the checkpoint's CRC, then each named
blob's (its own CRC, and the one and size the checkpoint recorded for it). Blob names are 32 hex
digits, so a checkpoint cannot point outside its blob directory. Any mismatch is a
`CheckpointError` naming the file; the caller decides what to do (a query rebuilds its state).
"""
from __future__ import annotations

import errno
import os
import stat
import uuid
from pathlib import Path
from typing import Optional

from pyksqlite.state.snapshot import BLOB_NAME, Snapshot, SnapshotError, Stored, container_crc, decode, encode


class CheckpointError(Exception):
    """A checkpoint that cannot be read: missing, unreadable, corrupt or incomplete."""

    def __init__(self, path: Path, reason: str):
        super().__init__(f"checkpoint {path}: {reason}")
        self.path = path
        self.reason = reason


class CheckpointFile:
    def __init__(self, path: Path):
        self.path = path
        self.blobs = path.with_name(path.name + ".blobs")
        self._on_disk = set(os.listdir(self.blobs)) if self.blobs.is_dir() else set()
        self._referenced: set[str] = set()
        self._written: list[Path] = []

    def exists(self) -> bool:
        return self.path.exists()

    @property
    def next_path(self) -> Path:
        return self.path.with_name(self.path.name + ".next")

    def write(self, snapshot: Snapshot) -> None:
        """Atomically replace the checkpoint with `snapshot`; its new blobs are durable first."""
        temporary = self.path.with_name(self.path.name + ".tmp")
        self._write_file(snapshot, temporary)
        # Not fsyncing the directory after the rename: if a power loss undoes it, the previous
        # checkpoint may name blobs deleted below, which reading detects (the query rebuilds).
        os.replace(temporary, self.path)
        self._delete_unreferenced()

    def write_next(self, snapshot: Snapshot) -> dict:
        """Write `snapshot` as the next checkpoint, durably, beside the installed one; its
        identity ({"crc", "size"}) for the commit that makes it the checkpoint."""
        return self._write_file(snapshot, self.next_path)

    def install_next(self) -> None:
        """Make the next checkpoint the checkpoint (its transaction committed)."""
        os.replace(self.next_path, self.path)
        self._delete_unreferenced()

    def _write_file(self, snapshot: Snapshot, path: Path) -> dict:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._referenced, self._written = set(), []
        pieces, crc = encode(snapshot, self)
        with open(path, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
            handle.flush()
            self._sync_blobs()
            os.fsync(handle.fileno())
        return {"crc": crc, "size": sum(memoryview(p).nbytes for p in pieces)}

    def read(self, expected: Optional[dict] = None) -> Snapshot:
        """The verified checkpoint, its blobs included; CheckpointError if it cannot be used.
        With `expected` (an identity from `write_next`), only that checkpoint will do: the
        installed one, or the next one, which is installed then."""
        if expected is None:
            return decode_checkpoint(self.path, _read_checkpoint(self.path), self)
        data = _read_checkpoint(self.path, missing_ok=True)
        if data is None or not _has_identity(data, expected):
            pending = _read_checkpoint(self.next_path, missing_ok=True)
            if pending is None or not _has_identity(pending, expected):
                what = "missing" if data is None else "not the one the last committed transaction names"
                raise CheckpointError(self.path, what)
            os.replace(self.next_path, self.path)   # its blobs are the ones it names: none to delete
            data = pending
        return decode_checkpoint(self.path, data, self)

    def set_aside(self) -> Optional[Path]:
        """Move an unusable checkpoint to `<name>.corrupt` (kept for inspection, one at a time)."""
        if not self.path.exists():
            return None
        aside = self.path.with_name(self.path.name + ".corrupt")
        os.replace(self.path, aside)
        return aside

    # --- blobs (engine.state.snapshot.BlobStore) ---
    def blob_for(self, stored: Stored) -> Stored:
        """`stored`, written to a blob file unless one from an earlier checkpoint holds it."""
        if stored.blob is None or stored.blob not in self._on_disk:
            self._write_blob(stored)
        self._referenced.add(stored.blob)
        return stored

    def _write_blob(self, stored: Stored) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        pieces, crc = encode(stored.value)
        path = self.blobs / name
        with open(path, "wb") as handle:
            for piece in pieces:
                handle.write(piece)
        stored.blob, stored.crc, stored.size = name, crc, sum(memoryview(p).nbytes for p in pieces)
        self._on_disk.add(name)
        self._written.append(path)

    def read_blob(self, name: str, crc: int, size: int) -> Stored:
        if not BLOB_NAME.fullmatch(name):
            raise SnapshotError(f"invalid blob name {name!r}")
        path = self.blobs / name
        try:
            data = _read_all(path)
        except OSError as error:
            raise SnapshotError(f"blob {name}: {error.strerror or error}") from None
        if len(data) != size or container_crc(data) != crc:
            raise SnapshotError(f"blob {name} is not the one the checkpoint names (size or CRC differ)")
        try:
            value = decode(data)
        except SnapshotError as error:
            raise SnapshotError(f"blob {name}: {error}") from None
        self._on_disk.add(name)
        return Stored(value, name, crc, size)

    def _sync_blobs(self) -> None:
        if not self._written:
            return
        for path in self._written:
            descriptor = os.open(path, os.O_RDONLY)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)
        directory = os.open(self.blobs, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _delete_unreferenced(self) -> None:
        for name in self._on_disk - self._referenced:
            try:
                os.remove(self.blobs / name)
            except FileNotFoundError:
                pass
        self._on_disk &= self._referenced


def decode_checkpoint(path: Path, data: bytearray, blobs: "CheckpointFile") -> Snapshot:
    try:
        return decode(data, blobs)
    except SnapshotError as error:
        raise CheckpointError(path, str(error)) from None


def _read_checkpoint(path: Path, missing_ok: bool = False) -> Optional[bytearray]:
    try:
        return _read_all(path)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise CheckpointError(path, "missing") from None
    except OSError as error:
        raise CheckpointError(path, f"unreadable ({error.strerror or error})") from None


def _has_identity(data: bytearray, identity: dict) -> bool:
    try:
        return len(data) == identity.get("size") and container_crc(data) == identity.get("crc")
    except SnapshotError:
        return False


def _read_all(path: Path) -> bytearray:
    """The bytes of a regular file (not a symlink, a FIFO or a device: whoever planted one there
    gets an error, not a hang), in a writable buffer (restored arrays may be updated in place)."""
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        info = os.fstat(descriptor)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        data = bytearray(info.st_size)
        view, done = memoryview(data), 0
        while done < len(data):
            count = os.readv(descriptor, [view[done:]])
            if count == 0:
                raise OSError(errno.EIO, "the file shrank while it was read")
            done += count
        return data
    finally:
        os.close(descriptor)
