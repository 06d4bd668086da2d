"""A real small disk for the full-disk tests: a 2 MiB tmpfs mounted under the test's tmp_path.

Mounting needs root (CI runs as root); elsewhere the tests that use it skip, saying why.
`fill` takes all the free space with a filler file, `free` gives it back.
"""
from __future__ import annotations

import errno
import os
import subprocess
from pathlib import Path

import pytest

SIZE = "2m"


class SmallDisk:
    def __init__(self, path: Path):
        self.path = path
        self._filler = path / "filler"

    def fill(self) -> None:
        """Write until ENOSPC, in pages and then byte by byte: no byte is left."""
        with open(self._filler, "ab", buffering=0) as f:
            for block in (b"\0" * 4096, b"\0"):
                try:
                    while f.write(block):
                        pass
                except OSError as error:
                    if error.errno != errno.ENOSPC:
                        raise

    def free(self) -> None:
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def small_disk(tmp_path):
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield SmallDisk(mount_point)
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
