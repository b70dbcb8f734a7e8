"""[policy] A node's long-term CURVE key pair, kept in its data dir, and safe secret-file writing.

Every connection between nodes is authenticated and encrypted with CurveZMQ (``zmq_transport``).
A node is known to its peers by its *public* key: that is the identity that gets scored, banned
and given a connection slot. The secret key must therefore never leak and never be replaced
behind the node's back:

* ``write_secret_file(path, data)`` creates a new file that nobody else can read, atomically:
  the bytes go to a temporary name created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` and mode
  0600 (so a file or symlink planted at that name makes it fail instead of writing through it,
  and the bytes are never world-readable, not even for a moment), are flushed to disk, and the
  file is then *hard-linked* to its final name (which fails if anything, even a dangling symlink,
  is there already: an existing key is never overwritten) and the temporary name removed.
* ``read_secret_file(path)`` opens with ``O_NOFOLLOW`` and refuses anything that is not a regular
  file owned by us and closed to group and others.
* ``load_or_create_keypair(datadir)`` returns ``(public, secret)`` as the 40-character Z85 bytes
  that pyzmq's CURVE options take, creating ``datadir/p2p_key`` (secret, 0600) and
  ``datadir/p2p_key.pub`` (public) on first use. Two processes creating the key at once end with
  the same key: the loser of the race reads the winner's file.

Peers are written ``PUBKEY@tcp://host:port`` (as Lightning writes ``pubkey@host:port``), the key in
hex (64 characters) or Z85 (40); ``parse_peer`` and ``format_peer`` convert.

Problems raise :class:`~gradientcoin_edu.errors.StoreError` with a ``reason``.
"""
from __future__ import annotations

import binascii
import os
import stat
from pathlib import Path

import zmq
from zmq.utils import z85

from ..errors import StoreError

__all__ = ["SECRET_FILE", "PUBLIC_FILE", "write_secret_file", "read_secret_file", "load_or_create_keypair",
           "public_key_of", "key_bytes", "key_hex", "parse_peer", "format_peer"]

SECRET_FILE = "p2p_key"
PUBLIC_FILE = "p2p_key.pub"
_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def write_secret_file(path: str | os.PathLike, data: bytes) -> None:
    """Create ``path`` holding ``data``, mode 0600, atomically; never follows or replaces anything there.

    Raises ``StoreError("file-exists")`` if ``path`` exists (a file, a directory or a symlink),
    ``StoreError("unwritable")`` if the folder cannot be written."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        fd = os.open(tmp, _FLAGS, 0o600)
    except FileExistsError:
        raise StoreError("file-exists", f"{tmp} exists already (planted?); not writing a secret there") from None
    except OSError as err:
        raise StoreError("unwritable", f"cannot create {tmp}: {err.strerror}") from None
    try:
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path, follow_symlinks=False)
        except FileExistsError:
            raise StoreError("file-exists", f"{path} exists already; not replacing it") from None
        except OSError as err:
            raise StoreError("unwritable", f"cannot create {path}: {err.strerror}") from None
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def read_secret_file(path: str | os.PathLike, max_bytes: int = 4096) -> bytes:
    """The bytes of a secret file; refuses symlinks, non-regular files and files others can read."""
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise
    except OSError as err:
        raise StoreError("key-file-unreadable", f"cannot open {path} (a symlink?): {err.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StoreError("key-file-not-regular", f"{path} is not a regular file")
        if hasattr(os, "getuid") and st.st_uid != os.getuid():
            raise StoreError("key-file-owner", f"{path} belongs to another user (uid {st.st_uid}), who may have "
                                               "planted it: remove it (a new key is made) if you did not create it")
        if st.st_mode & 0o077:
            raise StoreError("key-file-permissions",
                             f"{path} can be read by others (mode {stat.S_IMODE(st.st_mode):o}); chmod 600 {path}")
        return os.read(fd, max_bytes)
    finally:
        os.close(fd)


def public_key_of(secret: bytes) -> bytes:
    """The Z85 public key that belongs to a Z85 secret key."""
    return zmq.curve_public(secret)


def load_or_create_keypair(datadir: str | os.PathLike) -> tuple[bytes, bytes]:
    """``(public, secret)`` Z85 keys of the node whose data dir is ``datadir`` (created on first use)."""
    datadir = Path(datadir)
    try:
        datadir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as err:
        raise StoreError("unwritable", f"cannot create the data dir {datadir}: {err.strerror}") from None
    if not datadir.is_dir():
        raise StoreError("not-a-directory", f"the data dir {datadir} is not a directory")
    secret_path, public_path = datadir / SECRET_FILE, datadir / PUBLIC_FILE
    try:
        secret = read_secret_file(secret_path).strip()
    except FileNotFoundError:
        public, secret = zmq.curve_keypair()
        try:
            write_secret_file(secret_path, secret + b"\n")
        except StoreError as err:
            if err.reason != "file-exists":
                raise
            secret = read_secret_file(secret_path).strip()     # another process won the race
    try:
        public = public_key_of(secret)
    except (zmq.ZMQError, ValueError, TypeError):
        raise StoreError("key-file-corrupt", f"{secret_path} does not hold a Z85 CURVE secret key") from None
    _write_public(public_path, public)
    return public, secret


def _write_public(path: Path, public: bytes) -> None:
    """Keep ``p2p_key.pub`` in step with the secret key (it is only a convenience copy)."""
    try:
        if path.is_symlink() or (path.exists() and path.read_bytes().strip() != public):
            path.unlink()
        if not path.exists():
            fd = os.open(path, _FLAGS, 0o644)
            with os.fdopen(fd, "wb") as f:
                f.write(public + b"\n")
    except OSError:
        pass                                      # the public copy is optional; the secret is what counts


def key_bytes(key: str | bytes) -> bytes:
    """A public key given as Z85 (40 chars) or hex (64 chars): its Z85 bytes (what pyzmq takes)."""
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    key = key.strip()
    try:
        if len(key) == 64:
            return z85.encode(binascii.unhexlify(key))
        if len(key) == 40:
            z85.decode(key.encode("ascii"))
            return key.encode("ascii")
    except (ValueError, binascii.Error, UnicodeEncodeError, KeyError, IndexError):
        pass
    raise ValueError(f"a public key is 64 hex or 40 Z85 characters, not {key!r}")


def parse_peer(spec: str) -> tuple[str, bytes]:
    """``"PUBKEY@tcp://host:port"`` -> ``("tcp://host:port", z85 public key)``; ValueError if malformed."""
    key, sep, address = spec.rpartition("@tcp://")
    if not sep or not key:
        raise ValueError(f"a peer is written PUBKEY@tcp://host:port, not {spec!r}")
    return "tcp://" + address, key_bytes(key)


def format_peer(address: str, public: bytes) -> str:
    """``"HEXKEY@tcp://host:port"`` (hex: safe in shells and URLs)."""
    return binascii.hexlify(z85.decode(public)).decode("ascii") + "@" + address


def key_hex(key: str | bytes) -> str:
    """A public key (Z85 or hex) as the 64 hex characters ``--peer`` takes."""
    return binascii.hexlify(z85.decode(key_bytes(key))).decode("ascii")
