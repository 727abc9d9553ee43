"""iked's IKEv1 gateway against strongSwan's charon as an XAuth and mode-config client, in
network namespaces: Main Mode with a PSK (or RSA signatures), then XAuth (swanctl's second
round ``auth = xauth``) checked with a users file or a PAM service, then mode-config (``vips =
0.0.0.0``, pulled) from iked's addresspool, DNS included.  A wrong password: three REQUESTs,
XAUTH_STATUS FAIL, the ISAKMP SA deleted.  This host's kernel has no ESP: the Quick Mode
after XAuth ends as test_ikev1_interop.py asserts (charon's install refused).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from pair.ikev1.conf import ikev1_conf
from peers import ADDR, INNER, PSK, Namespaces, Racoon2, StrongSwan, wait_until
from test_iked_interop import HAS_ESP, pki_files
from test_ikev1_interop import IKEV1, KERNEL

from iked import xauth_pam

POOL = "addresspool rw { 198.51.100.10 - 198.51.100.11; };\n"

SWANCTL = """connections {{
  r2 {{
    version = 1
    local_addrs = {me}
    remote_addrs = {gw}
    proposals = {ike}
    vips = 0.0.0.0
    rekey_time = 0
    local-1 {{
      auth = {auth}
      id = {me}
      {certs}
    }}
    local-2 {{
      auth = xauth
      xauth_id = alice
    }}
    remote-1 {{
      auth = {auth}
      id = {gw}
    }}
    children {{
      r2 {{
        remote_ts = {inner}
        esp_proposals = {esp}
        mode = tunnel
        rekey_time = 0
        start_action = none
      }}
    }}
  }}
}}
secrets {{
  ike-r2 {{
    id-local = {me}
    id-remote = {gw}
    secret = "{psk}"
  }}
  xauth-alice {{
    id = alice
    secret = "{password}"
  }}
}}
"""


def start_client(pair: Namespaces, tmp: Path, monkeypatch: pytest.MonkeyPatch, password: str,
                 cert: tuple[str, str, str] | None = None) -> StrongSwan:
    """charon on A as the XAuth client of iked on B."""
    certs = ""
    if cert is not None:
        d = tmp / "ss"
        for sub, f in (("x509", cert[0]), ("x509ca", cert[2]), ("private", cert[1])):
            (d / sub).mkdir(parents=True, exist_ok=True)
            (d / sub / Path(f).name).write_bytes(Path(f).read_bytes())
        certs = f"certs = {Path(cert[0]).name}"
    text = SWANCTL.format(me=ADDR[("A", 4)], gw=ADDR[("B", 4)], ike=IKEV1.strongswan_ike,
                          esp=IKEV1.strongswan_esp, inner=INNER["B"], psk=PSK,
                          password=password, auth="pubkey" if cert else "psk", certs=certs)
    path = tmp / "swanctl.conf"
    path.write_text(text)
    monkeypatch.setenv("SWANCTL_CONF", str(path))
    monkeypatch.setenv("VERSION", "1")
    # xauth-generic answers the REQUEST from the secrets; resolve asks for DNS servers and
    # writes them to a file of the test's (not /etc/resolv.conf).
    ss = StrongSwan(pair, "A", tmp / "ss", plugins="xauth-generic resolve")
    ss.start(4, True, IKEV1, initiator=True, kernel=KERNEL,
             extra_charon=f"plugins {{\n resolve {{\n file = {tmp}/resolv.conf\n }}\n }}")
    assert f"file = {tmp}/resolv.conf" in (tmp / "ss" / "strongswan.conf").read_text()
    return ss


def gateway_conf(r2: Racoon2, xauth: str, cert: tuple[str, str, str] | None = None) -> str:
    """iked on B, a remote-access gateway: xauth { … } and provide { } in its ikev1 block,
    a tunnel from B's network to IP_RW (the client's leased address), any client address."""
    extra = f"\t\txauth {{ {xauth} }};\n\t\tprovide {{ addresspool rw; dns 192.0.2.53; }};"
    a = ADDR[("A", 4)]
    text = ikev1_conf(r2.d, ADDR[("B", 4)], a, psk=PSK.encode(), tunnel=True,
                      src=INNER["B"], dst="IP_RW", extra=extra, cert=cert)
    return text.replace(f"peers_ipaddr {a} port 500", "peers_ipaddr IP_RW").replace(
        f"peers_sa_ipaddr {a}", "peers_sa_ipaddr IP_RW") + POOL


def users_file(r2: Racoon2) -> str:
    path = r2.d / "xauth.users"
    path.write_text("alice plain:right-password\n")
    path.chmod(0o600)
    return f'users "{path}";'


def assert_admitted(ss: StrongSwan, r2: Racoon2, tmp: Path, user: str = "alice") -> None:
    """XAuth succeeded, the pool's first address and the DNS server reached charon, the
    Quick Mode after it ran."""
    wait_until(lambda: "mode-config: client address" in r2.log(), 20,
               "mode-config: " + r2.log() + ss.log()[-3000:])
    log = r2.log()
    assert f"XAuth user {user} authenticated" in log, log
    assert "mode-config: client address 198.51.100.10, DNS 192.0.2.53" in log, log
    wait_until(lambda: "198.51.100.10" in ss.ctl("--list-sas"), 10, "charon's virtual IP")
    ss_log = ss.log()
    assert "XAuth authentication of 'alice' (myself) successful" in ss_log, ss_log
    assert "installing new virtual IP 198.51.100.10" in ss_log or \
        "virtual IP 198.51.100.10" in ss_log, ss_log
    assert "192.0.2.53" in (tmp / "resolv.conf").read_text(), ss_log
    wait_until(lambda: "CHILD_SA" in ss.log() and ("IPsec SA" in ss.log() or
                                                   "unable to install" in ss.log()), 10,
               "charon's Quick Mode: " + ss.log()[-2000:])
    # iked's IP_RW policy took the client's Quick Mode for its leased address: QM2 answered
    assert "parsed QUICK_MODE response" in ss.log(), ss.log()
    if not HAS_ESP:
        # charon installs before QM3, is refused by this kernel and says NO-PROPOSAL-CHOSEN
        assert "unable to install inbound and outbound IPsec SA (SAD) in kernel" in ss.log()
        wait_until(lambda: "quick mode failed: the peer said NO_PROPOSAL_CHOSEN" in r2.log(),
                   10, "our Quick Mode's end: " + r2.log())
    assert "Traceback" not in r2.log()


@pytest.mark.parametrize("rsa", [False, True], ids=["psk-xauth", "rsa-xauth"])
def test_strongswan_xauth_client_gets_an_address(pair: Namespaces, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 rsa: bool) -> None:
    files = pki_files(tmp_path, "rsa") if rsa else None
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        r2.start(gateway_conf(r2, users_file(r2), files["B"] if files else None))
        ss = start_client(pair, tmp_path, monkeypatch, "right-password",
                          files["A"] if files else None)
        ss.initiate()
        assert_admitted(ss, r2, tmp_path)
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()


def test_wrong_password_is_refused_and_the_sa_deleted(pair: Namespaces, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        r2.start(gateway_conf(r2, users_file(r2)))
        ss = start_client(pair, tmp_path, monkeypatch, "wrong-password")
        ss.initiate()
        wait_until(lambda: "XAuth failed" in r2.log(), 30, "the refusal: " + r2.log())
        log = r2.log()
        assert log.count("XAuth user alice refused") == 3, log
        assert "mode-config" not in log and "CHILD_SA" not in log, log
        wait_until(lambda: "ESTABLISHED" not in ss.ctl("--list-sas"), 10,
                   "charon's ISAKMP SA gone: " + ss.log()[-2000:])
        assert "Traceback" not in log
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()


@pytest.fixture
def pam_services() -> Iterator[dict[str, str]]:
    pytest.importorskip("pam", reason="python-pam is not installed (pip install python-pam)")
    tag = secrets.token_hex(3)
    made = {}
    try:
        for verdict, module in (("permit", "pam_permit.so"), ("deny", "pam_deny.so")):
            path = Path(xauth_pam.PAM_DIR) / f"r2xauth1-{verdict}-{tag}"
            path.write_text(f"auth required {module}\naccount required pam_permit.so\n")
            made[verdict] = path
        yield {k: p.name for k, p in made.items()}
    finally:
        for path in made.values():
            path.unlink(missing_ok=True)


def test_pam_decides(pair: Namespaces, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     pam_services: dict[str, str]) -> None:
    r2 = Racoon2(pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        r2.start(gateway_conf(r2, f'pam "{pam_services["permit"]}";'))
        ss = start_client(pair, tmp_path, monkeypatch, "anything")
        ss.initiate()
        assert_admitted(ss, r2, tmp_path)
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
    r2 = Racoon2(pair, "B", tmp_path / "r2b")
    ss = None
    try:
        r2.start(gateway_conf(r2, f'pam "{pam_services["deny"]}";'))
        (tmp_path / "deny").mkdir()
        ss = start_client(pair, tmp_path / "deny", monkeypatch, "anything")
        ss.initiate()
        wait_until(lambda: "XAuth failed" in r2.log(), 30, "the refusal: " + r2.log())
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
