"""Password hashing (argon2id), PIN keys, and the ids made at the edge."""

from __future__ import annotations

import re

import argon2
import pytest

from hallpass import passwords
from hallpass.ids import new_id
from hallpass.passwords import (
    dummy_verify,
    dummy_verify_async,
    hash_password,
    hash_password_async,
    needs_rehash,
    new_school_secret,
    pin_key,
    valid_pin,
    verify_password,
    verify_password_async,
)


@pytest.fixture(scope="module")
def a_hash() -> str:
    return hash_password("correct horse")


def test_the_hash_is_argon2id_with_at_least_owasps_parameters(a_hash: str) -> None:
    assert a_hash.startswith("$argon2id$")
    params = argon2.extract_parameters(a_hash)  # read back from the encoded string
    assert params.type is argon2.Type.ID
    assert params.memory_cost >= 19456
    assert params.time_cost >= 2
    assert params.parallelism >= 1
    assert params.salt_len >= 16


def test_the_right_password_verifies_and_a_wrong_one_does_not(a_hash: str) -> None:
    assert verify_password(a_hash, "correct horse") is True
    assert verify_password(a_hash, "correct horse ") is False
    assert verify_password(a_hash, "") is False


def test_each_hash_has_its_own_salt() -> None:
    first, second = hash_password("same"), hash_password("same")
    assert first != second
    assert verify_password(first, "same") and verify_password(second, "same")


def test_unicode_passwords_verify() -> None:
    assert verify_password(hash_password("contraseña ñandú 🦙"), "contraseña ñandú 🦙")


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not a hash",
        "$argon2id$v=19$m=19456,t=2,p=1$broken",
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
    ],
)
def test_a_garbage_hash_is_false_not_an_error(garbage: str) -> None:
    assert verify_password(garbage, "anything") is False


def test_an_over_long_password_is_refused_without_hashing(a_hash: str) -> None:
    assert verify_password(a_hash, "x" * (passwords.MAX_PASSWORD_LENGTH + 1)) is False


def test_weaker_or_foreign_hashes_need_a_rehash(a_hash: str) -> None:
    weak = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash("pw")
    assert needs_rehash(a_hash) is False
    assert needs_rehash(weak) is True
    assert needs_rehash("not a hash") is True


def test_the_dummy_check_is_always_false() -> None:
    assert dummy_verify("correct horse") is False
    assert dummy_verify("") is False


async def test_the_async_wrappers_agree() -> None:
    hashed = await hash_password_async("pw")
    assert await verify_password_async(hashed, "pw") is True
    assert await verify_password_async(hashed, "nope") is False
    assert await dummy_verify_async("pw") is False


# --- PINs ----------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["1234", "00000", "987654"])
def test_four_to_six_digits_are_a_pin(pin: str) -> None:
    assert valid_pin(pin)


@pytest.mark.parametrize("pin", ["", "123", "1234567", "12a4", " 1234", "1234\n", "١٢٣٤", "12.4"])
def test_anything_else_is_not_a_pin(pin: str) -> None:
    assert not valid_pin(pin)


def test_a_pin_key_is_stable_per_school_and_hides_the_pin() -> None:
    secret, other = new_school_secret(), new_school_secret()
    assert secret != other and len(secret) >= 64
    key = pin_key(secret, "1234")
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert pin_key(secret, "1234") == key  # so a PIN can be looked up
    assert pin_key(secret, "1235") != key
    assert pin_key(other, "1234") != key  # another school's secret, another key
    assert "1234" not in key


def test_a_pin_key_needs_a_secret() -> None:
    with pytest.raises(ValueError):
        pin_key("", "1234")


# --- ids -----------------------------------------------------------------------


def test_ids_are_prefixed_url_safe_and_random() -> None:
    ids = {new_id("room") for _ in range(1000)}
    assert len(ids) == 1000
    for each in ids:
        match = re.fullmatch(r"room_([0-9a-f]+)", each)
        assert match is not None
        assert len(match.group(1)) * 4 >= 64  # bits of randomness


@pytest.mark.parametrize("kind", ["", "Room", "room_x", "room-1"])
def test_an_id_kind_is_lowercase_letters(kind: str) -> None:
    with pytest.raises(ValueError):
        new_id(kind)
