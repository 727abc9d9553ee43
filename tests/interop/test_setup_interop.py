"""racoon2-setup's output brings IKE up between two namespaces (issue #21's proof).

One site-to-site PSK answer file gives both ends: this side's racoon2.conf and peer/ (the
other end's racoon2.conf, the same key, and a strongSwan swanctl.conf).  racoon2 <-> racoon2
and racoon2 <-> strongSwan (with that swanctl.conf, kernel-libipsec) establish the IKE SA;
this host's kernel has no ESP, so our CHILD_SAs are negotiated and then refused by the kernel
exactly as tests/interop/test_iked_interop.py's assert_child expects.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from peers import HARNESS, INNER, Namespaces, Racoon2, StrongSwan, wait_until

from racoon2.setup.cli import main
from racoon2.setup.conf import psk_file
from racoon2.setup.model import load

pytestmark = pytest.mark.interop


NEEDS_CHARON = pytest.mark.skipif(
    shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists(),
    reason="strongSwan's charon-systemd is not installed (tests/harness/setup-host.sh installs it)")


def _answers(d: Path) -> str:
    return (f"case: site-to-site\nlocal: 192.0.2.1\npeer: 192.0.2.2\n"
            f"local_nets: [{INNER['A']}]\npeer_nets: [{INNER['B']}]\n"
            f"confdir: {d}\nrun_dir: {d}\nname: gw\n")


def _generate(tmp_path: Path, answers: str | None = None, other: str = "peer"
              ) -> tuple[Path, str]:
    """Run racoon2-setup for side A in tmp_path/a; (A's directory, the other end's
    racoon2.conf, its directory ``other`` copied to tmp_path/b as an admin copies it to the
    other host)."""
    a = tmp_path / "a"
    path = tmp_path / "answers.yaml"
    path.write_text(answers or _answers(a))
    assert main([str(path)]) == 0
    b = tmp_path / "b"
    shutil.copytree(a / other, b)
    text = (b / "racoon2.conf").read_text().replace(f'"{a}"', f'"{b}"')
    return a, text


def _assert_refused(r2: Racoon2, children: int = 1) -> None:
    """iked negotiated ``children`` CHILD_SAs and this kernel refused each one's SAs."""
    log = r2.log()
    refusals = re.findall(r"cannot install (inbound|outbound) SA spi 0x[0-9a-f]{8}: "
                          r"(UPDSA|NEWSA) SA ESP .*: (Protocol not supported|Function not "
                          r"implemented)", log)
    assert sorted(r[0] for r in refusals) == ["inbound"] * children + ["outbound"] * children, \
        log
    assert "Traceback" not in log


def _start_strongswan(ss: StrongSwan, swanctl: Path, **env: str) -> None:
    """charon (kernel-libipsec) in ``ss``'s namespace with racoon2-setup's ``swanctl``."""
    subprocess.run(["bash", str(HARNESS / "strongswan.sh"), "start", ss.name], check=True,
                   capture_output=True, env=ss._env(SWANCTL_CONF=str(swanctl),
                                                    KERNEL="libipsec", **env))


@contextlib.contextmanager
def _racoon2_and_charon(pair: Namespaces, tmp_path: Path, a_dir: Path, name: str
                        ) -> Iterator[tuple[Racoon2, StrongSwan]]:
    """racoon2-setup's side in A with its racoon2.conf, charon in B with the generated
    peer/swanctl.conf (connection ``name``), both started; both stopped afterwards."""
    r2 = Racoon2(pair, "A", a_dir)
    ss = StrongSwan(pair, "B", tmp_path / "ss")
    ss.name = name
    try:
        r2.start((a_dir / "racoon2.conf").read_text())
        _start_strongswan(ss, a_dir / "peer" / "swanctl.conf")
        yield r2, ss
    finally:
        r2.stop()
        ss.stop()


def test_generated_pair_brings_ike_up(pair: Namespaces, tmp_path: Path) -> None:
    a_dir, b_text = _generate(tmp_path)
    a_text = (a_dir / "racoon2.conf").read_text()
    a, b = Racoon2(pair, "A", a_dir), Racoon2(pair, "B", tmp_path / "b")
    try:
        b.start(b_text)
        a.start(a_text, "-S", "gw_out_1")
        wait_until(lambda: bool(a.established() and b.established()), 20,
                   "IKE SAs: " + a.log() + b.log())
        assert a.established() == b.established()
        for side in (a, b):
            wait_until(side.child_settled, 10, "the CHILD_SA: " + side.log())
            _assert_refused(side)
    finally:
        a.stop()
        b.stop()


@NEEDS_CHARON
def test_generated_swanctl_interoperates(pair: Namespaces, tmp_path: Path) -> None:
    a_dir, _ = _generate(tmp_path)
    setup = load(_answers(a_dir), "s2s.yaml")
    assert (a_dir / "peer" / psk_file(setup)).read_bytes() == (a_dir / psk_file(setup)
                                                                 ).read_bytes()
    with _racoon2_and_charon(pair, tmp_path, a_dir, "gw") as (r2, ss):
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + out + r2.log())
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas, sas + ss.log()
        assert "INSTALLED" in sas and INNER["A"] in sas and INNER["B"] in sas, sas + ss.log()
        wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())
        _assert_refused(r2)


@NEEDS_CHARON
def test_generated_host_to_host_swanctl(pair: Namespaces, tmp_path: Path) -> None:
    """Host-to-host PSK, transport mode: charon with peer/swanctl.conf initiates; both choose
    the proposal and the hosts' selectors, and kernel-libipsec, which has no transport mode,
    refuses to install them (as tests/interop/test_iked_interop.py's assert_strongswan)."""
    d = tmp_path / "a"
    a_dir, _ = _generate(tmp_path, f"case: host-to-host\nlocal: 192.0.2.1\npeer: 192.0.2.2\n"
                                   f"confdir: {d}\nrun_dir: {d}\nname: h\n")
    with _racoon2_and_charon(pair, tmp_path, a_dir, "h") as (r2, ss):
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + out + r2.log())
        sas, log = ss.ctl("--list-sas"), ss.log()
        assert "ESTABLISHED" in sas, out + sas + log
        # iked answered in transport mode (RFC 7296 §1.3.1) with the hosts' addresses.
        assert re.search(r"parsed IKE_AUTH response 1 \[ .*N\(USE_TRANSP\) SA TSi TSr \]",
                         log), log
        assert "selected proposal: ESP:AES_GCM_16_256" in log, log
        for ts in ("192.0.2.2/32", "192.0.2.1/32"):
            assert f"received: {ts} => match: {ts}" in log, log
        assert "unable to install inbound and outbound IPsec SA (SAD) in kernel" in log, log
        wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())
        _assert_refused(r2)


#: Site-to-site over IPv6 with two networks of each family on each side: racoon2-setup pairs
#: every two of one family (Setup.pairs), so 2 x 2 IPv4 and 2 x 2 IPv6 children.
V6_NETS = ("local_nets: [198.51.100.0/28, 203.0.113.0/26, 2001:db8:a::/64, 2001:db8:aa::/64]\n"
           "peer_nets: [198.51.100.16/28, 203.0.113.64/26, 2001:db8:b::/64, "
           "2001:db8:bb::/64]\n")


@NEEDS_CHARON
def test_generated_swanctl_ipv6_several_subnets(pair: Namespaces, tmp_path: Path) -> None:
    """IPv6 endpoints, IPv4 and IPv6 networks: charon with peer/swanctl.conf brings up each of
    its children (one per selector pair) in one IKE SA, and iked negotiates every one."""
    d = tmp_path / "a"
    answers = (f"case: site-to-site\nlocal: 2001:db8::1\npeer: 2001:db8::2\n{V6_NETS}"
               f"confdir: {d}\nrun_dir: {d}\nname: gw\n")
    a_dir, _ = _generate(tmp_path, answers)
    pairs = load(answers, "v6.yaml").mirrored().pairs()  # strongSwan's children gw_1, gw_2, …
    assert len(pairs) == 8
    # kernel-libipsec routes each child's remote networks from an address of its local ones
    # (else "error installing route", and the CHILD_SA fails): one on B's lo for each
    # network besides netns.sh's 198.51.100.17.
    for addr in ("203.0.113.65/32", "2001:db8:b::1/128", "2001:db8:bb::1/128"):
        pair.run("B", "ip", "addr", "add", addr, "dev", "lo", *(("nodad",) if ":" in addr
                                                                else ()))
    with _racoon2_and_charon(pair, tmp_path, a_dir, "gw") as (r2, ss):
        out = "".join(ss.ctl("--initiate", "--child", f"gw_{i}", "--timeout", "10")
                      for i in range(1, len(pairs) + 1))
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + out + r2.log())
        assert len(r2.established()) == 1, r2.log()
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "2001:db8::2" in sas, out + sas + ss.log()
        installed = re.findall(r"(\S+): #\d+, reqid \d+, INSTALLED, TUNNEL.*\n"
                               r"(?:\s+(?:installed|in|out) .*\n)*"
                               r"\s+local\s+(\S+)\n\s+remote\s+(\S+)\n", sas)
        assert sorted(installed) == sorted((f"gw_{i}", mine, theirs) for i, (mine, theirs)
                                           in enumerate(pairs, 1)), out + sas + ss.log()
        wait_until(lambda: r2.log().count("cannot install outbound") == len(pairs), 20,
                   "every CHILD_SA: " + r2.log())
        _assert_refused(r2, len(pairs))


def test_generated_host_to_host_certificates(pair: Namespaces, tmp_path: Path) -> None:
    """Transport mode, certificates of the generated CA with DNS-name IDs in their SANs."""
    d = tmp_path / "a"
    a_dir, b_text = _generate(tmp_path, (
        f"case: host-to-host\nlocal: 192.0.2.1\npeer: 192.0.2.2\nauth: certificates\n"
        f"local_id: a.example.net\npeer_id: b.example.net\nconfdir: {d}\nrun_dir: {d}\n"
        f"name: h\n"))
    a, b = Racoon2(pair, "A", a_dir), Racoon2(pair, "B", tmp_path / "b")
    try:
        b.start(b_text)
        a.start((a_dir / "racoon2.conf").read_text(), "-S", "h_out_1")
        wait_until(lambda: bool(a.established() and b.established()), 20,
                   "IKE SAs: " + a.log() + b.log())
        for side in (a, b):
            wait_until(side.child_settled, 10, "the CHILD_SA: " + side.log())
            _assert_refused(side)
    finally:
        a.stop()
        b.stop()


def _server_answers(d: Path, auth: str, pair: Namespaces) -> str:
    """B (192.0.2.2) serves 198.51.100.16/28 to clients; racoon2-setup runs on A's side of
    the helpers, so B's files come from tmp_path/a and the client's go to tmp_path/b."""
    return (f"case: vpn-server\nlocal: 192.0.2.2\nserver_id: vpn.example.net\n"
            f"nets: [{INNER['B']}]\npool: {{first: 198.51.100.100, last: 198.51.100.110}}\n"
            f"dns: [192.0.2.53]\nauth: {auth}\nclients: [alice@example.net]\n"
            f"confdir: {d}\nrun_dir: {d}\nclient_interface: {pair.prefix}a\n")


def test_generated_vpn_server_and_client(pair: Namespaces, tmp_path: Path) -> None:
    """The server's racoon2.conf and the client bundle it wrote: the client gets an address
    of the pool and puts it on its interface."""
    server_dir, client_text = _generate(tmp_path, _server_answers(tmp_path / "a", "psk", pair),
                                        "clients/alice@example.net")
    server = Racoon2(pair, "B", server_dir)
    client = Racoon2(pair, "A", tmp_path / "b")
    try:
        server.start((server_dir / "racoon2.conf").read_text())
        client.start(client_text, "-S", "vpn_out_1")
        wait_until(lambda: "leased us 198.51.100.100" in client.log(), 20,
                   "the lease: " + client.log() + server.log())
        wait_until(lambda: "198.51.100.100/32" in pair.run("A", "ip", "-4", "addr").stdout, 5,
                   "the leased address on A's interface: " + client.log())
        wait_until(client.child_settled, 10, "the CHILD_SA: " + client.log())
        _assert_refused(client)
    finally:
        client.stop()
        server.stop()


@NEEDS_CHARON
@pytest.mark.parametrize("auth", ["certificates", "psk"])
def test_generated_client_swanctl(pair: Namespaces, tmp_path: Path, auth: str) -> None:
    """strongSwan as the road warrior, with the client bundle's swanctl.conf and its
    certificate (or the bundle's key, its ID alice@example.net): it gets a virtual IP of
    racoon2's pool and its CHILD_SA installs (kernel-libipsec)."""
    server_dir, _ = _generate(tmp_path, _server_answers(tmp_path / "a", auth, pair),
                              "clients/alice@example.net")
    bundle = server_dir / "clients/alice@example.net"
    files = {"CERT": str(bundle / "certs/host.pem"), "KEY": str(bundle / "certs/host.key"),
             "CACERT": str(bundle / "certs/ca.pem")} if auth == "certificates" else {}
    if auth == "psk":
        assert (bundle / "psk.txt").read_text() in (bundle / "swanctl.conf").read_text()
    server = Racoon2(pair, "B", server_dir)
    ss = StrongSwan(pair, "A", tmp_path / "ss")
    ss.name = "vpn"
    # strongswan.sh runs charon with install_virtual_ip = no: the address it will lease is
    # put on lo beforehand, so charon's route with that source installs.
    pair.run("A", "ip", "addr", "add", "198.51.100.100/32", "dev", "lo")
    try:
        server.start((server_dir / "racoon2.conf").read_text())
        _start_strongswan(ss, bundle / "swanctl.conf", **files)
        out = ss.initiate()
        wait_until(lambda: bool(server.established()), 20, "the IKE SA: " + out + server.log())
        sas = ss.ctl("--list-sas")
        assert "ESTABLISHED" in sas and "INSTALLED" in sas, out + sas + ss.log()
        assert "198.51.100.100" in sas and INNER["B"] in sas, sas
        wait_until(server.child_settled, 10, "the CHILD_SA: " + server.log())
        _assert_refused(server)
    finally:
        ss.stop()
        server.stop()


@NEEDS_CHARON
def test_generated_eap_server_with_strongswan_clients(pair: Namespaces, tmp_path: Path
                                                      ) -> None:
    """auth: eap: the server's certificate, EAP-MSCHAPv2 against the generated users file;
    strongSwan logs in with alice's bundle (swanctl.conf, password, CA) and gets a virtual IP
    of the pool; the same bundle with another password is refused with EAP Failure."""
    d = tmp_path / "a"
    path = tmp_path / "eap.yaml"
    path.write_text(_server_answers(d, "eap", pair).replace("[alice@example.net]",
                                                            "[alice, bob]"))
    assert main([str(path)]) == 0
    bundle = d / "clients/alice"
    assert not (bundle / "racoon2.conf").exists()  # iked is no EAP client
    server = Racoon2(pair, "B", d)
    server.start((d / "racoon2.conf").read_text())
    pair.run("A", "ip", "addr", "add", "198.51.100.100/32", "dev", "lo")  # as above
    try:
        for password, good in (("a wrong password", False), (None, True)):
            ss = StrongSwan(pair, "A", tmp_path / f"ss-{good}")
            ss.name = "vpn"
            conf = (bundle / "swanctl.conf").read_text()
            if password is not None:
                secret = (bundle / "password.txt").read_text()
                conf = conf.replace(f'secret = "{secret}"', f'secret = "{password}"')
            (ss.d / "x509ca").mkdir(parents=True)
            shutil.copy(bundle / "certs/ca.pem", ss.d / "x509ca")
            (tmp_path / "swanctl.conf").write_text(conf)
            _start_strongswan(ss, tmp_path / "swanctl.conf",
                              PLUGINS="eap-identity eap-mschapv2")
            try:
                out = ss.initiate()
                if not good:
                    wait_until(lambda: "user 'alice' refused" in server.log(), 20,
                               "the refusal: " + out + server.log())
                    assert not server.established()
                    continue
                wait_until(lambda: bool(server.established()), 20, "the IKE SA: " + out +
                           server.log())
                assert "EAP-MSCHAPv2 user 'alice' authenticated" in server.log()
                sas = ss.ctl("--list-sas")
                assert "ESTABLISHED" in sas and "INSTALLED" in sas, out + sas + ss.log()
                assert "198.51.100.100" in sas and INNER["B"] in sas, sas
                wait_until(server.child_settled, 10, "the CHILD_SA: " + server.log())
                _assert_refused(server)
            finally:
                ss.stop()
    finally:
        server.stop()


@NEEDS_CHARON
def test_generated_l2tp_server_with_an_ikev1_client(pair: Namespaces, tmp_path: Path) -> None:
    """charon as a Windows-like L2TP/IPsec client (IKEv1 Main Mode, PSK, ESP transport for
    udp/1701) against the generated l2tp-server: Main Mode and Quick Mode complete; this
    host's kernel then refuses charon's ESP SAs, and charon, which installs before QM3
    (RFC 2409 §5.5 lets it), answers NO-PROPOSAL-CHOSEN."""
    d = tmp_path / "a"
    path = tmp_path / "l2tp.yaml"
    path.write_text(f"case: l2tp-server\nlocal: 192.0.2.2\nconfdir: {d}\nrun_dir: {d}\n")
    assert main([str(path)]) == 0
    server = Racoon2(pair, "B", d)
    ss = StrongSwan(pair, "A", tmp_path / "ss")
    try:
        server.start((d / "racoon2.conf").read_text())
        l2tp = "dynamic[udp/1701]"
        subprocess.run(["bash", str(HARNESS / "strongswan.sh"), "start", ss.name], check=True,
                       capture_output=True, env=ss._env(
                           VERSION="1", LOCAL="192.0.2.1", REMOTE="192.0.2.2",
                           LOCAL_ID="192.0.2.1", REMOTE_ID="192.0.2.2",
                           PSK=(d / "psk" / "l2tp.psk").read_text(), MODE="transport",
                           LTS=l2tp, RTS=l2tp, IKE="aes256-sha1-modp2048", ESP="aes128-sha1",
                           CHILD_LIFE="1h", KERNEL="netlink"))
        out = ss.initiate()
        wait_until(lambda: bool(server.established()), 20, "the ISAKMP SA: " + out +
                   server.log())
        wait_until(lambda: "quick mode failed" in server.log(), 10,
                   "our Quick Mode's end: " + server.log())
        assert "quick mode failed: the peer said NO_PROPOSAL_CHOSEN" in server.log()
        log = ss.log()
        assert "IKEv1" in ss.ctl("--list-sas") and "selected proposal: " \
            "ESP:AES_CBC_128/HMAC_SHA1_96" in log, log
        # The selectors of the SAs charon installs (its policies name port 1701 by the
        # services database: l2f).
        assert re.search(r"192\.0\.2\.[12]/32\[udp/(1701|l2f)\] === "
                         r"192\.0\.2\.[12]/32\[udp/(1701|l2f)\]", log), log
        assert "unable to install inbound and outbound IPsec SA (SAD) in kernel" in log, log
        assert "Traceback" not in server.log()
    finally:
        ss.stop()
        server.stop()
