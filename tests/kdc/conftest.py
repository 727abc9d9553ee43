"""A throwaway MIT Kerberos realm (k5test) with KINK principals for two hosts, alpha and beta.

The realm lives in a temporary directory with its own krb5kdc on free localhost ports; each
test's :class:`kinkd.krb5.api.Context` reads the realm's krb5.conf directly, so nothing in the
process environment changes.  When the realm cannot be set up, every test here skips and says
exactly what is missing.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kinkd.krb5.api import Context

from .realm import Realm

REALM = "KINK.TEST"
ALPHA = f"kink/alpha.example.com@{REALM}"
BETA = f"kink/beta.example.com@{REALM}"


def _ports_free(base: int, count: int) -> bool:
    for port in range(base, base + count):
        for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
            with socket.socket(socket.AF_INET, kind) as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    return False
    return True


def _free_portbase() -> int:
    # k5test uses portbase..portbase+9; other suites on this machine run KDCs too.
    rng = random.Random()
    for _ in range(50):
        base = rng.randrange(20000, 30000, 10)
        if _ports_free(base, 10):
            return base
    pytest.skip("no 10 consecutive free localhost ports for the test KDC in 20000-30000")


def _setup_problem() -> str | None:
    try:
        import k5test  # noqa: F401
    except ImportError:
        return "the k5test package is not installed (pip install k5test: the test extras)"
    for tool in ("/usr/sbin/krb5kdc", "/usr/sbin/kdb5_util", "/usr/sbin/kadmin.local"):
        if not os.access(tool, os.X_OK):
            return f"{tool} is missing (apt-get install krb5-kdc krb5-admin-server)"
    if shutil.which("krb5-config") is None and not os.path.exists("/usr/bin/krb5-config"):
        return "krb5-config is missing (apt-get install libkrb5-dev)"
    try:
        Context().close()
    except (OSError, AttributeError) as e:  # no library, or one lacking a needed symbol
        return f"libkrb5 cannot be loaded ({e}; apt-get install libkrb5-3)"
    return None


@pytest.fixture(scope="session")
def realm() -> Iterator[Realm]:
    """Start the realm's KDC once for the whole session; stop it and remove it afterwards."""
    problem = _setup_problem()
    if problem:
        pytest.skip(problem)
    from k5test import K5Realm

    portbase = _free_portbase()
    try:
        k5 = K5Realm(
            realm=REALM,
            portbase=portbase,
            krb5_conf={
                "libdefaults": {"rdns": "false", "dns_lookup_realm": "false"},
                "realms": {"$realm": {"kdc": "127.0.0.1:$port0"}},
            },
            create_user=False,
            create_host=False,
            get_creds=False,
        )
    except Exception as e:  # k5test raises bare Exception for a failed command
        pytest.skip(f"the test KDC could not be set up: {e}")
    try:
        tmp = Path(k5.tmpdir)
        keytabs = {}
        for name, princ in (("alpha", ALPHA), ("beta", BETA)):
            k5.addprinc(princ)
            keytabs[name] = f"FILE:{tmp / (name + '.keytab')}"
            k5.extract_keytab(princ, keytabs[name])
        yield Realm(
            name=REALM,
            krb5_conf=tmp / "krb5.conf",
            kdc_port=portbase,
            alpha=ALPHA,
            beta=BETA,
            alpha_keytab=keytabs["alpha"],
            beta_keytab=keytabs["beta"],
            tmpdir=tmp,
        )
    finally:
        k5.stop()


@pytest.fixture
def alpha_ctx(realm: Realm) -> Iterator[Context]:
    """Host alpha's krb5 context (the KINK initiator in most tests)."""
    with Context(realm.krb5_conf) as ctx:
        yield ctx


@pytest.fixture
def beta_ctx(realm: Realm) -> Iterator[Context]:
    """Host beta's krb5 context (the responder)."""
    with Context(realm.krb5_conf) as ctx:
        yield ctx
