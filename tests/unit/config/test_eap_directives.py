"""``eap { method M; users FILE; }`` in an ikev2 block (doc/config.md §5): the grammar, the
effective values, iked's settings from it, and what ``iked -n`` says about the users file
(which users cannot use the method) and the server certificate (Windows' and Apple's rules).
"""

from __future__ import annotations

import dataclasses
import datetime
import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pki import make_ca, new_key, pem

from iked.eap_check import certificate_problems, check_server_certificates
from iked.ikev2.eap import eap_only
from iked.ikev2.settings import peer_settings
from iked.users import check_users, hash_password
from racoon2.config import Config
from racoon2.config.check import check_config
from racoon2.config.effective import ikev2
from racoon2.config.files import read_secret
from racoon2.config.model import ConfigWarning, EapMethod, IdType
from racoon2.eap import md5, mschapv2
from racoon2.eap.mschapv2 import nt_password_hash
from racoon2.errors import ConfigError
from racoon2.ikev2.constants import IdType as IkeIdType
from racoon2.ikev2.constants import NotifyType
from racoon2.ikev2.payloads import IDi, Notify

Load = Callable[..., Config]
Secret = Callable[..., str]

IKEV2 = """
interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "/run/spmif"; }}; spmd_password "{pwd}"; }};
remote r {{ acceptable_kmp ikev2; ikev2 {{
    my_id fqdn "vpn.example.com"; peers_ipaddr IP_RW;
    kmp_enc_alg aes128_cbc; kmp_hash_alg hmac_sha2_256; kmp_dh_group modp2048;
    kmp_auth_method rsasig; my_public_key x509pem "{cert}" "{key}";
    {extra}
}}; }};
"""


def _server_cert(tmp_path: Path, eku: bool = True, dns: str = "vpn.example.com"
                 ) -> tuple[str, str]:
    ca_cert, ca_key = make_ca()
    key = new_key("ecdsa")
    now = datetime.datetime.now(datetime.UTC)
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns)]))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(1))
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns), x509.IPAddress(
             ipaddress.ip_address("192.0.2.1"))]), critical=False))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                            critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(pem(cert))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_path.chmod(0o600)
    return str(cert_path), str(key_path)


def _config(load: Load, secret: Secret, tmp_path: Path, extra: str, **cert: object) -> Config:
    cert_path, key_path = _server_cert(tmp_path, **cert)  # type: ignore[arg-type]
    return load(IKEV2.format(pwd=secret("spmd.pwd"), cert=cert_path, key=key_path,
                             extra=extra))


def _warnings(cfg: Config) -> list[str]:
    warnings: list[ConfigWarning] = []
    check_users(cfg, warnings)
    check_server_certificates(cfg, warnings)
    return [w.message for w in warnings]


USERS = (f"alice plain:s3cret\nbob nthash:{nt_password_hash('pw').hex()}\n"
         f"carol {hash_password('pw', bytes(16), 'pbkdf2-sha256')}\n").encode()


def test_eap_block_and_settings(load: Load, secret: Secret, tmp_path: Path) -> None:
    users = secret("eap.users", USERS)
    cfg = _config(load, secret, tmp_path, f'eap {{ method mschapv2; users "{users}"; }};')
    eff = ikev2(cfg, cfg.remote("r"))
    assert eff.eap is not None and eff.eap.method is EapMethod.MSCHAPV2
    assert eff.eap.users == users and eff.eap.where_of("users") == f"{cfg.file}:7"
    # no peers_public_key: EAP clients do not sign
    assert list(check_config(cfg, "iked")) == []
    settings = peer_settings(cfg, cfg.remote("r"), read_secret, lambda p: Path(p).read_bytes())
    assert settings.eap is not None and settings.trust is None
    assert settings.eap.users.nt_hash("alice") == nt_password_hash("s3cret")
    assert settings.eap.users.nt_hash("bob") == nt_password_hash("pw")
    assert settings.eap.users.nt_hash("carol") is None
    assert settings.eap.users.password("alice") == b"s3cret"
    assert settings.eap.users.password("bob") is None
    # nthash serves XAuth too: the password is hashed and compared
    assert settings.eap.users.verify("bob", b"pw") and not settings.eap.users.verify("bob", b"x")
    assert _warnings(cfg) == [
        f"remote 'r': users carol of {users} cannot use mschapv2: it needs nthash: or plain: "
        "(doc/iked.md, XAuth users file)"]


def test_md5_needs_plain(load: Load, secret: Secret, tmp_path: Path) -> None:
    users = secret("eap.users", USERS)
    cfg = _config(load, secret, tmp_path, f'eap {{ method md5; users "{users}"; }};')
    assert _warnings(cfg) == [f"remote 'r': users bob, carol of {users} cannot use md5: it "
                              "needs plain: (doc/iked.md, XAuth users file)"]


@pytest.mark.parametrize(("text", "message"), [
    ('eap { users "f"; };', "eap { } without method"),
    ("eap { method mschapv2; };", "eap { } without users"),
    ('eap { method peap; users "f"; };',
     "expected an EAP method: mschapv2 or md5 or tls or radius"),
    ("eap { method mschapv2; pam x; };", "expected a directive of 'eap'"),
    ("eap { method radius; };", "needs radius_server ADDR radius_secret FILE"),
    ('eap { method radius; radius_server 192.0.2.9; };', "without radius_secret FILE"),
    ('eap { method radius; radius_server rad.example radius_secret "s"; };',
     "expected a RADIUS server's IP address"),
    ('eap { method radius; radius_server 192.0.2.9 port 65535 radius_secret "s"; };',
     "expected 1 to 65534"),
    ('eap { method radius; radius_server 192.0.2.9 secret "s"; };',
     "expected port N or radius_secret FILE"),
    # RFC 5998 §4: EAP-only needs a safe method, one that authenticates the server
    ('eap { method md5; users "f"; eap_only on; };', "eap_only on with method md5"),
    ('eap { method mschapv2; users "f"; eap_only on; };', "eap_only on with method mschapv2"),
    ('eap { method radius; radius_server 192.0.2.9 radius_secret "s"; eap_only on; };',
     "the method is not known in time"),
    ('eap { method tls; eap_only maybe; };', "expected on or off"),
])
def test_grammar_errors(load: Load, secret: Secret, tmp_path: Path, text: str,
                        message: str) -> None:
    with pytest.raises(ConfigError, match=message) as e:
        _config(load, secret, tmp_path, text)
    assert e.value.where is not None and e.value.where.endswith(":7")


def test_eap_needs_our_certificate(load: Load, secret: Secret) -> None:
    users = secret("eap.users", USERS)
    cfg = load(f"""
interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "/run/spmif"; }};
    spmd_password "{secret('spmd.pwd')}"; }};
remote r {{ acceptable_kmp ikev2; ikev2 {{ my_id fqdn "vpn.example.com"; peers_ipaddr IP_RW;
    kmp_enc_alg aes128_cbc; kmp_hash_alg hmac_sha2_256; kmp_dh_group modp2048;
    kmp_auth_method psk; pre_shared_key "{secret('r.psk')}";
    eap {{ method mschapv2; users "{users}"; }}; }}; }};
""")
    with pytest.raises(ConfigError, match="does not authenticate itself with a certificate"):
        list(check_config(cfg, "iked"))


def test_server_certificate_rules(load: Load, secret: Secret, tmp_path: Path) -> None:
    users = secret("eap.users", b"alice plain:x\n")
    cfg = _config(load, secret, tmp_path, f'eap {{ method mschapv2; users "{users}"; }};',
                  eku=False, dns="other.example.com")
    cert = str(tmp_path / "server.pem")
    assert _warnings(cfg) == [
        f"remote 'r': the server certificate {cert}: it has no extendedKeyUsage serverAuth "
        "(Windows and Apple refuse it)",
        f"remote 'r': the server certificate {cert}: my_id fqdn vpn.example.com is not among "
        "its subjectAltName DNS names (iOS and macOS refuse it)"]
    good = x509.load_pem_x509_certificate(Path(_server_cert(tmp_path)[0]).read_bytes())
    assert certificate_problems(good, [(IdType.FQDN, "VPN.example.com"),
                                       (IdType.IPADDR, "192.0.2.1")]) == []
    assert certificate_problems(good, [(IdType.IPADDR, "192.0.2.9")]) == [
        "my_id ipaddr 192.0.2.9 is not among its subjectAltName IP addresses (iOS and macOS "
        "refuse it)"]


def test_tls_needs_the_clients_ca_not_users(load: Load, secret: Secret, tmp_path: Path) -> None:
    cfg = _config(load, secret, tmp_path, "eap { method tls; };")
    with pytest.raises(ConfigError, match="has eap { method tls; } but no peers_public_key"):
        list(check_config(cfg, "iked"))
    ca = str(tmp_path / "ca.pem")
    Path(ca).write_bytes(pem(make_ca()[0]))
    cfg = _config(load, secret, tmp_path, f'eap {{ method tls; }}; peers_public_key x509pem '
                                          f'"{ca}";')
    assert list(check_config(cfg, "iked")) == [] and _warnings(cfg) == []
    settings = peer_settings(cfg, cfg.remote("r"), read_secret, lambda p: Path(p).read_bytes())
    assert settings.eap is not None and settings.eap.users is None
    assert len(settings.eap.anchors) == 1
    assert not settings.eap.eap_only  # off by default (doc/iked.md: strongSwan always asks)


def test_eap_only_omits_our_auth_only_when_asked_allowed_and_safe(
        load: Load, secret: Secret, tmp_path: Path) -> None:
    """RFC 5998 §3: CERT and AUTH are left out only if the client sent
    EAP_ONLY_AUTHENTICATION, eap_only is on and the method is safe (§4); else they go out."""
    ca = str(tmp_path / "ca.pem")
    Path(ca).write_bytes(pem(make_ca()[0]))
    cfg = _config(load, secret, tmp_path, f'eap {{ method tls; eap_only on; }}; '
                                          f'peers_public_key x509pem "{ca}";')
    assert list(check_config(cfg, "iked")) == []
    settings = peer_settings(cfg, cfg.remote("r"), read_secret, lambda p: Path(p).read_bytes())
    assert settings.eap is not None and settings.eap.eap_only
    asked = (IDi(IkeIdType.FQDN, b"c"), Notify(0, NotifyType.EAP_ONLY_AUTHENTICATION))
    assert eap_only(settings.eap, True, asked)
    assert not eap_only(settings.eap, True, asked[:1])      # not asked: AUTH required
    assert not eap_only(settings.eap, False, asked)         # an unsafe method: AUTH sent
    off = dataclasses.replace(settings.eap, eap_only=False)
    assert not eap_only(off, True, asked)                   # not allowed: AUTH sent
    assert mschapv2.MsChapV2.mutual is False and md5.Md5.mutual is False


def test_a_bad_nthash_names_its_line(load: Load, secret: Secret, tmp_path: Path) -> None:
    users = secret("eap.users", b"alice plain:x\nbob nthash:1234\n")
    cfg = _config(load, secret, tmp_path, f'eap {{ method mschapv2; users "{users}"; }};')
    with pytest.raises(ConfigError, match=r"user 'bob': expected nthash:HASH_HEX \(32 hex") \
            as e:
        _warnings(cfg)
    assert e.value.where == f"{users}:2"


def test_radius_servers_in_order_and_their_secrets(load: Load, secret: Secret,
                                                   tmp_path: Path) -> None:
    key = secret("radius.key", b"shared-secret\n")
    cfg = _config(load, secret, tmp_path, f"""eap {{ method radius;
        radius_server 192.0.2.10 port 11812 radius_secret "{key}";
        radius_server 2001:db8::10 radius_secret "{key}";
        radius_nas_identifier "vpn1"; radius_accounting off; }};""")
    # a repeated directive is noted, as every merged one is
    assert [w.message for w in check_config(cfg, "iked")] == [
        "'radius_server' repeated in 'eap' (first at line 8): the servers are tried in order"]
    settings = peer_settings(cfg, cfg.remote("r"), read_secret, lambda p: Path(p).read_bytes())
    assert settings.eap is not None and settings.eap.radius is not None
    radius = settings.eap.radius
    assert [(s.address, s.port, s.secret) for s in radius.servers] == [
        ("192.0.2.10", 11812, b"shared-secret"), ("2001:db8::10", 1812, b"shared-secret")]
    assert radius.nas_identifier == "vpn1" and not radius.accounting
    Path(key).chmod(0o644)  # iked -n: the secret file must be 0600
    with pytest.raises(ConfigError, match="radius.key"):
        list(check_config(cfg, "iked"))
