"""The test realm's description, shared by the fixtures and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Realm:
    """What the tests need to know about the running realm."""

    name: str
    krb5_conf: Path
    kdc_port: int
    alpha: str
    beta: str
    alpha_keytab: str
    beta_keytab: str
    tmpdir: Path

    def write_krb5_conf(self, path: Path, kdc: str) -> Path:
        """A krb5.conf for this realm whose KDC is ``kdc`` (host:port)."""
        path.write_text(
            f"[libdefaults]\n\tdefault_realm = {self.name}\n\tdns_lookup_kdc = false\n"
            f"\tdns_lookup_realm = false\n\trdns = false\n"
            f"[realms]\n\t{self.name} = {{\n\t\tkdc = {kdc}\n\t}}\n"
        )
        return path
