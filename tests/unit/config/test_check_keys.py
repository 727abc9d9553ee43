"""iked -n and the keys rsasig needs: missing directives are errors where the auth method is
written; key files not deployed yet are warnings, as secret files are; unsafe ones errors."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from test_check import IKEV2

from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError

Load = Callable[..., Config]
Secret = Callable[..., str]


def rsasig(load: Load, secret: Secret, methods: str = "rsasig;", keys: str = "") -> Config:
    return load(IKEV2.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra=keys).replace(
        "kmp_auth_method psk;", f"kmp_auth_method {{ {methods} }};"))


@pytest.mark.parametrize(("methods", "keys", "missing"), [
    ("rsasig;", "", "signs with rsasig but has no my_public_key x509pem CERTFILE KEYFILE"),
    ("rsasig;", 'my_public_key x509pem "/c.pem";', "signs with rsasig but has no my_public_key"),
    ("rsasig;", 'my_public_key x509pem "/c.pem" "/k.pem";',
     "accepts rsasig but has no peers_public_key x509pem FILE"),
    ("psk; rsasig;", "", "accepts rsasig but has no peers_public_key x509pem FILE"),
])
def test_rsasig_without_its_keys_is_an_error_where_the_method_is(
        load: Load, secret: Secret, methods: str, keys: str, missing: str) -> None:
    cfg = rsasig(load, secret, methods, keys)
    with pytest.raises(ConfigError, match=missing) as e:
        check_config(cfg, "iked")
    assert e.value.where is not None and e.value.where.endswith(":6")
    assert e.value.hint


def test_key_files_not_deployed_yet_are_warnings(load: Load, secret: Secret) -> None:
    keys = ('my_public_key x509pem "/nonexistent/c.pem" "/nonexistent/k.pem"; '
            'peers_public_key x509pem "/nonexistent/peer.pem";')
    said = [w.message for w in check_config(rsasig(load, secret, keys=keys), "iked")]
    assert said == [f"{what} file /nonexistent/{name} does not exist yet; deploy it before "
                    "iked negotiates with it" for what, name in (
                        ("my_public_key", "c.pem"), ("my_public_key", "k.pem"),
                        ("peers_public_key", "peer.pem"))]


def test_a_private_key_must_be_0600_certificates_need_not(load: Load, secret: Secret) -> None:
    cert, peer = secret("c.pem", mode=0o644), secret("peer.pem", mode=0o644)
    key = secret("k.pem", mode=0o600)
    keys = f'my_public_key x509pem "{cert}" "{key}"; peers_public_key x509pem "{peer}";'
    assert check_config(rsasig(load, secret, keys=keys), "iked") == []
    loose = secret("k.pem", mode=0o644)
    keys = f'my_public_key x509pem "{cert}" "{loose}"; peers_public_key x509pem "{peer}";'
    with pytest.raises(ConfigError, match="0600|mode"):
        check_config(rsasig(load, secret, keys=keys), "iked")
