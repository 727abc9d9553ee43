"""The realm of the KINK harness alone (no kinkd): each host's keytab holds its own principal,
and host B, in its own namespace, gets a ticket for host A from the KDC living in A."""

from __future__ import annotations

import re

from .pair import KinkPair, principal


def test_each_keytab_holds_only_its_host(kink_pair: KinkPair) -> None:
    for side in (kink_pair.a, kink_pair.b):
        listed = side.sh("klist", "-k", str(side.keytab))
        assert listed.returncode == 0, listed.stderr
        assert set(re.findall(r"\S+@KINK\.TEST", listed.stdout)) == {side.principal}


def test_host_b_gets_a_ticket_for_host_a(kink_pair: KinkPair) -> None:
    b = kink_pair.b
    kinit = b.sh("kinit", "-k", "-t", str(b.keytab), b.principal)
    assert kinit.returncode == 0, kinit.stderr
    kvno = b.sh("kvno", principal("A"))
    assert kvno.returncode == 0, kvno.stderr
    assert f"{principal('A')}: kvno = " in kvno.stdout
    # B's requests crossed the veth: the KDC saw them from B's address.
    log = kink_pair.kdc_log()
    assert re.search(rf"AS_REQ .* 192\.0\.2\.2: ISSUE: .* {re.escape(b.principal)} for krbtgt/",
                     log), log
    assert re.search(rf"TGS_REQ .* 192\.0\.2\.2: ISSUE: .* {re.escape(b.principal)} for "
                     rf"{re.escape(principal('A'))}", log), log
