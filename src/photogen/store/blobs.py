"""Blob storage port with two adapters: a local folder (default) and any fsspec URL (s3://, memory://)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Protocol

from photogen.domain.errors import PhotogenError

PARTIAL_PREFIX = ".partial-"  # a write in progress: bytes go here first, then are renamed into place


class BlobMissing(PhotogenError):
    code = "blob_missing"


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove `key`; removing a missing key is not an error."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self) -> list[str]: ...


def _check_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"bad blob key {key!r}")
    return key


class LocalBlobStore:
    """Blobs as files under one folder; each write lands whole (temporary file, then rename)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        return self.root / _check_key(key)

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL_PREFIX)
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise BlobMissing(f"blob {key} is missing", hint="the stored file was removed outside photogen") from None

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def keys(self) -> list[str]:
        return sorted(
            str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file() and not p.name.startswith(PARTIAL_PREFIX)
        )

    def sweep_leftovers(self, grace_s: float) -> int:
        """Remove partial files and empty folders (a deleted job's, an upload's) older than `grace_s` seconds."""
        cutoff = time.time() - grace_s
        removed = 0
        for partial in self.root.rglob(f"{PARTIAL_PREFIX}*"):
            if partial.is_file() and partial.stat().st_mtime < cutoff:
                partial.unlink(missing_ok=True)
                removed += 1
        # Ages are read before anything goes: removing a child folder makes its parent look new.
        old = {p for p in self.root.rglob("*") if p.is_dir() and p.stat().st_mtime < cutoff}
        for folder in sorted(old, key=lambda p: len(p.parts), reverse=True):  # deepest first
            try:
                if not any(folder.iterdir()):
                    folder.rmdir()
                    removed += 1
            except OSError:  # filled or removed meanwhile
                continue
        return removed


class FsspecBlobStore:
    """Blobs in any fsspec filesystem, e.g. an S3-compatible bucket: `s3://bucket/prefix`."""

    def __init__(self, url: str, **storage_options) -> None:
        import fsspec

        self.fs, self.base = fsspec.core.url_to_fs(url, **storage_options)
        self.base = self.base.rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self.base}/{_check_key(key)}"

    def put(self, key: str, data: bytes) -> None:
        self.fs.pipe_file(self._path(key), data)

    def get(self, key: str) -> bytes:
        try:
            return self.fs.cat_file(self._path(key))
        except FileNotFoundError:
            raise BlobMissing(f"blob {key} is missing") from None

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self._path(key))
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        return self.fs.exists(self._path(key))

    def keys(self) -> list[str]:
        if not self.fs.exists(self.base):
            return []
        prefix = len(self.base) + 1
        return sorted(p[prefix:] for p in self.fs.find(self.base))


def blob_store_for(url: str) -> BlobStore:
    """A local folder for plain paths and file:// URLs, fsspec for everything else."""
    if "://" not in url:
        return LocalBlobStore(Path(url).expanduser())
    if url.startswith("file://"):
        return LocalBlobStore(Path(url.removeprefix("file://")))
    return FsspecBlobStore(url)


LEFTOVER_GRACE_S = 15 * 60  # younger partial files may be a write under way in another process


def sweep_leftovers(store: BlobStore, *, grace_s: float = LEFTOVER_GRACE_S) -> int:
    """Remove what interrupted writes leave in a local store: `.partial-*` files and folders left empty."""
    return store.sweep_leftovers(grace_s) if isinstance(store, LocalBlobStore) else 0
