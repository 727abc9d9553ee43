"""Addresses that come and go while the daemons run (DHCP, a roaming laptop).

iked (and kinkd, when MIT Kerberos is installed) opens a socket (with its bypass policy) on an
address that appears and matches its ``interface`` macros, and closes the one of an address
that goes; an address still in DAD gets its socket once DAD is over.  spmd re-plans the
policies whose selectors use MY_* macros.
"""

from __future__ import annotations

import time

import pytest
from host import Host, krb5_missing

#: Appended to the original racoon2.conf: a selector pair on this host's global IPv6 addresses.
ROAMING = """
selector roam_out { direction outbound; src MY_IPV6_GLOBAL%eth0; dst 2001:db8:2::/64;
                    policy_index roam; };
selector roam_in { direction inbound; src 2001:db8:2::/64; dst MY_IPV6_GLOBAL%eth0;
                   policy_index roam; };
policy roam { action auto_ipsec; remote_index ike_trans_remote; ipsec_mode transport;
              ipsec_index { ipsec_esp; }; ipsec_level require; };
"""


def wait(check: object, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def roam_sources(host: Host) -> set[str]:
    """The source addresses of spmd's roam_out policies."""
    return {p.split()[1] for p in host.ns.policies() if "dst 2001:db8:2::/64" in p}


@pytest.mark.parametrize("with_kinkd", [False, True], ids=["iked", "iked+kinkd"])
def test_daemons_follow_address_changes(host: Host, with_kinkd: bool) -> None:
    if with_kinkd and krb5_missing():
        pytest.skip(f"kinkd needs {krb5_missing()} for its realm (tests/harness/setup-host.sh)")
    conf = host.install("transport_ike.conf")
    (conf.parent / "roam.conf").write_text(ROAMING)
    conf.write_text(conf.read_text() + f'include "{conf.parent / "roam.conf"}";\n')
    keyed = ["iked"] + (["kinkd"] if with_kinkd else [])
    if with_kinkd:
        host.start_realm()
    host.start("spmd")
    host.wait_spmd()
    host.start("iked")
    if with_kinkd:
        host.wait_realm()
        host.start("kinkd")
    for d in keyed:
        host.wait_log(d, lambda t: t.count("listening on") >= 5, "5 'listening on' lines")
    assert roam_sources(host) == {"2001:db8::1/128"}

    host.ns.ip("addr", "add", "2001:db8::5/64", "dev", "eth0", "nodad")
    host.ns.ip("addr", "add", "fe80::5/64", "dev", "eth0", "nodad")
    host.wait_log("iked", lambda t: "address 2001:db8::5 on eth0 added: listening on "
                  "2001:db8::5[500]" in t and "address fe80::5 on eth0 added: listening on "
                  "fe80::5%eth0[500]" in t, "the new addresses' sockets")
    assert {"[2001:db8::5]:500", "[fe80::5]%eth0:500"} <= host.udp_listening()
    host.wait_log("spmd", lambda t: "address 2001:db8::5 on eth0 added: policies re-planned: "
                  in t, "the re-plan")
    wait(lambda: roam_sources(host) == {"2001:db8::1/128", "2001:db8::5/128"},
         f"roam policies for 2001:db8::5: {host.ns.policies()}")

    host.ns.ip("addr", "del", "2001:db8::5/64", "dev", "eth0")
    host.wait_log("iked", lambda t: "address 2001:db8::5 on eth0 removed: closed "
                  "2001:db8::5[500]" in t, "the socket closed")
    if with_kinkd:
        text = host.wait_log("kinkd", lambda t: "address 2001:db8::5 on eth0 removed" in t,
                             "the socket closed")
        assert "address fe80::5 on eth0 added: listening on fe80::5%eth0[910]" in text
        assert "address 2001:db8::5 on eth0 added: listening on 2001:db8::5[910]" in text
        assert "address 2001:db8::5 on eth0 removed: closed 2001:db8::5[910]" in text
    assert "[2001:db8::5]:500" not in host.udp_listening()
    assert "[2001:db8::5]:910" not in host.udp_listening()
    wait(lambda: roam_sources(host) == {"2001:db8::1/128"}, "roam policy of 2001:db8::5 gone")

    # With DAD on, the address is tentative for about a second: no socket until it is over.
    host.ns.run(["sysctl", "-qw", "net.ipv6.conf.eth0.accept_dad=1"])
    host.ns.ip("addr", "add", "2001:db8::7/64", "dev", "eth0")
    assert "[2001:db8::7]:500" not in host.udp_listening()
    host.wait_log("iked", lambda t: "listening on 2001:db8::7[500]" in t, "after DAD")
    assert "tentative" not in host.ns.ip("-6", "addr", "show", "dev", "eth0")
    assert "cannot listen" not in host.log("iked")  # it did not try the tentative address

    for d in (*keyed, "spmd"):
        assert host.stop(d) == 0, host.log(d)
        assert "Traceback" not in host.log(d), host.log(d)
    assert host.ns.policies() == []
