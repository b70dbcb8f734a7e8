"""A data dir on a machine shared with other users (docs/protocol.md section 11).

Each test plays the other local user: it plants a file or a symlink where the node will look
(``os.chown`` to uid 12345 stands for "another user": the tests run as root, who may do that),
then checks the node refuses with one sentence naming the file and the fix, and that nothing
outside the data dir is touched. On the old code a planted mining ``key`` was used (block
rewards to the planter) and a planted ``status.tmp`` symlink made the node overwrite its target.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from gradientcoin_edu.crypto.keys import PrivateKey
from gradientcoin_edu.datadir import open_datadir, open_log, read_private, write_atomic, write_private
from gradientcoin_edu.errors import StoreError, UsageError
from gradientcoin_edu.network.keys import SECRET_FILE, load_or_create_keypair
from gradientcoin_edu.network.service import load_or_create_key

OTHER_UID = 12345

needs_root = pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                                reason="planting a file as another user needs chown (root)")


def _planted_key(path, uid=OTHER_UID, mode=0o600) -> PrivateKey:
    key = PrivateKey.generate()
    path.write_bytes(key.to_bytes())
    os.chmod(path, mode)
    if uid is not None:
        os.chown(path, uid, -1)
    return key


@needs_root
def test_a_mining_key_planted_by_another_user_is_refused(tmp_path):
    planted = _planted_key(tmp_path / "key")
    with pytest.raises(UsageError) as err:
        load_or_create_key(tmp_path / "key")
    assert err.value.reason == "secret-not-ours"
    assert str(tmp_path / "key") in err.value.message and "another user" in err.value.message
    assert (tmp_path / "key").read_bytes() == planted.to_bytes()        # nothing changed


def test_a_mining_key_others_can_read_or_write_is_refused(tmp_path):
    _planted_key(tmp_path / "key", uid=None, mode=0o666)
    with pytest.raises(UsageError) as err:
        load_or_create_key(tmp_path / "key")
    assert err.value.reason == "secret-readable" and f"chmod 600 {tmp_path / 'key'}" in err.value.message


def test_a_symlinked_secret_is_never_followed(tmp_path):
    target = tmp_path / "elsewhere"
    _planted_key(target, uid=None)
    (tmp_path / "key").symlink_to(target)
    with pytest.raises(UsageError) as err:
        load_or_create_key(tmp_path / "key")
    assert err.value.reason == "secret-unreadable" and "symlink" in err.value.message
    with pytest.raises(UsageError):
        read_private(tmp_path / "key")


def test_our_own_key_still_loads(tmp_path):
    key = load_or_create_key(tmp_path / "key")
    assert oct((tmp_path / "key").stat().st_mode & 0o777) == "0o600"
    assert load_or_create_key(tmp_path / "key").to_bytes() == key.to_bytes()


@needs_root
def test_a_p2p_key_planted_by_another_user_is_refused(tmp_path):
    load_or_create_keypair(tmp_path)
    os.chown(tmp_path / SECRET_FILE, OTHER_UID, -1)
    with pytest.raises(StoreError) as err:
        load_or_create_keypair(tmp_path)
    assert err.value.reason == "key-file-owner" and "remove it" in err.value.message


def test_a_planted_temp_symlink_does_not_redirect_the_status_file(tmp_path):
    """The old status writer wrote ``status.tmp`` (following a symlink) and renamed it."""
    from gradientcoin_edu.node_cli import _Status
    outside = tmp_path / "victim.txt"
    outside.write_text("precious")
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "status.tmp").symlink_to(outside)
    node = SimpleNamespace(name="n", height=0, tip=bytes(32), best_chain=lambda: [], peers={}, mempool=[],
                           orphans={}, stats={"mined": 0, "reorgs": 0}, peerbook=SimpleNamespace(bans={}))
    transport = SimpleNamespace(dropped=0, listen=None, peer_states=dict, connection_stats=dict, error_counts={})
    _Status(data / "status.json", node, transport, 0.5).write()
    assert outside.read_text() == "precious"
    assert json.loads((data / "status.json").read_text())["name"] == "n"
    assert not (data / "status.json").is_symlink()


def test_write_atomic_replaces_a_planted_symlink_instead_of_writing_through_it(tmp_path):
    outside = tmp_path / "outside"
    outside.write_text("keep")
    (tmp_path / "status.json").symlink_to(outside)
    write_atomic(tmp_path / "status.json", b"{}", mode=0o644, sync=False)
    assert outside.read_text() == "keep" and (tmp_path / "status.json").read_bytes() == b"{}"
    write_private(tmp_path / "cookie", b"secret")
    assert oct((tmp_path / "cookie").stat().st_mode & 0o777) == "0o600"


def test_a_planted_log_symlink_is_refused(tmp_path):
    outside = tmp_path / "outside.log"
    outside.write_text("")
    (tmp_path / "node.log").symlink_to(outside)
    with pytest.raises(UsageError):
        open_log(tmp_path / "node.log")
    assert outside.read_text() == ""


def test_a_data_dir_others_can_write_is_refused(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    with pytest.raises(UsageError) as err:
        open_datadir(shared)
    assert err.value.reason == "datadir-shared" and f"chmod go-w {shared}" in err.value.message
    assert not (shared / ".lock").exists()                         # refused before anything was written
    os.chmod(shared, 0o755)
    open_datadir(shared).close()                                   # readable by others is fine


@needs_root
def test_a_data_dir_of_another_user_or_with_planted_files_is_refused(tmp_path):
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o700)
    os.chown(theirs, OTHER_UID, -1)
    with pytest.raises(UsageError) as err:
        open_datadir(theirs)
    assert err.value.reason == "datadir-not-ours"

    group = tmp_path / "group"                                     # writable by a group others are in
    group.mkdir()
    os.chmod(group, 0o775)
    os.chown(group, -1, OTHER_UID)
    with pytest.raises(UsageError) as err:
        open_datadir(group)
    assert err.value.reason == "datadir-shared"
    os.chown(group, -1, os.getgid())                               # our user-private group (umask 002)
    open_datadir(group).close()

    ours = tmp_path / "ours"
    ours.mkdir(mode=0o700)
    (ours / "blocks.sqlite").symlink_to(tmp_path / "elsewhere.sqlite")
    with pytest.raises(UsageError) as err:
        open_datadir(ours)
    assert err.value.reason == "datadir-symlink" and "blocks.sqlite" in err.value.message
    (ours / "blocks.sqlite").unlink()
    _planted_key(ours / "key")
    with pytest.raises(UsageError) as err:
        open_datadir(ours)
    assert err.value.reason == "datadir-foreign-file" and str(ours / "key") in err.value.message


@needs_root
@pytest.mark.processes
def test_the_node_command_refuses_a_planted_key_in_one_line(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    _planted_key(data / "key")
    r = subprocess.run([sys.executable, "-m", "gradientcoin_edu", "node", "--data-dir", str(data), "--listen",
                        "tcp://127.0.0.1:0", "--duration", "3"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(data / "key") in lines[0] and "another user" in lines[0], r.stderr
