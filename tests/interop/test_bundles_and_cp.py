"""AH, ESP+IPComp and iked as a configuration (CFG_REQUEST) client, against strongSwan and against
iked's own responder, in network namespaces on this machine's kernel.

This host's kernel has XFRM but no AH, ESP or IPComp transforms: the IKE negotiations complete
and then the kernel refuses the SAs, and exactly that is asserted (strongSwan runs on the
host's XFRM too, as libipsec has neither AH nor IPComp).  The VM (tests/vm) carries traffic.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from peers import CBC_MODP, Namespaces, Racoon2, StrongSwan, racoon2_conf, wait_until


@pytest.fixture
def charon() -> None:
    if shutil.which("charon-systemd") is None and not Path("/usr/sbin/charon-systemd").exists():
        pytest.fail("strongSwan is missing: tests/harness/setup-host.sh installs it")


ESP_SA = "sa sa_esp { sa_protocol esp; esp_enc_alg { aes128_cbc; }; esp_auth_alg { " \
         "hmac_sha2_256; }; };"


def edited(text: str, *edits: tuple[str, str]) -> str:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new)
    return text


@pytest.mark.usefixtures("charon")
def test_ah_with_strongswan(pair: Namespaces, tmp_path: Path) -> None:
    """strongSwan offers AH (ah_proposals), iked's AH policy chooses it: one integrity
    transform, no cipher; the host kernel then refuses the AH SAs."""
    ss, r2 = StrongSwan(pair, "A", tmp_path / "ss"), Racoon2(pair, "B", tmp_path / "r2")
    conf = edited(racoon2_conf(r2.d, "B", 4, True, CBC_MODP),
                  (ESP_SA, "sa sa_esp { sa_protocol ah; ah_auth_alg { hmac_sha2_256; }; };"))
    try:
        r2.start(conf)
        ss.start(4, True, CBC_MODP, initiator=True, ah="sha256", kernel="netlink")
        ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log())
        wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())
        ours = r2.log()
        assert re.search(r"cannot install inbound SA spi 0x[0-9a-f]{8}: .*AH", ours), ours
        log = ss.log()
        assert re.search(r"parsed IKE_AUTH response .*SA TSi TSr", log), log
        assert re.search(r"selected proposal: AH:HMAC_SHA2_256_128/NO_EXT_SEQ", log), log
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.usefixtures("charon")
def test_esp_with_ipcomp_with_strongswan(pair: Namespaces, tmp_path: Path) -> None:
    """strongSwan (ipcomp = yes) sends IPCOMP_SUPPORTED with its CPI; iked, whose policy
    bundles ipcomp, answers with its own and installs the IPComp SAs beside the ESP ones."""
    ss, r2 = StrongSwan(pair, "A", tmp_path / "ss"), Racoon2(pair, "B", tmp_path / "r2")
    conf = edited(racoon2_conf(r2.d, "B", 4, True, CBC_MODP),
                  ("sa_index sa_esp;", "sa_index { sa_esp; sa_comp; };"),
                  (ESP_SA, ESP_SA + "\nsa sa_comp { sa_protocol ipcomp; ipcomp_alg { deflate; "
                   "}; };"))
    try:
        r2.start(conf)
        ss.start(4, True, CBC_MODP, initiator=True, extra_child="ipcomp = yes",
                 kernel="netlink")
        ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log())
        wait_until(lambda: "IPComp SA cpi" in r2.log(), 10, "the IPComp SAs: " + r2.log())
        ours = r2.log()
        assert re.search(r"cannot install inbound IPComp SA cpi 0x[0-9a-f]{4}", ours), ours
        log = ss.log()
        assert re.search(r"generating IKE_AUTH request .*N\(IPCOMP_SUP\)", log), log
        assert re.search(r"parsed IKE_AUTH response .*N\(IPCOMP_SUP\)", log), log
    finally:
        r2.stop()
        ss.stop()


def client_conf(r2: Racoon2) -> str:
    """Side A as a road warrior: any source until B leases it one, B's network behind B."""
    return edited(racoon2_conf(r2.d, "A", 4, True, CBC_MODP),
                  ("max_retry_to_send 3;", "max_retry_to_send 3; request { ip4; dns; };"),
                  ('src "198.51.100.0/28"', 'src "0.0.0.0/0"'),
                  ('dst "198.51.100.0/28"', 'dst "0.0.0.0/0"'))


def test_iked_client_gets_an_address_from_iked(pair: Namespaces, tmp_path: Path) -> None:
    """A asks for an address and DNS (request { ip4; dns; }); B leases one from its pool; A
    puts it on the interface towards B, uses it as its CHILD_SA's source, and takes it off
    when it shuts down."""
    a, b = Racoon2(pair, "A", tmp_path / "a"), Racoon2(pair, "B", tmp_path / "b")
    b_conf = edited(racoon2_conf(b.d, "B", 4, True, CBC_MODP),
                    ('peers_ipaddr "192.0.2.1" port 500;',
                     "peers_ipaddr IP_RW; provide { addresspool rwpool; dns { 192.0.2.53; }; };"),
                    ('dst "198.51.100.0/28"', "dst IP_RW"), ('src "198.51.100.0/28"',
                                                             "src IP_RW"),
                    ('peers_sa_ipaddr "192.0.2.1"', "peers_sa_ipaddr IP_RW"))
    b_conf += "addresspool rwpool { 198.51.100.100 - 198.51.100.110; };\n"
    try:
        b.start(b_conf)
        a.start(client_conf(a), "-S", "out")
        wait_until(lambda: "leased us 198.51.100.100" in a.log(), 20, "the lease: " + a.log())
        wait_until(lambda: "198.51.100.100/32" in pair.run("A", "ip", "-4", "addr").stdout, 5,
                   "the leased address on A's interface: " + a.log())
        wait_until(a.child_settled, 10, "the CHILD_SA: " + a.log())
        assert "198.51.100.100/32" in pair.run("B", "ip", "xfrm", "policy").stdout
        a.stop()
        assert "198.51.100.100" not in pair.run("A", "ip", "-4", "addr").stdout
        assert "leased address 198.51.100.100 removed" in a.log()
    finally:
        a.stop()
        b.stop()


@pytest.mark.usefixtures("charon")
def test_iked_client_gets_an_address_from_strongswan(pair: Namespaces, tmp_path: Path) -> None:
    """strongSwan's pool leases iked 198.51.100.100 and narrows the CHILD_SA to it; iked puts
    the address on its interface."""
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    try:
        ss.start(4, True, CBC_MODP, initiator=False, nets=("198.51.100.16/28", "dynamic"),
                 extra_conn="pools = rw",
                 extra_swanctl="pools {\n  rw {\n    addrs = 198.51.100.100-198.51.100.110\n"
                               "    dns = 192.0.2.53\n  }\n}")
        r2.start(client_conf(r2), "-S", "out")
        wait_until(lambda: "leased us 198.51.100.100" in r2.log(), 20, "the lease: " + r2.log())
        wait_until(lambda: "198.51.100.100/32" in pair.run("A", "ip", "-4", "addr").stdout, 5,
                   "the leased address on A's interface: " + r2.log())
        wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())
        log = ss.log()
        assert "assigning virtual IP 198.51.100.100" in log, log
        assert re.search(r"parsed IKE_AUTH request .*CPRQ\(ADDR DNS", log), log
        assert "198.51.100.100/32" in ss.ctl("--list-sas")
    finally:
        r2.stop()
        ss.stop()
