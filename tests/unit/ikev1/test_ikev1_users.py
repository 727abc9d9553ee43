"""The XAuth users file (iked/users.py).  Known answers: RFC 7914 §12's scrypt vector
(P "password", S "NaCl", N 1024, r 8, p 16) and §11's PBKDF2-HMAC-SHA256 vector (P "passwd",
S "salt", c 1), both 64 octets."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from iked import users
from iked.users import Secret
from racoon2.errors import ConfigError

SCRYPT_KAT = bytes.fromhex(
    "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162"
    "2eaf30d92e22a3886ff109279d9830dac727afb94a83ee6d8360cbdfa2cc0640")
PBKDF2_KAT = bytes.fromhex(
    "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
    "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
SALT = bytes.fromhex("000102030405060708090a0b0c0d0e0f")


def test_rfc_7914_vectors() -> None:
    assert Secret("scrypt", (1024, 8, 16), b"NaCl", SCRYPT_KAT).matches(b"password")
    assert not Secret("scrypt", (1024, 8, 16), b"NaCl", SCRYPT_KAT).matches(b"Password")
    assert Secret("pbkdf2-sha256", (1,), b"salt", PBKDF2_KAT).matches(b"passwd")


def test_the_file_format() -> None:
    line = users.hash_password("opensesame", SALT, "pbkdf2-sha256")
    assert line.startswith("pbkdf2-sha256:600000:000102030405060708090a0b0c0d0e0f:")
    text = ("# XAuth users\n\n"
            "alice   plain:correct horse  \n"
            f"bob\t{line}\n"
            "  # indented comment\n"
            f"carol@example.org scrypt:1024:8:16:{b'NaClNaCl'.hex()}:{'00' * 32}\n")
    u = users.parse(text, "/etc/racoon2/xauth.users")
    assert u.verify("alice", b"correct horse")       # inner spaces kept, trailing not
    assert not u.verify("alice", b"correct horse  ")
    assert u.verify("bob", b"opensesame") and not u.verify("bob", b"opensesam")
    assert not u.verify("carol@example.org", b"x") and not u.verify("dave", b"x")


def test_an_unknown_name_costs_a_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    # The time a check takes must not tell which names exist: an unknown name still derives a
    # key (a listed user's secret, its result discarded), and is refused even when the
    # password is that user's.
    u = users.parse(f"bob {users.hash_password('opensesame', SALT)}\n", "f")
    derived: list[bytes] = []
    real = users.Scrypt.derive
    monkeypatch.setattr(users.Scrypt, "derive",
                        lambda self, data: derived.append(data) or real(self, data))
    assert not u.verify("mallory", b"opensesame")
    assert derived == [b"opensesame"]
    assert not users.parse("", "f").verify("anyone", b"x")


def test_scrypt_hash_round_trip() -> None:
    line = users.hash_password("pässword", SALT)
    assert line.startswith(f"scrypt:32768:8:1:{SALT.hex()}:")
    assert users.parse(f"u {line}\n", "f").verify("u", "pässword".encode())
    with pytest.raises(ValueError, match="expected scrypt"):
        users.hash_password("x", SALT, "md5")


@pytest.mark.parametrize(("line", "message"), [
    ("alice", "not NAME SECRET"),
    ("al ice:x plain:y", "found 'ice'"),
    ("a/b plain:x", "not NAME SECRET"),
    ("alice md5:abc", "expected plain:, scrypt:, pbkdf2-sha256: or nthash:"),
    ("alice scrypt:1024:8:1:00:00", "SALT_HEX:HASH_HEX"),
    ("alice scrypt:1000:8:1:" + "00" * 16 + ":" + "00" * 32, "power of 2"),
    ("alice scrypt:2097152:8:1:" + "00" * 16 + ":" + "00" * 32, "power of 2"),
    ("alice pbkdf2-sha256:10:" + "00" * 16 + ":" + "00" * 32, "1000 to"),
    ("alice pbkdf2-sha256:x:" + "00" * 16 + ":" + "00" * 32, "ITERATIONS"),
])
def test_errors_name_the_line(line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        users.parse(f"# users\n{line}\n", "/etc/racoon2/xauth.users")
    assert e.value.where == "/etc/racoon2/xauth.users:2"


def test_a_user_twice() -> None:
    with pytest.raises(ConfigError, match="listed twice") as e:
        users.parse("a plain:x\na plain:y\n", "f")
    assert e.value.where == "f:2"


def test_load_demands_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "xauth.users"
    path.write_text("alice plain:s3cret\n")
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600") as e:
        users.load(str(path), "racoon2.conf:12")
    assert e.value.where == "racoon2.conf:12"
    os.chmod(path, 0o600)
    assert users.load(str(path)).verify("alice", b"s3cret")
    path.write_bytes(b"alice plain:\xff\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        users.load(str(path))
    with pytest.raises(ConfigError, match="No such file"):
        users.load(str(tmp_path / "missing"))
