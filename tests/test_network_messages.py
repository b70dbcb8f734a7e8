"""The wire codec: every message round-trips, and any other bytes raise InvalidMessage with a reason."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.crypto.hashes import sha256d
from gradientcoin_edu.errors import InvalidMessage
from gradientcoin_edu.network import messages as m
from gradientcoin_edu.network.peers import PeerBook, PeerPolicy

H = bytes(range(32))

EXAMPLES = [
    m.Version(genesis=H, best_height=7, best_hash=H[::-1], nonce=12345, listen="tcp://127.0.0.1:5000"),
    m.Verack(),
    m.Ping(99), m.Pong(2**64 - 1),
    m.Inv((m.InvItem(m.INV_BLOCK, H), m.InvItem(m.INV_TX, H[::-1]))),
    m.GetData((m.InvItem(m.INV_TX, H),)),
    m.NotFound(()),
    m.GetBlocks((H, H[::-1]), bytes(32)),
    m.BlockMsg(b"\x01\x02\x03"),
    m.TxMsg(b"tx-bytes"),
]


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda x: x.command)
def test_round_trip(msg):
    raw = m.encode(msg)
    assert m.decode(raw) == msg
    assert m.peek_command(raw) == msg.command
    assert len(raw) == m.HEADER_BYTES + len(msg.payload())


def _envelope(command: bytes, payload: bytes, length: int | None = None, checksum: bytes | None = None) -> bytes:
    return (m.MAGIC + command.ljust(12, b"\x00")
            + struct.pack("<I", len(payload) if length is None else length)
            + (sha256d(payload)[:4] if checksum is None else checksum) + payload)


@pytest.mark.parametrize("raw, reason", [
    (b"", "too-short"),
    (b"GCed" + b"\x00" * 10, "too-short"),
    (b"XXXX" + m.encode(m.Verack())[4:], "bad-magic"),
    (_envelope(b"VERACK", b""), "bad-command"),
    (_envelope(b"ver\x00ack", b""), "bad-command"),
    (_envelope(b"teleport", b""), "unknown-command"),
    (_envelope(b"ping", b"\x00" * 8, length=9), "length-mismatch"),
    (_envelope(b"ping", b"\x00" * 8, checksum=b"\x00\x00\x00\x00"), "bad-checksum"),
    (_envelope(b"ping", b"\x00" * 7), "truncated"),
    (_envelope(b"ping", b"\x00" * 9), "trailing-bytes"),
    (_envelope(b"inv", b"\x01\x07" + H), "bad-inv-kind"),
    (_envelope(b"inv", b"\x05\x01" + H), "truncated"),
    (_envelope(b"inv", b"\xfd\x01\x00" + (b"\x01" + H)), "non-canonical-varint"),
    (_envelope(b"inv", b"\xfd" + struct.pack("<H", m.MAX_INV_ITEMS + 1)), "too-many-items"),
    (_envelope(b"getblocks", b"\x66" + H * 102 + H), "too-many-items"),
    (_envelope(b"block", b""), "empty-object"),
    (_envelope(b"version", struct.pack("<I", 1) + H + struct.pack("<I", 0) + H + struct.pack("<Q", 0)
               + b"\x02\xff\xfe" + b"\x00"), "bad-string"),
])
def test_malformed_messages_are_rejected_with_a_reason(raw, reason):
    with pytest.raises(InvalidMessage) as err:
        m.decode(raw)
    assert err.value.reason == reason


def test_oversized_messages_are_rejected_before_parsing():
    big = m.encode(m.BlockMsg(b"x" * 1000))
    with pytest.raises(InvalidMessage) as err:
        m.decode(big, max_payload=999)
    assert err.value.reason == "oversized"
    # a lying length field is refused without reading the payload
    with pytest.raises(InvalidMessage) as err:
        m.decode(_envelope(b"block", b"x", length=2**32 - 1))
    assert err.value.reason == "oversized"


def test_records_refuse_bad_fields():
    with pytest.raises(ValueError):
        m.InvItem(3, H)
    with pytest.raises(ValueError):
        m.InvItem(m.INV_TX, b"short")
    with pytest.raises(ValueError):
        m.GetBlocks((H,) * (m.MAX_LOCATOR + 1))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_decoding_random_bytes_never_crashes(data):
    try:
        m.decode(data)
    except InvalidMessage:
        pass


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(EXAMPLES), st.data())
def test_any_single_byte_change_is_detected_or_harmless(msg, data):
    raw = bytearray(m.encode(msg))
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] ^= data.draw(st.integers(1, 255))
    try:
        decoded = m.decode(bytes(raw))
    except InvalidMessage:
        return
    # the checksum covers the payload, so only a header change can survive; it must then be a
    # well-formed message in its own right
    assert m.encode(decoded) == bytes(raw)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([m.INV_TX, m.INV_BLOCK]), st.binary(min_size=32, max_size=32)),
                max_size=50))
def test_inv_round_trips(items):
    msg = m.Inv(tuple(m.InvItem(k, h) for k, h in items))
    assert m.decode(m.encode(msg)) == msg


# ----------------------------------------------------------------------------- peer book

def test_peer_book_bans_at_the_threshold():
    book = PeerBook(PeerPolicy(ban_score=100, ban_seconds=60))
    for _ in range(4):
        assert book.misbehaving("p", "malformed-message", now=0.0) is False
    assert book.misbehaving("p", "malformed-message", now=0.0) is True
    assert book.is_banned("p", now=59.0) and not book.is_banned("p", now=61.0)
    assert book.summary()["p"]["offences"] == {"malformed-message": 5}


def test_token_bucket_drops_floods():
    book = PeerBook(PeerPolicy(rate=10.0, burst=20.0, ban_score=100))
    allowed = sum(book.allow_message("p", now=0.0) for _ in range(50))
    assert allowed == 20
    assert book.get("p", 0.0).dropped == 30
    assert book.allow_message("p", now=1.0)          # refilled: 10 tokens per second
