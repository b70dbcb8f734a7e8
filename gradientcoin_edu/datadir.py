"""A node's data dir: checked, locked, and written safely.

A node keeps everything in one folder (``--data-dir``): the block store, its keys, the RPC
cookie, ``status.json`` and ``node.log``. Like bitcoind, it *locks* that folder while it runs
(``fcntl.flock`` on ``DATA_DIR/.lock``), so a second node started on the same folder is refused
with a clear message instead of both writing the same store. The lock is released by the
kernel when the process ends, even after ``kill -9``, so a crash never leaves a stale lock.

Secret files (keys, the RPC cookie) are written with :func:`write_private`: created under a
fresh random name with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 from the first byte
(never world-readable, never through a symlink someone planted), then renamed into place in
one step. :func:`open_datadir` turns every ordinary mistake (the path is a file, the folder is
not writable, the folder is in use) into a :class:`~gradientcoin_edu.errors.UsageError` with a
sentence that says what to do, before anything is changed.
"""
from __future__ import annotations

import fcntl
import os
import secrets
from pathlib import Path

from .errors import UsageError

__all__ = ["DataDir", "open_datadir", "write_private", "read_private", "LOCK_NAME"]

LOCK_NAME = ".lock"


class DataDir:
    """An open, locked data dir. ``close()`` (or the end of the process) releases the lock."""

    def __init__(self, path: Path, lock_fd: int):
        self.path = path
        self._lock_fd: int | None = lock_fd

    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def locked(self) -> bool:
        return self._lock_fd is not None

    def close(self) -> None:
        if self._lock_fd is not None:
            try:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            finally:
                os.close(self._lock_fd)
                self._lock_fd = None

    def __enter__(self) -> "DataDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"DataDir({str(self.path)!r}, locked={self.locked})"


def open_datadir(path: str | Path, what: str = "node") -> DataDir:
    """Create (if needed), check and lock ``path``; a :class:`UsageError` says what is wrong."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise UsageError("datadir-not-a-folder", f"data dir {path} is a file, not a folder: choose another --data-dir")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError("datadir-unusable",
                         f"cannot create data dir {path}: {err.strerror}; choose a folder you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError("datadir-not-writable",
                         f"data dir {path} is not writable by this user: choose a folder you can write to")
    lock_path = path / LOCK_NAME
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as err:
        raise UsageError("datadir-unusable", f"cannot open the lock file {lock_path}: {err.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = _read_pid(fd)
        os.close(fd)
        who = f" (process {holder})" if holder else ""
        raise UsageError("datadir-in-use",
                         f"data dir {path} is in use by another {what}{who}: stop it first, "
                         "or give this one its own --data-dir") from None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return DataDir(path, fd)


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


def write_private(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically, mode 0600, without following any symlink.

    The bytes go to a new file with a random name (``O_EXCL | O_NOFOLLOW``: if anything already
    sits at that name, even a symlink, the call fails instead of writing through it), then
    ``os.replace`` renames it over ``path`` (a rename replaces a symlink at ``path`` itself, it
    does not write to its target).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def read_private(path: str | Path) -> bytes:
    """Read a secret file, refusing a symlink (someone may have planted one)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read()
