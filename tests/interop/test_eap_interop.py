"""iked as an IKEv2 EAP server (RFC 7296 §2.16) for strongSwan's charon, in network
namespaces: charon (A) authenticates iked (B) by its certificate, then itself with
EAP-MSCHAPv2 or EAP-MD5 from iked's users file; AUTH from the MSK (EAP-MD5: SK_pi/SK_pr),
then a virtual IPv4 address from iked's addresspool and the CHILD_SA, which this host's
kernel refuses (no ESP), as asserted.  A second connection with a wrong password is refused
with EAP Failure, logged once with the user's name, and leaves no IKE SA behind.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from compat import Row, record, suite
from cryptography.hazmat.primitives import serialization
from peers import (
    ADDR,
    CBC_MODP,
    INNER,
    Namespaces,
    Proposal,
    Racoon2,
    StrongSwan,
    algorithm_lines,
    auth_lines,
    esp_lines,
    iked_conf,
    wait_until,
)
from pki import issue, make_ca, new_key, pem
from test_iked_interop import pki_files

from racoon2.eap.mschapv2 import nt_password_hash

SECRETS = """secrets {
  eap-alice {
    id = alice
    secret = "alice-password"
  }
  eap-bob {
    id = bob
    secret = "not-bobs-password"
  }
}
"""
CONN = """  {name} {{
    version = 2
    local_addrs = {me}
    remote_addrs = {gw}
    proposals = {ike}
    vips = 0.0.0.0
    rekey_time = 0
    local {{
      id = {me}
      {local}
    }}
    remote {{
      auth = {remote_auth}
      id = {gw}
    }}
    children {{
      {name} {{
        remote_ts = {inner}
        esp_proposals = {esp}
        rekey_time = 0
        start_action = none
      }}
    }}
  }}"""


def conn(name: str, local: str, prop: Proposal = CBC_MODP, remote_auth: str = "pubkey") -> str:
    """One swanctl connection of charon on A to iked on B; ``local``: how charon
    authenticates (its local { } section); ``remote_auth``: how it wants iked to (``eap``
    accepts EAP-only authentication, RFC 5998)."""
    return CONN.format(name=name, me=ADDR[("A", 4)], gw=ADDR[("B", 4)], ike=prop.strongswan_ike,
                       esp=prop.strongswan_esp, local=local, inner=INNER["B"],
                       remote_auth=remote_auth)


def tls_conn(name: str, cert: str, eap_id: str = "", remote_auth: str = "pubkey") -> str:
    """A connection that logs in with EAP-TLS and the certificate file ``cert`` (in the
    client's x509 directory); ``eap_id`` when the identity is not its address."""
    return conn(name, f"auth = eap-tls\n      certs = {cert}" +
                (f"\n      eap_id = {eap_id}" if eap_id else ""), remote_auth=remote_auth)


def charon(pair: Namespaces, d: Path, conns: Sequence[str], plugins: str,
           monkeypatch: pytest.MonkeyPatch, files: Sequence[tuple[str, str, str]] = (),
           prop: Proposal = CBC_MODP) -> StrongSwan:
    """charon on A (its files in ``d``) with the connections ``conns`` and the EAP
    passwords of :data:`SECRETS`; ``files``: (directory, source, name) copied into ``d``
    (the CA, certificates and keys)."""
    for sub, src, name in files:
        (d / sub).mkdir(parents=True, exist_ok=True)
        (d / sub / name).write_bytes(Path(src).read_bytes())
    path = d.parent / "swanctl.conf"
    path.write_text("connections {\n" + "\n".join(conns) + "\n}\n" + SECRETS)
    monkeypatch.setenv("SWANCTL_CONF", str(path))
    ss = StrongSwan(pair, "A", d, plugins=plugins)
    ss.start(4, True, prop, initiator=True, kernel="netlink")
    return ss


def tls_files(files: dict[str, tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """:func:`charon`'s ``files`` for EAP-TLS: the CA, and A's certificate and key as
    good.pem and good.key (``files``: test_iked_interop.pki_files')."""
    return [("x509ca", files["A"][2], "ca.pem"), ("x509", files["A"][0], "good.pem"),
            ("private", files["A"][1], "good.key")]


def refused_bob(r2: Racoon2, ss: StrongSwan, reason: str) -> None:
    """Initiate charon's connection ``bad`` (bob, the wrong password): EAP Failure, one log
    line naming him with ``reason`` (a regular expression), no IKE SA on either side."""
    ss.ctl("--initiate", "--child", "bad", "--timeout", "10")
    wait_until(lambda: "user 'bob' refused" in r2.log(), 15, "the refusal: " + r2.log())
    log = r2.log()
    assert log.count("user 'bob' refused") == 1, log
    assert re.search(rf"IKE_AUTH failed: {reason}", log), log
    assert not r2.established(), log
    assert "received EAP_FAILURE, EAP authentication failed" in ss.log(), ss.log()[-3000:]
    wait_until(lambda: "bad:" not in ss.ctl("--list-sas"), 10, "charon's SA of bob gone")


def settled(r2: Racoon2, ss: StrongSwan) -> None:
    """Initiate charon's first connection: the IKE SA up on iked, then the CHILD_SA's fate
    (this kernel refuses it)."""
    ss.initiate()
    wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log())
    wait_until(r2.child_settled, 10, "the CHILD_SA: " + r2.log())


def server_conf(r2: Racoon2, method: str, files: tuple[str, str, str],
                prop: Proposal = CBC_MODP) -> str:
    """iked on B: certificate, eap { }, a pool, a tunnel from B's network to IP_RW."""
    users = r2.d / "eap.users"
    bob = f"nthash:{nt_password_hash('bob-password').hex()}" if method == "mschapv2" \
        else "plain:bob-password"
    users.write_text(f"alice plain:alice-password\nbob {bob}\n")
    users.chmod(0o600)
    gw = ADDR[("B", 4)]
    return iked_conf(r2.d, gw, "peer", f"""my_id ipaddr "{gw}";
        peers_id ipaddr "{ADDR[("A", 4)]}";
        peers_ipaddr IP_RW; eap {{ method {method}; users "{users}"; }};
        provide {{ addresspool rwpool; dns {{ 192.0.2.53; }}; }};
        {algorithm_lines(prop)}
        {auth_lines(r2.d, files)}
        interval_to_send 1 sec;
        max_retry_to_send 3;""", (INNER["B"], "IP_RW"), (gw, "IP_RW"), esp_lines(prop),
                     "addresspool rwpool { 198.51.100.100 - 198.51.100.110; };\n")


def start_client(pair: Namespaces, tmp: Path, method: str, ca: str,
                 monkeypatch: pytest.MonkeyPatch,
                 conns: tuple[tuple[str, str, Proposal], ...] = (
                     ("r2", "alice", CBC_MODP), ("bad", "bob", CBC_MODP))) -> StrongSwan:
    """charon on A with ``conns`` (name, EAP identity, proposals): by default r2 (alice, her
    password) and bad (bob, a wrong one)."""
    # eap-mschapv2 takes MD4 and DES from the openssl plugin's legacy provider.
    return charon(pair, tmp / "ss", [conn(name, f"auth = eap-{method}\n      eap_id = {user}",
                                          prop) for name, user, prop in conns],
                  f"eap-identity eap-{method}", monkeypatch, [("x509ca", ca, "ca.pem")],
                  conns[0][2])


@pytest.mark.parametrize("method", ["mschapv2", "md5"])
def test_strongswan_eap_client(eap_pair: Namespaces, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch, method: str,
                               request: pytest.FixtureRequest) -> None:
    files = pki_files(tmp_path, "ecdsa")
    r2 = Racoon2(eap_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    name = {"mschapv2": "EAP-MSCHAPv2", "md5": "EAP-MD5"}[method]
    try:
        r2.start(server_conf(r2, method, files["B"]))
        ss = start_client(eap_pair, tmp_path, method, files["B"][2], monkeypatch)
        refused_bob(r2, ss, f"{name} user 'bob' refused: wrong password")
        # alice: IKE SA, virtual address, CHILD_SA (refused by this kernel).
        settled(r2, ss)
        log = r2.log()
        assert f"{name} user 'alice' authenticated" in log, log
        assert re.search(r"cannot install inbound SA spi 0x[0-9a-f]{8}: .*ESP", log), log
        ss_log = ss.log()
        msk = "MSK established" if method == "mschapv2" else "no MSK established"
        assert f"EAP method EAP_{method.upper()} succeeded, {msk}" in ss_log, ss_log
        assert "authentication of '192.0.2.2' with EAP successful" in ss_log, ss_log
        assert "installing new virtual IP 198.51.100.100" in ss_log or \
            "virtual IP 198.51.100.100" in ss_log, ss_log
        assert "Traceback" not in log
        record(request, [Row("strongSwan 5.9", suite(ss_log), name, UP),
                         Row("strongSwan 5.9", "", f"{name}, wrong password", REFUSED)])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()


UP = "up, address leased, CHILD_SA negotiated"
REFUSED = "EAP Failure, logged once with the user's name, no IKE SA"


def _client(ike: str, esp: str) -> Proposal:
    """A client's proposals in strongSwan's notation (the server's are SERVER's)."""
    return Proposal(("", "", "", ""), ("", ""), ike, esp, "", "")


#: What the native clients propose, IKE and ESP (doc/iked.md, "Proposal profiles").
PROFILES = {
    # Windows 10/11: MODP1024 only, SHA1 ESP, no PFS (its registry key raises it to 2048).
    "windows": _client("aes256-aes128-3des-sha1-sha256-sha384-modp1024",
                       "aes256-aes128-3des-sha1"),
    # iOS/macOS: AES-256/SHA2-256 with MODP2048, then ECP256, then the SHA1/MODP1024 pair.
    "ios": _client("aes256-sha256-modp2048,aes256-sha256-ecp256,aes128-sha1-modp1024,"
                   "3des-sha1-modp1024", "aes256-sha256,aes128-sha1,3des-sha1"),
    # Android 11+ built-in: MODP4096 first (so a KE retry), Curve25519; no SHA1 anywhere.
    "android": _client("aes256-aes192-aes128-sha512-sha384-sha256-prfsha512-prfsha384-"
                       "prfsha256-modp4096-curve25519-modp3072-modp2048",
                       "aes256-aes192-aes128-sha512-sha384-sha256"),
}
CLIENT_NAMES = {"windows": "Windows 10/11", "ios": "iOS/macOS", "android": "Android 11+"}
#: What iked chose of each.
SELECTED = {
    "windows": "selected proposal: IKE:AES_CBC_256/HMAC_SHA1_96/PRF_HMAC_SHA1/MODP_1024",
    "ios": "selected proposal: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048",
    "android": "selected proposal: IKE:AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/"
               "CURVE_25519",
}


#: One server for all of them, as samples/roadwarrior-eap.conf (racoon2_conf writes each
#: string into its directive's braces).
SERVER = Proposal(("aes256_cbc; aes128_cbc", "hmac_sha2_256; hmac_sha1",
                   "hmac_sha2_256; hmac_sha1", "modp2048; curve25519; modp1024"),
                  ("aes256_cbc; aes128_cbc", "hmac_sha2_256; hmac_sha1"), "", "", "", "")


def test_native_client_profiles(eap_pair: Namespaces, tmp_path: Path,
                                monkeypatch: pytest.MonkeyPatch,
                                request: pytest.FixtureRequest) -> None:
    """charon proposing as Windows, iOS and Android do, one connection each, to one server,
    with EAP-MSCHAPv2: each up with its own address and the CHILD_SA (refused by this
    kernel)."""
    files = pki_files(tmp_path, "ecdsa")
    r2 = Racoon2(eap_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    order = sorted(PROFILES)
    rows = []
    try:
        r2.start(server_conf(r2, "mschapv2", files["B"], SERVER))
        ss = start_client(eap_pair, tmp_path, "mschapv2", files["B"][2], monkeypatch,
                          tuple((name, "alice", PROFILES[name]) for name in order))
        for n, profile in enumerate(order):
            seen = len(ss.log())
            ss.ctl("--initiate", "--child", profile, "--timeout", "10")
            wait_until(lambda n=n: len(r2.established()) > n, 20, "the IKE SA: " + r2.log())
            wait_until(lambda n=n: r2.log().count("cannot install outbound") > n, 10,
                       "the CHILD_SA: " + r2.log())
            ss_log = ss.log()[seen:]
            assert f"virtual IP 198.51.100.{100 + n}" in ss_log, (profile, ss_log)
            assert SELECTED[profile] in ss_log, (profile, ss_log)
            retry = ""
            if profile == "android":  # its first KE is MODP4096: INVALID_KE_PAYLOAD
                assert "IKE_SA_INIT response 0 [ N(INVAL_KE) ]" in ss_log, ss_log
                retry = " (after INVALID_KE_PAYLOAD)"
            rows.append(Row(CLIENT_NAMES[profile], suite(ss_log) + retry, "EAP-MSCHAPv2", UP))
        log = r2.log()
        assert log.count("EAP-MSCHAPv2 user 'alice' authenticated") == len(order), log
        assert "Traceback" not in log
        record(request, rows)
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()


def tls_server(r2: Racoon2, files: dict[str, tuple[str, str, str]], extra: str = "") -> str:
    """iked on B with EAP-TLS, A's CA trusted for the client certificates."""
    return server_conf(r2, "mschapv2", files["B"]).replace(
        "method mschapv2;", f"method tls;{extra}")


@pytest.mark.skipif(not importlib.util.find_spec("OpenSSL"), reason="pyOpenSSL not installed")
def test_strongswan_eap_tls_client(eap_pair: Namespaces, tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch,
                                   request: pytest.FixtureRequest) -> None:
    """EAP-TLS: charon's certificate from the CA of iked's peers_public_key logs in (MSK from
    the TLS exporter); one from another CA is refused in the TLS handshake."""
    files = pki_files(tmp_path, "ecdsa")
    # A certificate from a CA iked does not trust, found by its subject (eap_id).
    other_ca, other_key = make_ca(), new_key("ecdsa")
    other_cert = issue("mallory", other_key, (other_ca[0].subject, other_ca[1]), False)
    (tmp_path / "other.pem").write_bytes(pem(other_cert))
    (tmp_path / "other.key").write_bytes(other_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    other = (str(tmp_path / "other.pem"), str(tmp_path / "other.key"))
    r2 = Racoon2(eap_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        r2.start(tls_server(r2, files))
        ss = charon(eap_pair, tmp_path / "ss", [tls_conn("r2", "good.pem"), tls_conn(
            "bad", "other.pem", '"CN=mallory"')], "eap-identity eap-tls", monkeypatch,
            [*tls_files(files), ("x509", other[0], "other.pem"),
             ("private", other[1], "other.key")])
        ss.ctl("--initiate", "--child", "bad", "--timeout", "10")
        wait_until(lambda: "EAP-TLS user" in r2.log(), 15, "the refusal: " + r2.log())
        log = r2.log()
        # the identity is mallory's subject DN, in DER: shown in hex
        assert re.search(r"IKE_AUTH failed: EAP-TLS user '0x[0-9a-f]+' refused: EAP-TLS "
                         "handshake failed: .*certificate verify failed", log), log
        assert not r2.established(), log
        settled(r2, ss)
        log = r2.log()
        assert "EAP-TLS user '0xc0000201' authenticated" in log, log  # the ID in binary
        ss_log = ss.log()
        assert "EAP method EAP_TLS succeeded, MSK established" in ss_log, ss_log
        assert "negotiated TLS 1.2" in ss_log, ss_log  # charon 5.9's default maximum
        # charon asks for EAP-only authentication (RFC 5998) even though its remote { auth =
        # pubkey; } wants our signature: iked sends its CERT and AUTH regardless
        assert "N(EAP_ONLY)" in ss_log, ss_log
        assert "parsed IKE_AUTH response 1 [ IDr CERT AUTH EAP/REQ/ID ]" in ss_log, ss_log
        assert "virtual IP 198.51.100.100" in ss_log, ss_log
        assert "Traceback" not in log
        record(request, [
            Row("strongSwan 5.9", suite(ss_log), "EAP-TLS (TLS 1.2)", UP),
            Row("strongSwan 5.9", "", "EAP-TLS, a certificate from another CA",
                'EAP Failure ("certificate verify failed"), logged once, no IKE SA')])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()


@pytest.mark.skipif(not importlib.util.find_spec("OpenSSL"), reason="pyOpenSSL not installed")
def test_eap_only_with_eap_tls(eap_pair: Namespaces, tmp_path: Path,
                               monkeypatch: pytest.MonkeyPatch,
                               request: pytest.FixtureRequest) -> None:
    """RFC 5998 with ``eap_only on``: charon asks with EAP_ONLY_AUTHENTICATION, iked's first
    answer has IDr and the EAP Request but no CERT or AUTH; TLS authenticates iked, the
    MSK-keyed AUTHs finish, the address is leased.  charon takes that only with remote {
    auth = eap; } (with pubkey: "constraint requires public key authentication").  Without
    eap_only: CERT and AUTH, as test_strongswan_eap_tls_client asserts."""
    files = pki_files(tmp_path, "ecdsa")
    r2 = Racoon2(eap_pair, "B", tmp_path / "r2")
    ss: StrongSwan | None = None
    try:
        r2.start(tls_server(r2, files, " eap_only on;"))
        ss = charon(eap_pair, tmp_path / "ss", [tls_conn("r2", "good.pem", remote_auth="eap")],
                    "eap-identity eap-tls", monkeypatch, tls_files(files))
        ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the IKE SA: " + r2.log())
        log = r2.log()
        assert "EAP-TLS: EAP-only authentication (RFC 5998), our certificate and AUTH left " \
               "out" in log, log
        assert "EAP-TLS user '0xc0000201' authenticated" in log, log
        ss_log = ss.log()
        assert "N(EAP_ONLY)" in ss_log, ss_log
        assert "parsed IKE_AUTH response 1 [ IDr EAP/REQ/ID ]" in ss_log, ss_log
        assert "EAP method EAP_TLS succeeded, MSK established" in ss_log, ss_log
        assert "virtual IP 198.51.100.100" in ss_log, ss_log
        assert "Traceback" not in log
        record(request, [Row("strongSwan 5.9, remote { auth = eap; }", suite(ss_log),
                             "EAP-TLS, EAP-only (RFC 5998, eap_only on)",
                             "up without iked's CERT and AUTH, address leased")])
    finally:
        r2.stop()
        if ss is not None:
            ss.stop()
