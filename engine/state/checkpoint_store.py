"""Checkpoint files whose large immutable parts are written once, not at every checkpoint.

A checkpoint is one pickle of the operators' snapshots and the consumer positions they cover,
written to a temporary file, fsynced and renamed over the previous one. State that does not change
once built (a fragment's columns: only its `alive` mask changes) is wrapped in `Stored`. The first
checkpoint holding a `Stored` value writes it to its own file in `<checkpoint>.blobs/` (fsynced
before the checkpoint is renamed into place) and remembers the file's name; the pickle, and every
later checkpoint holding the same value, only names that file. A checkpoint therefore costs what
changed since the previous one rather than the whole state. Blob files that the newest checkpoint
no longer names (dropped or merged fragments, leftovers of a crash mid-checkpoint) are deleted once
it is in place.

The hook is `Stored.__reduce__`: while `CheckpointFile.write` runs on this thread it writes the
blob and pickles a reference; anywhere else (snapshots sent to a Kafka changelog) the value is
pickled inline, so `Stored` is an ordinary picklable wrapper outside checkpoint files.
"""
from __future__ import annotations

import os
import pickle
import threading
import uuid
from pathlib import Path
from typing import Any, Optional

_context = threading.local()       # .writer / .reader: the CheckpointFile writing or reading here


class Stored:
    """An immutable value that checkpoint files store once (see the module docstring)."""

    __slots__ = ("value", "blob")

    def __init__(self, value: Any, blob: Optional[str] = None):
        self.value = value
        self.blob = blob           # the blob file holding it, once a checkpoint wrote one

    def __reduce__(self):
        writer = getattr(_context, "writer", None)
        if writer is None:
            return (Stored, (self.value,))
        return (_stored_blob, (writer.blob_for(self),))


def _stored_blob(name: str) -> Stored:
    reader = getattr(_context, "reader", None)
    if reader is None:
        raise pickle.UnpicklingError(f"blob {name} referenced outside a checkpoint read")
    return Stored(reader.read_blob(name), name)


class CheckpointFile:
    def __init__(self, path: Path):
        self.path = path
        self.blobs = path.with_name(path.name + ".blobs")
        self._on_disk = set(os.listdir(self.blobs)) if self.blobs.is_dir() else set()
        self._referenced: set[str] = set()
        self._written: list[Path] = []

    def exists(self) -> bool:
        return self.path.exists()

    def write(self, snapshot: Any) -> None:
        """Atomically replace the checkpoint with `snapshot`; its new blobs are durable first."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._referenced, self._written = set(), []
        temporary = self.path.with_suffix(".tmp")
        _context.writer = self
        try:
            with open(temporary, "wb") as handle:
                pickle.dump(snapshot, handle, protocol=pickle.HIGHEST_PROTOCOL)
                handle.flush()
                self._sync_blobs()
                os.fsync(handle.fileno())
        finally:
            _context.writer = None
        os.replace(temporary, self.path)
        self._delete_unreferenced()

    def read(self) -> Any:
        _context.reader = self
        try:
            with open(self.path, "rb") as handle:
                return pickle.load(handle)
        finally:
            _context.reader = None

    # --- blobs ---
    def blob_for(self, stored: Stored) -> str:
        """The name of the blob file holding `stored`, writing it if this store has none yet."""
        if stored.blob is None or stored.blob not in self._on_disk:
            stored.blob = self._write_blob(stored.value)
        self._referenced.add(stored.blob)
        return stored.blob

    def _write_blob(self, value: Any) -> str:
        self.blobs.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        path = self.blobs / name
        with open(path, "wb") as handle:
            pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self._on_disk.add(name)
        self._written.append(path)
        return name

    def read_blob(self, name: str) -> Any:
        with open(self.blobs / name, "rb") as handle:
            value = pickle.load(handle)
        self._on_disk.add(name)
        return value

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
