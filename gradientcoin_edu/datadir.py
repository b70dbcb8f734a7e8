"""[policy] A node's data dir: checked, locked, and written safely.

A node keeps everything in one folder (``--data-dir``): the block store, its keys, the RPC
cookie, ``status.json`` and ``node.log``. Like bitcoind, it *locks* that folder while it runs
(``fcntl.flock`` on ``DATA_DIR/.lock``), so a second node started on the same folder is refused
with a clear message instead of both writing the same store. The lock is released by the
kernel when the process ends, even after ``kill -9``, so a crash never leaves a stale lock.

Secret files (keys, the RPC cookie) are written with :func:`write_private`: created under a
fresh random name with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode 0600 from the first byte
(never world-readable, never through a symlink someone planted), then renamed into place in
one step; :func:`write_atomic` does the same for files others may read (``status.json``).
:func:`read_private` reads a secret only if it is a regular file (not a symlink), owned by us,
and closed to group and others: on a machine shared with other users, a mining key planted by
someone else would send our block rewards to them, so it is refused with a sentence naming the
file and the fix. :func:`open_log` opens ``node.log`` for appending the same careful way.

:func:`open_datadir` turns every ordinary mistake (the path is a file, the folder is not
writable, the folder is in use) into a :class:`~gradientcoin_edu.errors.UsageError` with a
sentence that says what to do, before anything is changed. It also refuses a data dir that is
not ours or that group or others may write to (anyone who can write the folder can plant files
in it; a group-writable folder is fine when the group is our own user-private group), and a
known file in it (keys, store, log, status) that is a symlink or belongs to another user
(docs/protocol.md section 11).
"""
from __future__ import annotations

import fcntl
import os
import secrets
import stat
from pathlib import Path

from .errors import UsageError

__all__ = ["DataDir", "open_datadir", "write_private", "write_atomic", "read_private", "check_private",
           "open_log", "LOCK_NAME", "KNOWN_FILES"]

LOCK_NAME = ".lock"
# files a node keeps in its data dir: none may be a symlink or belong to another user
KNOWN_FILES = (LOCK_NAME, "blocks.sqlite", "blocks.sqlite-wal", "blocks.sqlite-shm", "blocks.sqlite-journal",
               "key", "p2p_key", "p2p_key.pub", ".cookie", "rpc.json", "status.json", "node.log", "node.out",
               "wallets")
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


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
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise UsageError("datadir-unusable",
                         f"cannot create data dir {path}: {err.strerror}; choose a folder you can write to") from None
    check_datadir(path)
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


def check_datadir(path: Path) -> None:
    """Refuse a data dir someone else controls: not ours, writable by group or others, or holding a
    planted symlink or foreign file under one of the names a node uses."""
    st = os.stat(path)
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UsageError("datadir-not-ours", f"data dir {path} belongs to another user (uid {st.st_uid}): "
                                             "use a folder of your own as --data-dir")
    if st.st_mode & 0o002 or (st.st_mode & 0o020 and not _private_group(st.st_gid)):
        raise UsageError("datadir-shared", f"data dir {path} can be written by group or others (mode "
                                           f"{stat.S_IMODE(st.st_mode):o}), who could plant keys in it: "
                                           f"chmod go-w {path}, or choose a folder of your own")
    for name in KNOWN_FILES:
        try:
            fst = os.lstat(path / name)
        except FileNotFoundError:
            continue
        if stat.S_ISLNK(fst.st_mode):
            raise UsageError("datadir-symlink", f"{path / name} is a symlink (planted?); a node never follows "
                                                "one in its data dir: remove it")
        if hasattr(os, "getuid") and fst.st_uid != os.getuid():
            raise UsageError("datadir-foreign-file", f"{path / name} belongs to another user (uid {fst.st_uid}); "
                                                     "a node uses only its own files: remove it")


def _private_group(gid: int) -> bool:
    """Is ``gid`` our own user-private group (named like us, no other member), as on Debian/Ubuntu
    with umask 002? Then group-writable means writable by us only (OpenSSH on Debian allows it too)."""
    try:
        import grp
        import pwd
        me = pwd.getpwuid(os.getuid())
        group = grp.getgrgid(gid)
    except (ImportError, KeyError):
        return False
    return gid == me.pw_gid and group.gr_name == me.pw_name and set(group.gr_mem) <= {me.pw_name}


def _read_pid(fd: int) -> str:
    try:
        return os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return ""


def write_atomic(path: str | Path, data: bytes, mode: int = 0o600, sync: bool = True) -> None:
    """Write ``data`` to ``path`` atomically, without following any symlink.

    The bytes go to a new file with a random name in the same folder (``O_EXCL | O_NOFOLLOW``:
    if anything already sits at that name, even a symlink, the call fails instead of writing
    through it), then ``os.replace`` renames it over ``path`` (a rename replaces a symlink at
    ``path`` itself, it does not write to its target). ``sync``: flush to disk before the rename.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            if sync:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def write_private(path: str | Path, data: bytes) -> None:
    """Write a secret: :func:`write_atomic` with mode 0600 (never readable by others, not for a moment)."""
    write_atomic(path, data, 0o600, sync=True)


def check_private(fd: int, path: str | Path, what: str = "secret file") -> None:
    """Raise a :class:`UsageError` unless the open file ``fd`` is a regular file of ours closed to others."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise UsageError("secret-not-a-file", f"{what} {path} is not a regular file: remove it")
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise UsageError("secret-not-ours", f"{what} {path} belongs to another user (uid {st.st_uid}), who may "
                                            "have planted it: remove it (a new one is made) if you did not create it")
    if st.st_mode & 0o077:
        raise UsageError("secret-readable", f"{what} {path} can be read or written by group or others (mode "
                                            f"{stat.S_IMODE(st.st_mode):o}): chmod 600 {path}")


def read_private(path: str | Path, what: str = "secret file") -> bytes:
    """Read a secret file: not a symlink, a regular file owned by us, closed to group and others."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW)
    except OSError as err:
        if isinstance(err, FileNotFoundError):
            raise
        raise UsageError("secret-unreadable", f"cannot open {what} {path} ({err.strerror}; a symlink is "
                                              "never followed): remove it") from None
    with os.fdopen(fd, "rb") as f:
        check_private(f.fileno(), path, what)
        return f.read()


def open_log(path: str | Path):
    """``path`` opened for appending text, created 0600; refuses a symlink or a file of another user."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW, 0o600)
    except OSError as err:
        raise UsageError("log-unwritable", f"cannot write {path}: {err.strerror} (a symlink is never "
                                           "followed): remove it") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (hasattr(os, "getuid") and st.st_uid != os.getuid()):
        os.close(fd)
        raise UsageError("log-not-ours", f"{path} is not a regular file of ours (planted?): remove it")
    return os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")
