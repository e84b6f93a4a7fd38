"""Where large sealed objects (attachment ciphertexts) live, outside the database.

A BlobStore only ever sees ciphertext: callers seal before `put` and verify and open
after `get`. The local store is one file per key; a database or S3 store can replace
it behind the same three calls.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

# Keys are ids we generate (UUIDs); anything else could escape the directory.
_KEY = re.compile(r"^[0-9a-f-]{36}$")


class BlobMissing(LookupError):
    """No blob is stored under this key."""


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """Raises BlobMissing if nothing is stored under `key`."""
        ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing blob is not an error."""
        ...


class LocalBlobStore:
    """Files in one directory (created 0700), written to a temporary file and renamed
    into place so a reader never sees half a blob."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    # File work runs in a thread: a 10 MiB write with fsync must not stall the loop.
    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, self._path(key), data)

    async def get(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self._path(key).read_bytes)
        except FileNotFoundError:
            raise BlobMissing(key) from None

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    def _put(self, path: Path, data: bytes) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def path_of(self, key: str) -> Path:
        """The file holding `key` (for operators and tests)."""
        return self._path(key)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError("blob keys are UUIDs")
        return self.directory / key
