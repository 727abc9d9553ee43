"""iked as the VPN server of the native clients (doc/iked.md), each played by
strongSwan 5.9 (PSK; EAP is not this suite's) offering that client's proposals and asking for
an IPv4 and an IPv6 address (``vips = 0.0.0.0, ::``) and DNS, in network namespaces.

One iked serves every case (restarted only to switch ``windows_legacy`` on).  Each client: the
IKE SA up under ``proposal_profile roadwarrior``, both addresses, DNS of both families and the
split subnets in the CFG_REPLY, the CHILD_SA negotiated and then refused by this host's kernel
(no ESP: exactly that is asserted), the phase1_up hook given the leases.  A reconnect gets the
same addresses.  Windows' default offer (MODP1024, SHA1 ESP) is refused until the opt-in.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from compat import Row, record, suite
from peers import (
    Namespaces,
    Proposal,
    Racoon2,
    StrongSwan,
    auth_lines,
    iked_conf,
    stop_daemons,
    wait_until,
)

V4, V6 = "198.51.100.10", "2001:db8:100::10"


@dataclass(frozen=True)
class Client:
    """A native client's offer as strongSwan proposal strings."""

    ike: str
    esp: str


#: What each native client sends, client by client (doc/iked.md, "Proposal profiles").
CLIENTS = {
    "ios": Client("aes256-sha256-modp2048,aes256-sha256-ecp256,aes256-sha256-modp1536,"
                  "aes128-sha1-modp1024,3des-sha1-modp1024",
                  "aes256-sha256-modp2048,aes256-sha256,aes128-sha1,3des-sha1"),
    "macos": Client("aes256-sha256-modp2048,aes256-sha256-ecp256,aes128-sha1-modp1024",
                    "aes256-sha256,aes128-sha1,3des-sha1"),
    "android-builtin": Client(
        "aes256-aes192-aes128-sha512-sha384-sha256-modp4096-curve25519-modp3072-modp2048,"
        "chacha20poly1305-aes256gcm16-aes128gcm16-prfsha512-prfsha256-modp4096-curve25519-"
        "modp3072-modp2048", "aes256-aes128-sha512-sha256,aes256gcm16-aes128gcm16-"
        "chacha20poly1305"),
    "strongswan-app": Client(
        "default", "aes256gcm16-aes128gcm16-chacha20poly1305-curve25519-ecp384-modp3072,"
        "aes256-aes192-aes128-sha384-sha256-sha512-sha1-curve25519-ecp384-modp3072-modp2048,"
        "aes256gcm16-aes128gcm16-chacha20poly1305,aes256-aes192-aes128-sha384-sha256-sha512-"
        "sha1"),
    "networkmanager": Client("default", "aes128-aes192-aes256-sha256-sha384-sha512-sha1,"
                             "aes128gcm16-aes192gcm16-aes256gcm16"),
    "windows-aes256-modp2048": Client(
        "aes256-sha1-sha256-sha384-modp2048,aes256-sha1-modp1024,aes256-sha256-modp1024",
        "aes256-sha1,aes128-sha1"),
}
WINDOWS = Client("aes256-sha1-modp1024,aes128-sha1-modp1024,3des-sha1-modp1024,"
                 "aes256-sha256-modp1024,aes256-sha384-modp1024",
                 "aes256-sha1,aes128-sha1,3des-sha1")


def server_conf(d: Path, profiles: str) -> str:
    """B (192.0.2.2) as the VPN server: any client with the key, two pools, DNS v4/v6, a
    split-DNS domain, the networks behind it as split subnets, a phase1_up hook."""
    return iked_conf(d, "192.0.2.2", "rw", f"""my_id ipaddr "192.0.2.2";
        peers_ipaddr IP_RW;
        proposal_profile {{ {profiles} }};
        {auth_lines(d)}
        provide {{ addresspool {{ rw4; rw6; }}; dns {{ 192.0.2.53; 2001:db8::53; }};
                   dns_domain corp.example; }};
        script {{ phase1_up "{d}/hook"; }};
        interval_to_send 1 sec;
        max_retry_to_send 3;""", ('{ "198.51.100.16/28"; "2001:db8:16::/64"; }', "IP_RW"),
                     ("192.0.2.2", "IP_RW"), "esp_enc_alg { aes256_gcm16; };", """\
addresspool rw4 { 198.51.100.10 - 198.51.100.20; };
addresspool rw6 { 2001:db8:100::10 - 2001:db8:100::20; };
""")


class Rig:
    """The namespaces, the server (restarted when its profiles change) and one client."""

    def __init__(self, tmp: Path) -> None:
        self.ns = Namespaces("cp")
        self.tmp = tmp
        self.server = Racoon2(self.ns, "B", tmp / "server")
        hook = self.server.d / "hook"
        hook.write_text(f'#!/bin/sh\n/usr/bin/env > "{self.server.d}/hook.$1"\n')
        hook.chmod(stat.S_IRWXU)
        self.profiles = ""
        self.cases = 0

    def serve(self, profiles: str) -> None:
        """iked with ``proposal_profile { profiles }``."""
        if profiles != self.profiles:
            self.server.stop()
            self.server.start(server_conf(self.server.d, profiles))
            self.profiles = profiles

    def client(self, c: Client, identity: str | None = None) -> StrongSwan:
        """charon on A offering ``c``'s proposals, asking for both addresses; its IKE identity
        ``identity`` (default: its address)."""
        self.cases += 1
        d = self.tmp / f"client{self.cases}"
        # The resolve plugin asks for DNS of each family (like the native clients) and
        # writes what it gets to its own file, never the host's resolv.conf.
        ss = StrongSwan(self.ns, "A", d, plugins="resolve")
        ss.start(4, True, _proposal(c), initiator=True, kernel="netlink",
                 nets=("dynamic", "198.51.100.16/28,2001:db8:16::/64"),
                 extra_conn="vips = 0.0.0.0, ::", local_id=identity,
                 extra_charon=f"plugins {{\n    resolve {{\n      file = {d}/resolv.conf\n"
                              "    }\n  }")
        return ss

    def close(self) -> None:
        stop_daemons(self.server.procs, ("iked", "spmd"))
        self.ns.close()


def _proposal(c: Client) -> Proposal:
    return Proposal(("", "", "", ""), ("", ""), c.ike, c.esp, "", "")


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    if os.geteuid() != 0:
        pytest.skip("interop tests need root to create network namespaces")
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")
    r = Rig(tmp_path_factory.mktemp("native"))
    try:
        yield r
    finally:
        r.close()


def _count(text: str, pattern: str) -> int:
    return len(re.findall(pattern, text))


def connect(rig: Rig, ss: StrongSwan) -> str:
    """Initiate; wait for the server's verdict on the CHILD_SA; the server log since."""
    before = len(rig.server.log())
    (rig.server.d / "hook.phase1_up").unlink(missing_ok=True)
    ss.initiate()
    wait_until(lambda: re.search(r"cannot install outbound SA|CHILD_SA failed|IKE_SA_INIT failed",
                                 rig.server.log()[before:]) is not None, 20,
               "the server's CHILD_SA: " + rig.server.log()[before:])
    return rig.server.log()[before:]


def leave(rig: Rig, ss: StrongSwan) -> None:
    """Stop the client (its Delete ends the server's IKE SA)."""
    gone = _count(rig.server.log(), r"IKE SA \S+ with \S+ deleted")
    up = "established" in ss.ctl("--list-sas")
    ss.stop()
    if up:
        wait_until(lambda: _count(rig.server.log(), r"IKE SA \S+ with \S+ deleted") > gone, 10,
                   "the server's IKE SA to go: " + rig.server.log())


#: The table's names of the clients (doc/iked.md, compatibility table).
LABELS = {"ios": "iOS", "macos": "macOS", "android-builtin": "Android built-in",
          "strongswan-app": "strongSwan app", "networkmanager": "NetworkManager"}
BOTH = "up, IPv4 + IPv6 addresses and DNS leased, CHILD_SA negotiated"


@pytest.mark.parametrize("name", list(CLIENTS)[:-1])
def test_native_client_gets_both_addresses(rig: Rig, name: str,
                                           request: pytest.FixtureRequest) -> None:
    rig.serve("roadwarrior;")
    ss = rig.client(CLIENTS[name])
    try:
        log = connect(rig, ss)
        assert "IKE SA proposal matched proposal_profile roadwarrior" in log, log
        assert f"leased {V4} {V6} to 192.0.2.1" in log, log
        # The CHILD_SA was chosen (ESP of a profile or the policy's own) and the host kernel
        # refused its SAs.
        assert re.search(r"CHILD_SA proposal matched (proposal_profile roadwarrior|the remote"
                         r"'s own lists): #\d ESP", log), log
        assert re.search(r"cannot install inbound SA spi 0x[0-9a-f]{8}", log), log
        # spmd was asked for a policy pair per family of the client's addresses (and removed
        # them again when the kernel refused the SAs).
        assert _count(rig.server.log("spmd"), "Policy Added out and in") == 2 * rig.cases
        sas = ss.ctl("--list-sas")
        assert V4 in sas and V6 in sas, sas
        # The CFG_REPLY: both addresses, DNS of both families, the split subnets, the domain.
        assert re.search(r"parsed IKE_AUTH response .*CPRP\(ADDR ADDR6 DNS DNS6 SUBNET SUBNET6"
                         r"\)", ss.log()), ss.log()
        dns = (ss.d / "resolv.conf").read_text()
        assert "nameserver 192.0.2.53" in dns and "nameserver 2001:db8::53" in dns, ss.log()
        env = dict(line.split("=", 1) for line in
                   (rig.server.d / "hook.phase1_up").read_text().splitlines() if "=" in line)
        assert (env["INTERNAL4_ADDR"], env["INTERNAL6_ADDR"]) == (V4, V6)
        record(request, [Row(LABELS[name], suite(ss.log()), "PSK", BOTH)])
    finally:
        leave(rig, ss)


def test_a_reconnect_gets_the_same_addresses(rig: Rig) -> None:
    """Alice (ID 192.0.2.1) leaves; Carol (ID carol.example) gets the next addresses, as
    Alice's stay reserved for her; Alice is back: her addresses again."""
    rig.serve("roadwarrior;")
    for identity, v4, v6 in ((None, V4, V6), ("carol.example", "198.51.100.11",
                                              "2001:db8:100::11"), (None, V4, V6)):
        ss = rig.client(CLIENTS["strongswan-app"], identity)
        try:
            log = connect(rig, ss)
            assert f"leased {v4} {v6} to 192.0.2.1" in log, log
            sas = ss.ctl("--list-sas")
            assert v4 in sas and v6 in sas, sas
        finally:
            leave(rig, ss)


@pytest.mark.parametrize("client", [WINDOWS, CLIENTS["windows-aes256-modp2048"]],
                         ids=["windows-default", "windows-aes256-modp2048"])
def test_windows_needs_the_opt_in(rig: Rig, client: Client) -> None:
    rig.serve("roadwarrior;")
    ss = rig.client(client)
    try:
        log = connect(rig, ss)
        # The default offer has no strong group: IKE_SA_INIT is refused, naming what came.
        # The MODP2048 one passes IKE, but its SHA1-only ESP is refused.
        assert re.search(r"(IKE_SA_INIT failed: no proposal chosen; received: #1 IKE: "
                         r"ENCR_AES_CBC-256, .*MODP_1024.*; configured: proposal_profile "
                         r"roadwarrior$|CHILD_SA failed: no proposal chosen; received: #1 ESP: "
                         r"ENCR_AES_CBC-256, AUTH_HMAC_SHA1_96)", log, re.M), log
    finally:
        leave(rig, ss)
    rig.serve("roadwarrior; windows_legacy;")
    ss = rig.client(client)
    try:
        log = connect(rig, ss)
        assert "CHILD_SA proposal matched proposal_profile windows_legacy: #1 ESP: " \
               "ENCR_AES_CBC-256, AUTH_HMAC_SHA1_96, NO_ESN" in log, log
        assert re.search(r"cannot install inbound SA spi 0x[0-9a-f]{8}", log), log
        assert f"leased {V4} {V6}" in log, log
        if client is WINDOWS:  # its MODP1024 (with SHA2-256: its later offers), named
            assert re.search(r"IKE SA \S+ with \S+: weak algorithms accepted: .*MODP_1024 "
                             r"\(1024-bit group, RFC 8247 §2.4 SHOULD NOT\)", log), log
    finally:
        leave(rig, ss)

