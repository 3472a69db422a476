"""Item code format: encode/verify round trip, tamper resistance, keys, PINs."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import pickle
import random
import secrets

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anticounterfeit.codes.format import (
    ALPHABET,
    CODE_LENGTH,
    INDEX_LIMIT,
    CodeKey,
    DecodedCode,
    Keyring,
    decode_payload,
    derive_pin,
    encode_code,
    iter_codes,
    verify_code,
    verify_pin,
)
from anticounterfeit.gs1.gtin import gtin_check_digit

SECRET_A = bytes(range(32))
SECRET_B = bytes(range(1, 33))
KEY = CodeKey.from_secret(17, SECRET_A)
RING = Keyring([KEY])
GTIN = "09506000134352"
OTHER_GTIN = "04006381333931"

kids = st.integers(1, 4095)
indexes = st.integers(0, INDEX_LIMIT - 1)
gtins = st.text(alphabet="0123456789", min_size=13, max_size=13).map(
    lambda body: body + str(gtin_check_digit(body))
)
secrets_ = st.binary(min_size=32, max_size=64)


def test_alphabet_properties() -> None:
    assert len(ALPHABET) == 26
    assert len(set(ALPHABET)) == 26
    assert not set(ALPHABET) & set("01ILOUBSGZ")
    qr_alphanumeric = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")
    assert set(ALPHABET) <= qr_alphanumeric
    assert 26**CODE_LENGTH > 2**94


def test_known_vector_is_stable() -> None:
    # Pins the format: a change here invalidates every code already printed.
    code = encode_code(KEY, 12345, GTIN)
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(ALPHABET)
    assert code == "24XDCRK3Y6A249D5JDYE"
    assert derive_pin(KEY, 12345, 6) == "188619"


def _reference_encode(kid: int, secret: bytes, index: int, gtin: str) -> str:
    """The format written straight from docs/codes.md, without any of the speed-ups."""

    def subkey(purpose: bytes) -> bytes:
        return hmac.new(secret, b"scanguard/v1/" + purpose, hashlib.sha256).digest()

    data = kid.to_bytes(2, "big") + index.to_bytes(5, "big") + gtin.encode("ascii")
    digest = hashlib.blake2b(data, digest_size=8, key=subkey(b"mac")).digest()
    tag = int.from_bytes(digest, "big") >> 22
    mask_digest = hashlib.blake2b(
        tag.to_bytes(6, "big"), digest_size=8, key=subkey(b"mask")
    ).digest()
    masked = index ^ int.from_bytes(mask_digest[:5], "big")
    value = (kid << 82) | (masked << 42) | tag
    chars = []
    for _ in range(CODE_LENGTH):
        value, r = divmod(value, 26)
        chars.append(ALPHABET[r])
    return "".join(reversed(chars))


def _reference_pin(kid: int, secret: bytes, index: int, length: int) -> str:
    pin_key = hmac.new(secret, b"scanguard/v1/pin", hashlib.sha256).digest()
    data = kid.to_bytes(2, "big") + index.to_bytes(5, "big")
    digest = hashlib.blake2b(data, digest_size=16, key=pin_key).digest()
    return str(int.from_bytes(digest, "big") % 10**length).zfill(length)


@settings(max_examples=300)
@given(kids, secrets_, indexes, gtins, st.integers(4, 12))
def test_matches_reference_construction(
    kid: int, secret: bytes, index: int, gtin: str, pin_length: int
) -> None:
    key = CodeKey.from_secret(kid, secret)
    assert encode_code(key, index, gtin) == _reference_encode(kid, secret, index, gtin)
    assert derive_pin(key, index, pin_length) == _reference_pin(kid, secret, index, pin_length)


def test_payload_layout() -> None:
    code = encode_code(KEY, 7, GTIN)
    payload = decode_payload(code)
    assert payload is not None
    assert payload >> 82 == 17  # kid in the top 12 bits


@settings(max_examples=300)
@given(kids, secrets_, indexes, gtins)
def test_round_trip(kid: int, secret: bytes, index: int, gtin: str) -> None:
    key = CodeKey.from_secret(kid, secret)
    code = encode_code(key, index, gtin)
    assert len(code) == CODE_LENGTH
    assert set(code) <= set(ALPHABET)
    assert verify_code(Keyring([key]), code, gtin) == DecodedCode(kid, index)
    # scanners in caps-lock or users typing lowercase, stray whitespace
    assert verify_code(Keyring([key]), f" {code.lower()}\t", gtin) == DecodedCode(kid, index)


@settings(max_examples=200)
@given(indexes, st.data())
def test_every_single_character_substitution_fails(index: int, data: st.DataObject) -> None:
    code = encode_code(KEY, index, GTIN)
    pos = data.draw(st.integers(0, CODE_LENGTH - 1))
    new = data.draw(st.sampled_from([c for c in ALPHABET if c != code[pos]]))
    assert verify_code(RING, code[:pos] + new + code[pos + 1 :], GTIN) is None


def test_all_substitutions_of_some_codes_fail() -> None:
    for index in (0, 1, 2**39, INDEX_LIMIT - 1):
        code = encode_code(KEY, index, GTIN)
        for pos in range(CODE_LENGTH):
            for new in ALPHABET:
                if new != code[pos]:
                    tampered = code[:pos] + new + code[pos + 1 :]
                    assert verify_code(RING, tampered, GTIN) is None


def test_random_valid_form_strings_do_not_verify() -> None:
    rng = random.Random(1234)
    # Use the real kid so the MAC check is what rejects them (not the keyring lookup).
    prefix = encode_code(KEY, 0, GTIN)[:2]
    for _ in range(20_000):
        guess = prefix + "".join(rng.choice(ALPHABET) for _ in range(CODE_LENGTH - 2))
        assert verify_code(RING, guess, GTIN) is None


@given(indexes, gtins)
def test_code_moved_to_another_gtin_fails(index: int, gtin: str) -> None:
    code = encode_code(KEY, index, GTIN)
    if gtin != GTIN:
        assert verify_code(RING, code, gtin) is None


@given(indexes)
def test_wrong_keyring_fails(index: int) -> None:
    code = encode_code(KEY, index, GTIN)
    same_kid_other_secret = Keyring([CodeKey.from_secret(17, SECRET_B)])
    assert verify_code(same_kid_other_secret, code, GTIN) is None
    other_kid_same_secret = Keyring([CodeKey.from_secret(18, SECRET_A)])
    assert verify_code(other_kid_same_secret, code, GTIN) is None
    assert verify_code(Keyring([]), code, GTIN) is None


def test_rotation_old_kid_still_verifies() -> None:
    old = CodeKey.from_secret(1, SECRET_A)
    new = CodeKey.from_secret(2, SECRET_B)
    ring = Keyring.from_mapping({1: SECRET_A, 2: SECRET_B})
    assert ring.kids == frozenset({1, 2})
    assert 1 in ring
    assert 3 not in ring
    assert ring.get(3) is None
    assert verify_code(ring, encode_code(old, 5, GTIN), GTIN) == DecodedCode(1, 5)
    assert verify_code(ring, encode_code(new, 5, GTIN), GTIN) == DecodedCode(2, 5)


@settings(max_examples=500)
@given(st.text(max_size=40), st.text(max_size=20))
def test_verify_never_raises(serial: str, gtin: str) -> None:
    assert verify_code(RING, serial, gtin) is None


@given(st.text(alphabet=ALPHABET + ALPHABET.lower() + "01IO -_+", min_size=18, max_size=22))
def test_verify_never_raises_near_valid_form(serial: str) -> None:
    result = verify_code(RING, serial, GTIN)
    assert result is None or result.kid == 17


def test_payload_out_of_range_rejected() -> None:
    assert decode_payload("Y" * CODE_LENGTH) is None  # 26**20 - 1 >= 2**94
    assert decode_payload("2" * CODE_LENGTH) == 0
    assert decode_payload("2" * 19) is None
    assert decode_payload("2" * 19 + "0") is None
    assert decode_payload("2" * 19 + "é") is None
    assert decode_payload("+" + "2" * 19) is None
    assert decode_payload("2_" + "2" * 18) is None


def test_bad_gtin_never_verifies() -> None:
    code = encode_code(KEY, 1, GTIN)
    for gtin in ("", "9506000134352", "0950600013435X", "٠٩٥٠٦٠٠٠١٣٤٣٥٢"):
        assert verify_code(RING, code, gtin) is None


def test_encode_validates_arguments() -> None:
    with pytest.raises(ValueError, match="index"):
        encode_code(KEY, -1, GTIN)
    with pytest.raises(ValueError, match="index"):
        encode_code(KEY, INDEX_LIMIT, GTIN)
    with pytest.raises(ValueError, match="GTIN"):
        encode_code(KEY, 0, "09506000134353")
    with pytest.raises(ValueError, match="GTIN"):
        encode_code(KEY, 0, "9506000134352")


@pytest.mark.parametrize(("kid", "secret"), [(0, SECRET_A), (4096, SECRET_A), (1, b"x" * 31)])
def test_key_validation(kid: int, secret: bytes) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - message differs per case
        CodeKey.from_secret(kid, secret)


def test_keyring_rejects_duplicate_kids() -> None:
    with pytest.raises(ValueError, match="duplicate"):
        Keyring([KEY, CodeKey.from_secret(17, SECRET_B)])


def test_key_repr_hides_secret_and_pickles_as_kid_secret() -> None:
    assert SECRET_A.hex() not in repr(KEY)
    assert repr(SECRET_A) not in repr(KEY)
    clone = pickle.loads(pickle.dumps(KEY))  # noqa: S301 - our own bytes, round trip
    assert clone == KEY
    assert encode_code(clone, 99, GTIN) == encode_code(KEY, 99, GTIN)


def test_iter_codes_matches_encode_code() -> None:
    start = INDEX_LIMIT - 1000
    produced = list(iter_codes(KEY, GTIN, start, 1000))
    assert produced == [(i, encode_code(KEY, i, GTIN)) for i in range(start, INDEX_LIMIT)]
    assert len({code for _, code in produced}) == 1000
    assert list(iter_codes(KEY, GTIN, 0, 0)) == []


def test_iter_codes_validates_range() -> None:
    with pytest.raises(ValueError, match="index range"):
        iter_codes(KEY, GTIN, INDEX_LIMIT - 1, 2)
    with pytest.raises(ValueError, match="count"):
        iter_codes(KEY, GTIN, 0, -1)


def test_sequential_indexes_give_unrelated_looking_codes() -> None:
    codes = [code for _, code in iter_codes(KEY, GTIN, 0, 200)]
    # The masked index hides the sequence: consecutive codes share no long common prefix
    # beyond the kid's leading characters.
    shared = [len(_common_prefix(a, b)) for a, b in itertools.pairwise(codes)]
    assert max(shared) <= 6


def _common_prefix(a: str, b: str) -> str:
    n = 0
    while n < len(a) and a[n] == b[n]:
        n += 1
    return a[:n]


@settings(max_examples=200)
@given(kids, secrets_, indexes, st.integers(4, 12))
def test_pin_round_trip_and_determinism(kid: int, secret: bytes, index: int, length: int) -> None:
    key = CodeKey.from_secret(kid, secret)
    pin = derive_pin(key, index, length)
    assert len(pin) == length
    assert pin.isdigit()
    assert pin == derive_pin(CodeKey.from_secret(kid, secret), index, length)
    assert verify_pin(key, index, pin, length)
    assert verify_pin(key, index, f" {pin} ", length)
    wrong = str((int(pin) + 1) % 10**length).zfill(length)
    assert not verify_pin(key, index, wrong, length)
    assert not verify_pin(key, index, pin[:-1], length)


@given(st.text(max_size=20))
def test_verify_pin_never_raises(pin: str) -> None:
    expected = derive_pin(KEY, 3, 8)
    assert verify_pin(KEY, 3, pin, 8) == (pin.strip() == expected)


def test_pin_depends_on_index_and_key() -> None:
    pins = {derive_pin(KEY, i, 12) for i in range(1000)}
    assert len(pins) == 1000
    assert derive_pin(KEY, 1, 12) != derive_pin(CodeKey.from_secret(17, SECRET_B), 1, 12)


def test_pin_distribution_is_roughly_uniform() -> None:
    counts = [0] * 10
    for i in range(5000):
        counts[int(derive_pin(KEY, i, 4)[0])] += 1
    assert min(counts) > 400
    assert max(counts) < 600


@pytest.mark.parametrize("length", [3, 13])
def test_pin_length_validated(length: int) -> None:
    with pytest.raises(ValueError, match="PIN length"):
        derive_pin(KEY, 0, length)


def test_random_secret_keys_are_independent() -> None:
    a = CodeKey.from_secret(5, secrets.token_bytes(32))
    b = CodeKey.from_secret(5, secrets.token_bytes(32))
    assert encode_code(a, 0, GTIN) != encode_code(b, 0, GTIN)
