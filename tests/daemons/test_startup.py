"""spmd, iked and kinkd RUN on the original samples, each optional include switched on in turn.

In a namespace whose eth0 has IPv4, IPv6 global and link-local addresses (tests/daemons/host.py)
each daemon starts, opens its sockets on every address MY_IP stands for (the link-local one
with its zone: ``fe80::…%eth0``), answers SIGUSR1 and SIGHUP, and on SIGTERM exits 0 with no
traceback in its log, its sockets closed and no kernel policy left behind.
"""

from __future__ import annotations

import signal

import pytest
from host import Host, krb5_missing

#: (include, whether kinkd is started too: it needs a realm, and only KINK samples use it).
CASES = [(None, True), ("transport_ike.conf", False), ("tunnel_ike.conf", False),
         ("tunnel_ike_natt.conf", False), ("transport_kink.conf", True),
         ("local-test.conf", False)]
STATUS = {"spmd": "status: ", "iked": "trace on; status", "kinkd": "status {"}
RELOADED = {"spmd": "reloaded ", "iked": "reloaded ", "kinkd": "reloaded "}


def expected_sockets(host: Host, port: int) -> set[str]:
    """What ``ss`` shows for a daemon bound to MY_IP port ``port`` on this host."""
    return {f"192.0.2.1:{port}", f"[2001:db8::1]:{port}", f"[{host.link_local}]%eth0:{port}",
            f"127.0.0.1:{port}", f"[::1]:{port}"}


@pytest.mark.parametrize(("extra", "with_kinkd"), CASES,
                         ids=[c[0] or "racoon2.conf" for c in CASES])
def test_daemons_run_on_the_original_sample(host: Host, extra: str | None,
                                            with_kinkd: bool) -> None:
    if with_kinkd and krb5_missing():
        pytest.skip(f"kinkd needs {krb5_missing()} for its realm (tests/harness/setup-host.sh)")
    host.install(extra)
    daemons = ["spmd", "iked"] + (["kinkd"] if with_kinkd else [])
    if with_kinkd:
        host.start_realm()  # in parallel with spmd and iked starting
    host.start("spmd")
    host.wait_spmd()
    host.start("iked")
    if with_kinkd:
        host.wait_realm()
        host.start("kinkd")
    host.wait_log("iked", lambda t: t.count("listening on") >= 5, "5 'listening on' lines")
    if with_kinkd:
        host.wait_log("kinkd", lambda t: t.count("listening on") >= 5,
                      "5 'listening on' lines")

    listening = host.udp_listening()
    assert expected_sockets(host, 500) <= listening, listening
    if with_kinkd:
        assert expected_sockets(host, 910) <= listening, listening
    assert f"listening on {host.link_local}%eth0[500]" in host.log("iked")

    for sig, marks in ((signal.SIGUSR1, STATUS), (signal.SIGHUP, RELOADED)):
        for d in daemons:
            host.signal(d, sig)
        for d in daemons:
            host.wait_log(d, lambda t, m=marks[d]: m in t, repr(marks[d]))
    assert expected_sockets(host, 500) <= host.udp_listening()  # still there after SIGHUP

    for d in reversed(daemons):  # spmd last: iked and kinkd say goodbye to it
        assert host.stop(d) == 0, f"{d} exited non-zero:\n{host.log(d)[-3000:]}"
        assert "Traceback" not in host.log(d), host.log(d)
    assert host.ns.policies() == []
    assert not {s for s in host.udp_listening() if s.endswith((":500", ":910"))}


def test_the_original_tunnel_kink_is_refused_with_its_line(host: Host) -> None:
    """tunnel_kink.conf has a syntax error in the original: every daemon says where, exits 1."""
    conf = host.install("tunnel_kink.conf")
    for d in ("spmd", "iked", "kinkd"):
        host.start(d)
        assert host.procs[d].wait(15) == 1, host.log(d)
        assert f"{conf.parent / 'tunnel_kink.conf'}:16: found '}}', expected ';'" in host.log(d)
