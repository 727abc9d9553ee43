"""The original racoon2 samples and the project's own samples pass each daemon's check.

The original samples are carried in tests/samples/original (with their copyright); the
project's own samples are in samples/.
Placeholders and key files are "installed" into tmp_path as configure and pskgen would.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from racoon2.config import load_config
from racoon2.config.check import check_config
from racoon2.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
ORIGINAL = ROOT / "tests" / "samples" / "original"
OWN = ROOT / "samples"
OPTIONAL = ["transport_ike.conf", "tunnel_ike.conf", "tunnel_ike_natt.conf",
            "transport_kink.conf", "local-test.conf"]
OWN_SAMPLES = {
    "ikev2-transport.conf": ("spmd", "iked"), "ikev2-tunnel.conf": ("spmd", "iked"),
    "ikev1-tunnel.conf": ("spmd", "iked"), "kink-transport.conf": ("spmd", "kinkd"),
    "roadwarrior-responder.conf": ("spmd", "iked"), "l2tp-ipsec-server.conf": ("spmd", "iked"),
    "roadwarrior-eap.conf": ("spmd", "iked"),
}
DOC_NETS = [ipaddress.ip_network(n) for n in (
    "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")]


def make_secret(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, b"0123456789abcdef")
    os.close(fd)


def install_original(prefix: Path) -> Path:
    """Copy the samples as `make install` would (with @prefix@ = ``prefix``)."""
    etc = prefix / "etc" / "racoon2"
    etc.mkdir(parents=True)
    for src in ORIGINAL.iterdir():
        if src.suffix not in (".conf", ".in"):
            continue
        text = src.read_text().replace("@sysconfdir@", str(etc)).replace(
            "@sbindir@", str(prefix / "sbin")).replace("@prefix@", str(prefix))
        (etc / src.name.removesuffix(".in")).write_text(text)
    for name in ("spmd.pwd", "psk/test.psk", "psk/wildcard.psk"):
        make_secret(etc / name)
    return etc


def with_include(etc: Path, extra: str | None) -> str:
    """racoon2.conf with one of the optional includes uncommented, as its comments suggest."""
    text = (etc / "racoon2.conf").read_text()
    if extra:
        text += f'include "{etc / extra}";\n'
    path = etc / f"racoon2-{extra or 'base'}.conf"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("extra", [None, *OPTIONAL])
@pytest.mark.parametrize("daemon", ["spmd", "iked", "kinkd"])
def test_original_sample_passes(tmp_path: Path, extra: str | None, daemon: str) -> None:
    etc = install_original(tmp_path)
    config = load_config(with_include(etc, extra), environ={})
    check_config(config, daemon)
    if extra:
        assert config.selectors and all(s.policy for s in config.selectors)


@pytest.mark.parametrize("daemon", ["spmd", "iked", "kinkd"])
def test_original_tunnel_kink_has_its_documented_error(tmp_path: Path, daemon: str) -> None:
    etc = install_original(tmp_path)
    with pytest.raises(ConfigError) as e:
        check_config(load_config(with_include(etc, "tunnel_kink.conf"), environ={}), daemon)
    assert str(e.value).startswith(f"{etc / 'tunnel_kink.conf'}:16: found '}}', expected ';'")


def install_own(tmp_path: Path, name: str) -> str:
    text = (OWN / name).read_text().replace("/usr/local/etc/racoon2", str(tmp_path))
    for line in text.splitlines():
        if "pre_shared_key" in line or "spmd_password" in line:
            make_secret(Path(line.split('"')[1].replace("${CONFDIR}", str(tmp_path))))
        if "x509pem" in line:  # the certificate and key files (their contents unread here)
            for path in line.split('"')[1::2]:
                make_secret(Path(path))
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_own_sample_is_listed() -> None:
    assert sorted(p.name for p in OWN.glob("*.conf")) == sorted(OWN_SAMPLES)


@pytest.mark.parametrize("name", sorted(OWN_SAMPLES))
def test_own_sample_passes(tmp_path: Path, name: str) -> None:
    config = load_config(install_own(tmp_path, name), environ={})
    for daemon in OWN_SAMPLES[name]:
        assert [w.message for w in check_config(config, daemon)] == []
    for addr in (a for s in config.selectors for a in (*s.src, *s.dst) if a.address):
        assert any(addr.address in net for net in DOC_NETS), addr
