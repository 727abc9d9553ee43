"""The users file of XAuth (``xauth { users FILE; }``, IKEv1) and EAP (``eap { users FILE;
}``, IKEv2): parsing and checking passwords, pure, and :func:`load`, which reads the file
through the configuration's secret-file rule (regular, ours, mode 0600:
``racoon2.config.files.read_secret``).

One user per line, ``NAME SECRET``; blank lines and lines starting with ``#`` are skipped::

    alice  plain:correct horse battery staple
    bob    scrypt:16384:8:1:SALT_HEX:HASH_HEX
    carol  pbkdf2-sha256:600000:SALT_HEX:HASH_HEX
    dave   nthash:32_HEX_DIGITS

``plain:`` is the rest of the line as is (spaces inside kept, trailing blanks not).  The
hashed forms are RFC 7914 scrypt (N, r, p) and RFC 8018 PBKDF2-HMAC-SHA256 (iterations) of
the UTF-8 password, from the ``cryptography`` package; :func:`hash_password` writes them.
``nthash:`` is the NT password hash (MD4 of the UTF-16LE password, RFC 2759 §8.3), which is
all EAP-MSCHAPv2 needs; it is a password equivalent for MSCHAPv2, so the file's 0600 matters.
Which secret serves which method: :data:`METHODS`.  Comparisons take constant time.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from racoon2.config.check_common import kmp_blocks
from racoon2.config.files import exists, read_secret
from racoon2.config.model import Config, ConfigWarning, Eap, Kmp, Xauth
from racoon2.eap.mschapv2 import nt_password_hash
from racoon2.errors import ConfigError

_NAME = re.compile(r"[A-Za-z0-9._@+\-\\]{1,128}")
_HEX = re.compile(r"(?:[0-9a-f]{2}){8,64}")
_NTHASH = re.compile(r"[0-9a-fA-F]{32}")
#: The secret schemes each password method can use: MSCHAPv2 needs the NT hash (from plain
#: or nthash), EAP-MD5 the password itself; a salted hash serves XAuth alone.
METHODS: Mapping[str, frozenset[str]] = MappingProxyType({
    "xauth": frozenset({"plain", "scrypt", "pbkdf2-sha256", "nthash"}),
    "mschapv2": frozenset({"plain", "nthash"}),
    "md5": frozenset({"plain"}),
})
#: Bounds that keep one check under a second and 1 GiB: a typo's cost, not an attack's.
_MAX_SCRYPT_N = 1 << 20
_MAX_ITERATIONS = 10_000_000


@dataclass(frozen=True, slots=True)
class Secret:
    """One user's password: ``scheme`` plain, scrypt, pbkdf2-sha256 or nthash with its
    parameters."""

    scheme: str
    params: tuple[int, ...]
    salt: bytes
    value: bytes

    def matches(self, password: bytes) -> bool:
        """Whether ``password`` is this one."""
        if self.scheme == "plain":
            computed = password
        elif self.scheme == "nthash":
            computed = nt_password_hash(password.decode("utf-8", "replace"))
        elif self.scheme == "scrypt":
            n, r, p = self.params
            computed = Scrypt(self.salt, len(self.value), n, r, p).derive(password)
        else:
            computed = PBKDF2HMAC(hashes.SHA256(), len(self.value), self.salt,
                                  self.params[0]).derive(password)
        return hmac.compare_digest(computed, self.value)


def _secret(text: str) -> Secret | str:
    """The secret, or why ``text`` is none."""
    scheme, _, rest = text.partition(":")
    if scheme == "plain":
        return Secret("plain", (), b"", rest.encode())
    if scheme == "nthash":
        if not _NTHASH.fullmatch(rest):
            return "expected nthash:HASH_HEX (32 hex digits: the NT hash's 16 octets)"
        return Secret("nthash", (), b"", bytes.fromhex(rest))
    fields = rest.split(":")
    counts = {"scrypt": 3, "pbkdf2-sha256": 1}
    if scheme not in counts:
        return f"found {scheme!r}, expected plain:, scrypt:, pbkdf2-sha256: or nthash:"
    want = counts[scheme]
    if len(fields) != want + 2 or not all(f.isdigit() for f in fields[:want]) \
            or not all(_HEX.fullmatch(f) for f in fields[want:]):
        layout = "N:R:P" if scheme == "scrypt" else "ITERATIONS"
        return f"expected {scheme}:{layout}:SALT_HEX:HASH_HEX (salt and hash 8-64 octets)"
    params = tuple(int(f) for f in fields[:want])
    if scheme == "scrypt" and not (1 < params[0] <= _MAX_SCRYPT_N
                                   and params[0] & (params[0] - 1) == 0
                                   and 1 <= params[1] * params[2] < 1 << 10):
        return f"scrypt N must be a power of 2 up to {_MAX_SCRYPT_N}, r x p below 1024"
    if scheme == "pbkdf2-sha256" and not 1000 <= params[0] <= _MAX_ITERATIONS:
        return f"PBKDF2 iterations must be 1000 to {_MAX_ITERATIONS}"
    return Secret(scheme, params, bytes.fromhex(fields[want]), bytes.fromhex(fields[want + 1]))


class Users:
    """The users of one file; :meth:`verify` is XAuth's callback, :meth:`nt_hash` and
    :meth:`password` the EAP methods' (:class:`racoon2.eap.server.Secrets`)."""

    def __init__(self, secrets: Mapping[str, Secret]) -> None:
        self.secrets = MappingProxyType(dict(secrets))
        # An unknown name is checked against a listed user's secret, its answer thrown away,
        # so that the time taken does not tell a client which names exist.
        self._decoy = next(iter(self.secrets.values()), None)

    def verify(self, name: str, password: bytes) -> bool:
        """Whether ``name`` exists and ``password`` is theirs."""
        secret = self.secrets.get(name)
        if secret is None:
            if self._decoy is not None:
                self._decoy.matches(password)
            return False
        return secret.matches(password)

    def nt_hash(self, name: str) -> bytes | None:
        """``name``'s NT password hash, when the file has it or the password."""
        secret = self.secrets.get(name)
        if secret is None or secret.scheme not in METHODS["mschapv2"]:
            return None
        if secret.scheme == "nthash":
            return secret.value
        return nt_password_hash(secret.value.decode())

    def password(self, name: str) -> bytes | None:
        """``name``'s password, when the file has it in the clear (``plain:``)."""
        secret = self.secrets.get(name)
        return secret.value if secret is not None and secret.scheme == "plain" else None

    def unable(self, method: str) -> list[str]:
        """The users whose secret cannot serve ``method`` (a key of :data:`METHODS`)."""
        return [n for n, s in self.secrets.items() if s.scheme not in METHODS[method]]


def parse(text: str, path: str) -> Users:
    """A users file's contents; errors name ``path:line``."""
    found: dict[str, Secret] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        where = f"{path}:{number}"
        parts = line.split(None, 1)
        if len(parts) != 2 or not _NAME.fullmatch(parts[0]):
            raise ConfigError("found a line that is not NAME SECRET, expected a user name "
                              "(letters, digits, . _ @ + - \\) and a secret", where)
        name, text_secret = parts
        if name in found:
            raise ConfigError(f"user {name!r} is listed twice, expected each once", where)
        secret = _secret(text_secret)
        if isinstance(secret, str):
            raise ConfigError(f"user {name!r}: {secret}", where,
                              "see doc/iked.md, XAuth users file")
        found[name] = secret
    return Users(found)


def load(path: str, where: str | None = None) -> Users:
    """The users file at ``path`` (``where``: the ``users`` directive's file:line); refuses
    one that is missing, not ours or readable by others, saying how to fix it."""
    data = read_secret(path, where)
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: byte {e.start} is not UTF-8, expected a text file",
                          where) from None
    return parse(text, path)


def check_users(config: Config, warnings: list[ConfigWarning]) -> None:
    """``iked -n``: every ``xauth { users FILE; }`` and ``eap { users FILE; }`` loads; a file
    not deployed yet is only a warning, as a missing ``pre_shared_key`` file; users whose
    secret cannot serve the block's method are named (a salted hash cannot do MSCHAPv2)."""
    seen: set[tuple[str, str]] = set()
    for remote, kmp, block in kmp_blocks(config):
        spec: Xauth | Eap | None = block.xauth if kmp is Kmp.IKEV1 else block.eap
        if spec is None or spec.users is None:
            continue
        method = "xauth" if isinstance(spec, Xauth) else (
            spec.method.value if spec.method else "mschapv2")
        if method not in METHODS:
            continue  # EAP-TLS: certificates, no passwords
        if (spec.users, method) in seen:
            continue
        seen.add((spec.users, method))
        where = spec.where_of("users") or spec.where
        what = "XAuth" if method == "xauth" else "EAP"
        if not exists(spec.users):
            warnings.append(ConfigWarning(where, f"{what} users file {spec.users} does not "
                                          "exist yet; create it, mode 0600 (doc/iked.md, "
                                          "XAuth users file)"))
            continue
        unable = load(spec.users, where).unable(method)
        if unable:
            need = " or ".join(f"{s}:" for s in sorted(METHODS[method]))
            warnings.append(ConfigWarning(where, f"remote {remote.name!r}: users "
                                          f"{', '.join(unable)} of {spec.users} cannot use "
                                          f"{method}: it needs {need} (doc/iked.md, XAuth "
                                          "users file)"))


def hash_password(password: str, salt: bytes, scheme: str = "scrypt") -> str:
    """The SECRET field for ``password`` with a fresh ``salt`` (16 random octets from the
    caller): scrypt N=2^15, r=8, p=1 (RFC 7914 §2's interactive-login order of cost) or
    PBKDF2-HMAC-SHA256 with 600,000 iterations (OWASP's 2023 figure)."""
    if scheme == "scrypt":
        value = Scrypt(salt, 32, 1 << 15, 8, 1).derive(password.encode())
        return f"scrypt:{1 << 15}:8:1:{salt.hex()}:{value.hex()}"
    if scheme == "pbkdf2-sha256":
        value = PBKDF2HMAC(hashes.SHA256(), 32, salt, 600_000).derive(password.encode())
        return f"pbkdf2-sha256:600000:{salt.hex()}:{value.hex()}"
    raise ValueError(f"scheme {scheme!r}: expected scrypt or pbkdf2-sha256")
