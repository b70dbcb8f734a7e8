"""Keys, signatures and addresses (crypto/keys.py), with pycryptodome, hashlib, published
secp256k1 RFC 6979 vectors and the teaching curve code as independent oracles."""
from __future__ import annotations

import hashlib

import pytest
from Crypto.Hash import SHA256
from Crypto.PublicKey import ECC
from Crypto.Signature import DSS
from hypothesis import given, settings, strategies as st

from gradientcoin_edu.crypto.keys import (
    CURVE_ORDER, PrivateKey, PublicKey, address_from_str, address_of, address_to_str, normalize_signature, verify,
)
from gradientcoin_edu.crypto.teaching import SECP256K1, TOY_CURVE, Point, ecdsa_sign, ecdsa_verify
from gradientcoin_edu.errors import InvalidKey

P = SECP256K1.p
G_COMPRESSED = "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"

# Deterministic ECDSA (RFC 6979, SHA-256) test vectors for secp256k1 used across Bitcoin
# libraries (e.g. python-ecdsa, Trezor): (private key, message, r, s), s already low.
RFC6979_VECTORS = [
    (1, b"Satoshi Nakamoto",
     "934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d8",
     "2442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5"),
    (1, b"All those moments will be lost in time, like tears in rain. Time to die...",
     "8600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b",
     "547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21"),
]


@pytest.fixture(scope="module")
def alice():
    return PrivateKey.from_seed(b"alice")


def _x_without_point() -> int:
    """Smallest x for which x^3 + 7 is not a square mod p (no point has that x)."""
    return next(x for x in range(1, 100) if pow(x ** 3 + 7, (P - 1) // 2, P) != 1)


# ------------------------------------------------------------------ private keys
def test_from_seed_is_deterministic_and_distinct():
    assert PrivateKey.from_seed(b"alice") == PrivateKey.from_seed(b"alice")
    assert PrivateKey.from_seed(b"alice") != PrivateKey.from_seed(b"bob")
    expected = int.from_bytes(hashlib.sha256(b"gradientcoin-edu seed:alice").digest(), "big") % (CURVE_ORDER - 1) + 1
    assert PrivateKey.from_seed(b"alice").secret == expected


def test_private_key_bytes_round_trip(alice):
    data = alice.to_bytes()
    assert len(data) == 32 and PrivateKey.from_bytes(data) == alice
    assert PrivateKey.from_bytes((CURVE_ORDER - 1).to_bytes(32, "big")).secret == CURVE_ORDER - 1


@pytest.mark.parametrize("data", [b"", b"\x01" * 31, b"\x01" * 33, bytes(32), CURVE_ORDER.to_bytes(32, "big"),
                                  b"\xff" * 32, "00" * 32, None])
def test_bad_private_key_bytes_raise_invalid_key(data):
    with pytest.raises(InvalidKey) as err:
        PrivateKey.from_bytes(data)
    assert err.value.reason == "bad-private-key"


@pytest.mark.parametrize("secret", [0, -1, CURVE_ORDER, True, 1.5, "1"])
def test_bad_private_key_secret_raises_invalid_key(secret):
    with pytest.raises(InvalidKey) as err:
        PrivateKey(secret)
    assert err.value.reason == "bad-private-key"


def test_bad_seed_raises_invalid_key():
    with pytest.raises(InvalidKey) as err:
        PrivateKey.from_seed("alice")
    assert err.value.reason == "bad-seed"


def test_generated_keys_differ_and_repr_hides_the_secret():
    a, b = PrivateKey.generate(), PrivateKey.generate()
    assert a != b
    assert str(a.secret) not in repr(a) and a.to_bytes().hex() not in repr(a)


# ------------------------------------------------------------------ public keys
def test_public_key_of_one_is_the_generator():
    pub = PrivateKey(1).public_key()
    assert pub.to_bytes().hex() == G_COMPRESSED
    assert pub.point == (SECP256K1.gx, SECP256K1.gy)


@pytest.mark.parametrize("secret", [1, 2, 3, 12345, 2**128 + 7, CURVE_ORDER - 1])
def test_public_key_matches_pycryptodome_and_the_teaching_curve(secret):
    ours = PrivateKey(secret).public_key()
    theirs = ECC.construct(curve="secp256k1", d=secret).public_key()
    assert ours.to_bytes() == theirs.export_key(format="SEC1", compress=True)
    assert ours.to_bytes(compressed=False) == theirs.export_key(format="SEC1")
    point = secret * SECP256K1.G
    assert ours.point == (point.x, point.y)


def test_public_key_parses_compressed_and_uncompressed(alice):
    pub = alice.public_key()
    assert len(pub.to_bytes()) == 33 and len(pub.to_bytes(compressed=False)) == 65
    assert PublicKey.from_bytes(pub.to_bytes()) == pub
    assert PublicKey.from_bytes(pub.to_bytes(compressed=False)) == pub
    assert PublicKey.from_point(*pub.point) == pub


def _bad_public_keys():
    g = bytes.fromhex(G_COMPRESSED)
    x_bad = _x_without_point().to_bytes(32, "big")
    gx, gy = SECP256K1.gx.to_bytes(32, "big"), SECP256K1.gy.to_bytes(32, "big")
    return {
        "empty": b"",
        "prefix-04-with-33-bytes": b"\x04" + g[1:],
        "prefix-05": b"\x05" + g[1:],
        "one-byte-short": g[:-1],
        "one-byte-long": g + b"\x00",
        "x-not-on-curve": b"\x02" + x_bad,
        "x-not-below-p": b"\x02" + P.to_bytes(32, "big"),
        "uncompressed-off-curve": b"\x04" + gx + (SECP256K1.gy + 1).to_bytes(32, "big"),
        "uncompressed-with-02-prefix": b"\x02" + gx + gy,
        "not-bytes": G_COMPRESSED,
    }


@pytest.mark.parametrize("name,data", sorted(_bad_public_keys().items()))
def test_malformed_public_keys_raise_invalid_key(name, data):
    with pytest.raises(InvalidKey) as err:
        PublicKey.from_bytes(data)
    assert err.value.reason == "bad-public-key"


def test_point_off_the_curve_raises_invalid_key():
    with pytest.raises(InvalidKey) as err:
        PublicKey.from_point(SECP256K1.gx, SECP256K1.gy + 1)
    assert err.value.reason == "bad-public-key"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.binary(max_size=70), st.binary(min_size=32, max_size=32).map(lambda x: b"\x03" + x)))
def test_public_key_parse_of_any_bytes_round_trips_or_raises_invalid_key(data):
    try:
        pub = PublicKey.from_bytes(data)
    except InvalidKey as err:
        assert err.reason == "bad-public-key"
        return
    assert pub.to_bytes(compressed=len(data) == 33) == data


# ------------------------------------------------------------------ signatures
@pytest.mark.parametrize("secret,message,r,s", RFC6979_VECTORS)
def test_published_rfc6979_vectors(secret, message, r, s):
    signature = PrivateKey(secret).sign(message)
    assert signature.hex() == r + s
    assert PrivateKey(secret).public_key().verify(message, signature)


def test_signing_is_deterministic_64_bytes_and_low_s(alice):
    first, second = alice.sign(b"pay bob 5"), alice.sign(b"pay bob 5")
    assert first == second and len(first) == 64
    assert alice.sign(b"pay bob 6") != first
    for i in range(20):
        assert int.from_bytes(alice.sign(bytes([i])) [32:], "big") <= CURVE_ORDER // 2


def test_pycryptodome_verifies_our_signatures(alice):
    pub = ECC.construct(curve="secp256k1", d=alice.secret).public_key()
    for i in range(10):
        message = b"message %d" % i
        DSS.new(pub, "sec1").verify(SHA256.new(message), alice.sign(message))   # raises if invalid


def test_we_verify_pycryptodome_signatures_after_low_s_normalization(alice):
    key = ECC.construct(curve="secp256k1", d=alice.secret)
    pub = alice.public_key()
    for i in range(10):
        message = b"message %d" % i
        theirs = DSS.new(key, "sec1").sign(SHA256.new(message))       # randomized nonce
        assert pub.verify(message, normalize_signature(theirs))
        high_s = int.from_bytes(theirs[32:], "big") > CURVE_ORDER // 2
        assert pub.verify(message, theirs) is not high_s


def test_high_s_twin_is_valid_ecdsa_but_rejected(alice):
    message = b"malleable?"
    low = alice.sign(message)
    r, s = low[:32], int.from_bytes(low[32:], "big")
    high = r + (CURVE_ORDER - s).to_bytes(32, "big")
    pub = ECC.construct(curve="secp256k1", d=alice.secret).public_key()
    DSS.new(pub, "sec1").verify(SHA256.new(message), high)             # plain ECDSA accepts it
    assert not alice.public_key().verify(message, high)                 # we do not
    assert normalize_signature(high) == low


def test_teaching_ecdsa_agrees_with_pycryptodome(alice):
    message = b"textbook"
    r, s = ecdsa_sign(SECP256K1, alice.secret, message, k=0xC0FFEE)
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    assert alice.public_key().verify(message, signature)                # the library accepts the textbook one
    x, y = alice.public_key().point
    public = Point(SECP256K1, x, y)
    ours = alice.sign(message)
    assert ecdsa_verify(SECP256K1, public, message, (int.from_bytes(ours[:32], "big"), int.from_bytes(ours[32:], "big")))
    assert not ecdsa_verify(SECP256K1, public, b"textbooK", (r, s))


def test_wrong_message_wrong_key_and_altered_signatures_fail(alice):
    message = b"pay bob 5"
    signature = alice.sign(message)
    pub = alice.public_key()
    assert pub.verify(message, signature)
    assert not pub.verify(b"pay bob 6", signature)
    assert not PrivateKey.from_seed(b"bob").public_key().verify(message, signature)
    for position in range(64):
        altered = bytearray(signature)
        altered[position] ^= 0x01
        assert not pub.verify(message, bytes(altered)), position


@pytest.mark.parametrize("signature", [
    b"", b"\x01" * 63, b"\x01" * 65, None, "ab" * 64,
    bytes(32) + (5).to_bytes(32, "big"),                                  # r = 0
    (5).to_bytes(32, "big") + bytes(32),                                  # s = 0
    CURVE_ORDER.to_bytes(32, "big") + (5).to_bytes(32, "big"),            # r = n
    b"\xff" * 64,
])
def test_malformed_signatures_verify_false(alice, signature):
    assert alice.public_key().verify(b"hello", signature) is False
    assert verify(alice.public_key().to_bytes(), b"hello", signature) is False


def test_verify_with_bad_public_key_bytes_is_false_not_an_exception(alice):
    signature = alice.sign(b"hello")
    assert verify(alice.public_key().to_bytes(), b"hello", signature)
    assert verify(b"\x02" + bytes(32), b"hello", signature) is False
    assert verify(b"junk", b"hello", signature) is False


# ------------------------------------------------------------------ addresses
def test_address_is_sha256_of_the_compressed_key(alice):
    pub = alice.public_key().to_bytes()
    assert alice.address() == hashlib.sha256(pub).digest()[:20] == address_of(pub)
    assert len(alice.address()) == 20


def test_address_string_round_trip_and_checksum(alice):
    text = address_to_str(alice.address())
    assert text.startswith("gc1") and len(text) == 3 + 48
    checksum = hashlib.sha256(hashlib.sha256(alice.address()).digest()).digest()[:4]
    assert text == "gc1" + (alice.address() + checksum).hex()
    assert address_from_str(text) == alice.address()


def test_a_typo_in_an_address_fails_the_checksum(alice):
    text = address_to_str(alice.address())
    typo = text[:10] + ("0" if text[10] != "0" else "1") + text[11:]
    with pytest.raises(InvalidKey) as err:
        address_from_str(typo)
    assert err.value.reason == "bad-address-checksum"


@pytest.mark.parametrize("text", ["", "gc1", "bc1" + "00" * 24, "gc1" + "zz" * 24, "gc1" + "00" * 23, None])
def test_malformed_address_strings(text):
    with pytest.raises(InvalidKey) as err:
        address_from_str(text)
    assert err.value.reason == "bad-address"


def test_address_to_str_needs_20_bytes():
    with pytest.raises(InvalidKey) as err:
        address_to_str(bytes(19))
    assert err.value.reason == "bad-address"


# ------------------------------------------------------------------ the toy curve
def test_toy_curve_group_has_prime_order_199():
    curve = TOY_CURVE
    points = [(x, y) for x in range(curve.p) for y in range(curve.p) if curve.contains(x, y)]
    assert len(points) + 1 == curve.n == 199
    assert (curve.n * curve.G).x is None                          # n G = point at infinity
    assert {((k * curve.G).x, (k * curve.G).y) for k in range(1, curve.n)} == set(points)


def test_toy_curve_addition_laws():
    G = TOY_CURVE.G
    assert 2 * G == G + G and 5 * G == G + G + G + G + G
    assert 3 * G + 4 * G == 7 * G
    assert G + TOY_CURVE.infinity == G
    with pytest.raises(ValueError):
        Point(TOY_CURVE, 1, 1)


def test_toy_ecdsa_signs_and_rejects_a_forgery():
    secret, public = 42, 42 * TOY_CURVE.G
    signature = ecdsa_sign(TOY_CURVE, secret, b"toy", k=17)
    assert ecdsa_verify(TOY_CURVE, public, b"toy", signature)
    assert not ecdsa_verify(TOY_CURVE, 43 * TOY_CURVE.G, b"toy", signature)
    assert not ecdsa_verify(TOY_CURVE, public, b"toy", (signature[0], 0))
