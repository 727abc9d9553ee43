"""The original racoon2 samples (tests/samples/original/) installed as `make install` would.

``install(prefix, sock, extra)`` writes PREFIX/etc/racoon2/ with the placeholders of the
originals replaced (tests/samples/original/README.md lists what stands for what) and returns
racoon2.conf with the optional include ``extra`` switched on, as its comments suggest.
"""

from __future__ import annotations

import os
from pathlib import Path

ORIGINAL = Path(__file__).resolve().parents[1] / "samples" / "original"
#: vals.conf's placeholders → documentation addresses and the test realm's principals.
VALUES = {
    "MY_IPADDRESS": "192.0.2.1", "MY_GWADDRESS": "192.0.2.1",
    "PEERS_IPADDRESS": "192.0.2.2", "PEERS_GWADDRESS": "192.0.2.2",
    "MY_PUBLIC_IPADDRESS": "203.0.113.1", "PEERS_PRIVATE_IPADDRESS": "198.51.100.2",
    "MY_NET": "198.51.100.0/25", "PEERS_NET": "198.51.100.128/25",
    "MY_PRINCIPAL": "kink/host-a.example.com@KINK.TEST",
    "PEERS_PRINCIPAL": "kink/host-b.example.com@KINK.TEST",
}
#: The includes racoon2.conf.in offers (commented out), each switched on in turn.
OPTIONAL = ["transport_ike.conf", "tunnel_ike.conf", "tunnel_ike_natt.conf",
            "transport_kink.conf", "tunnel_kink.conf", "local-test.conf"]


def _secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    os.write(fd, data)
    os.close(fd)


def _vals(text: str) -> str:
    out = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] in VALUES and words[1].startswith('"'):
            line = line[:line.index('"')] + f'"{VALUES[words[0]]}";'
        out.append(line)
    return "\n".join(out) + "\n"


def install(prefix: Path, sock: Path, extra: str | None) -> Path:
    """Install the samples under ``prefix``; racoon2.conf (with ``extra`` included)."""
    etc = prefix / "etc" / "racoon2"
    etc.mkdir(parents=True)
    for src in ORIGINAL.iterdir():
        if src.suffix not in (".conf", ".in"):
            continue
        text = src.read_text().replace("@prefix@", str(prefix)).replace(
            "/var/run/racoon2/spmif", str(sock))
        if src.name == "vals.conf.in":
            text = _vals(text)
        (etc / src.name.removesuffix(".in")).write_text(text)
    _secret(etc / "spmd.pwd", os.urandom(16).hex().encode())
    for name in ("psk/test.psk", "psk/wildcard.psk"):
        _secret(etc / name, b"0123456789abcdef")
    conf = etc / "racoon2.conf"
    if extra:
        conf.write_text(conf.read_text() + f'include "{etc / extra}";\n')
    return conf
