"""racoon2-setup's impure half: make the secrets and certificates, check, diff, write.

Every racoon2.conf is first written with all its files into a staging directory beside the
output and checked there with the daemons' own ``-n`` code (load_config + check_config, as
``iked -n``/``spmd -n``/``kinkd -n`` run it), so the secret files' modes and owners are
checked too; only then is anything in the output directory touched.  Existing files with
other contents are never replaced without ``force``; existing secrets, keys and certificates
are kept and reused (delete them to have new ones made), so a second run changes nothing.
"""

from __future__ import annotations

import base64
import difflib
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from pskgen.cli import random_key, write_output
from racoon2.config import load_config
from racoon2.config.check import check_config
from racoon2.eap.mschapv2 import nt_password_hash
from racoon2.errors import ConfigError, Racoon2Error
from racoon2.setup import conf, peer, pki
from racoon2.setup.model import Identity, Setup

SPMD_PASSWORD_BYTES = 16
PSK_BYTES = 24  # 32 characters of base64: printable, so a phone user can type it


@dataclass
class Plan:
    """The files of one run (paths relative to the output directory) and what checks them."""

    out: Path
    files: dict[str, bytes] = field(default_factory=dict)
    secret: set[str] = field(default_factory=set)
    #: (directory of a racoon2.conf, its setup, the daemons that check it)
    confs: list[tuple[str, Setup, tuple[str, ...]]] = field(default_factory=list)
    clients: list[str] = field(default_factory=list)

    def keep_or_make(self, rel: str, make: bytes | None = None) -> bytes:
        """A secret: the existing file's bytes, else ``make`` (else fresh random bytes)."""
        path = self.out / rel
        data = path.read_bytes() if path.is_file() else (
            make if make is not None else random_key(SPMD_PASSWORD_BYTES))
        self.files[rel] = data
        self.secret.add(rel)
        return data

    def private(self, rel: str, data: bytes) -> None:
        """A file of mode 0600 made anew each run (a copy of a secret, a swanctl.conf)."""
        self.files[rel] = data
        self.secret.add(rel)

    def public(self, rel: str, data: bytes) -> None:
        """A file anyone may read."""
        self.files[rel] = data

    def add_conf(self, where: str, s: Setup) -> None:
        """racoon2.conf of ``s`` in directory ``where`` ("" = the output), with its spmd.pwd."""
        prefix = f"{where}/" if where else ""
        self.public(prefix + "racoon2.conf", conf.render(s).encode())
        self.keep_or_make(prefix + "spmd.pwd")
        daemons = ("kinkd", "spmd") if s.case == "kink-host" else ("iked", "spmd")
        self.confs.append((where, s, daemons))


def _psk() -> bytes:
    return base64.b64encode(random_key(PSK_BYTES))


def _certs(plan: Plan, where: str, ca: pki.Issued, ident: Identity, addr: str | None,
           server: bool) -> pki.Issued:
    prefix = f"{where}/" if where else ""
    cert_rel, key_rel = prefix + "certs/host.pem", prefix + "certs/host.key"
    if (plan.out / cert_rel).is_file() and (plan.out / key_rel).is_file():
        issued = pki.Issued((plan.out / cert_rel).read_bytes(), (plan.out / key_rel).read_bytes())
    else:
        issued = pki.issue(ca, ident, addr, server)
    plan.public(cert_rel, issued.cert)
    plan.keep_or_make(key_rel, issued.key)
    plan.public(prefix + "certs/ca.pem", ca.cert)
    return issued


def plan(s: Setup, out: Path) -> Plan:
    """Every file the case needs, secrets kept from ``out`` where they exist."""
    p = Plan(out)
    p.add_conf("", s)
    psk = None if s.signed or s.case == "kink-host" else \
        p.keep_or_make(conf.psk_file(s), _psk())
    ca = None
    if s.signed:
        ca_cert, ca_key = out / "ca/ca.pem", out / "ca/ca.key"
        ca = pki.Issued(ca_cert.read_bytes(), ca_key.read_bytes()) if ca_cert.is_file() and \
            ca_key.is_file() else pki.make_ca(f"racoon2-setup {s.name}")
        p.public("ca/ca.pem", ca.cert)
        p.keep_or_make("ca/ca.key", ca.key)
        assert s.local_id is not None
        _certs(p, "", ca, s.local_id, s.local, server=True)
    if s.case in ("host-to-host", "site-to-site", "kink-host"):
        other = s.mirrored()
        p.add_conf("peer", other)
        if psk is not None:
            p.private("peer/" + conf.psk_file(s), psk)
        if ca is not None and other.local_id is not None:
            _certs(p, "peer", ca, other.local_id, other.local, server=True)
        if s.case != "kink-host":
            p.private("peer/swanctl.conf", peer.swanctl(other, psk.decode() if psk
                                                        else None).encode())
    users = []
    for client in s.clients if s.case == "vpn-server" else ():
        where = f"clients/{client}"
        cs = s.client(client)
        p.clients.append(client)
        if s.eap:
            # No racoon2.conf: iked is no EAP client (doc/iked.md); strongSwan and the
            # phones' and Windows' own clients are.
            assert ca is not None
            password = p.keep_or_make(f"{where}/password.txt", _psk())
            users.append(f"{client} nthash:{nt_password_hash(password.decode()).hex()}\n")
            p.public(f"{where}/certs/ca.pem", ca.cert)
            p.private(f"{where}/swanctl.conf", peer.swanctl(cs, password.decode()).encode())
            continue
        p.add_conf(where, cs)
        if psk is not None:
            p.private(f"{where}/{conf.psk_file(cs)}", psk)
            p.private(f"{where}/psk.txt", psk)
        if ca is not None:
            issued = _certs(p, where, ca, Identity.of(client), None, server=False)
            password = p.keep_or_make(f"{where}/p12-password.txt", _psk())
            p.keep_or_make(f"{where}/{client}.p12",
                           pki.pkcs12_bundle(issued, ca, client, password))
        p.private(f"{where}/swanctl.conf", peer.swanctl(cs, psk.decode() if psk else None)
                  .encode())
    if s.eap:
        # MSCHAPv2 needs the NT hash, not a salted one (doc/iked.md, "XAuth users file").
        p.private(conf.USERS, ("# EAP-MSCHAPv2 users written by racoon2-setup: NAME "
                               "nthash:MD4(UTF-16LE password)\n" + "".join(users)).encode())
    text = peer.summary(s, sorted(p.files), p.clients)
    p.public("SUMMARY.txt", text.encode())
    return p


def _write(path: Path, data: bytes, secret: bool) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if secret else 0o755)
    write_output(str(path), data)  # pskgen's: a new 0600 file renamed into place
    if not secret:
        path.chmod(0o644)


def check(p: Plan) -> list[str]:
    """Each racoon2.conf of ``p`` with its files, staged and checked as the daemons' ``-n``
    does; the warnings (``FILE:LINE: …``, the file named by its final path).  Raises
    ConfigError on the first refusal."""
    staging = Path(tempfile.mkdtemp(prefix=".racoon2-setup.", dir=_existing(p.out)))
    warnings: list[str] = []
    try:
        for rel, data in p.files.items():
            _write(staging / rel, data, rel in p.secret)
        for where, s, daemons in p.confs:
            d = staging / where
            path = d / "racoon2.conf"
            _write(path, conf.render(replace(s, confdir=str(d))).encode(), False)
            final = str(p.out / where / "racoon2.conf")
            for daemon in daemons:
                try:
                    found = check_config(load_config(str(path)), daemon)
                except ConfigError as e:
                    raise ConfigError(f"{daemon} -n refuses the generated {final}: "
                                      f"{str(e).replace(str(staging), str(p.out))}") from None
                warnings += [f"{daemon} -n: {str(w).replace(str(staging), str(p.out))}"
                             for w in found]
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return warnings


def _existing(path: Path) -> Path:
    while not path.exists():
        path = path.parent
    return path


def diff(p: Plan) -> str:
    """A unified diff of every text file against what is there (secrets only named)."""
    out = []
    for rel, data in sorted(p.files.items()):
        path = p.out / rel
        old = path.read_bytes() if path.is_file() else b""
        if old == data:
            continue
        if rel in p.secret or rel.endswith((".p12", ".key")):
            out.append(f"new secret {path}\n")
            continue
        out += difflib.unified_diff(old.decode(errors="replace").splitlines(True),
                                    data.decode().splitlines(True),
                                    str(path) if old else "/dev/null", str(path))
    return "".join(out)


def conflicts(p: Plan) -> list[str]:
    """Files that exist with other contents (written only with ``force``)."""
    return [str(p.out / rel) for rel, data in sorted(p.files.items())
            if (p.out / rel).is_file() and (p.out / rel).read_bytes() != data]


def write(p: Plan) -> list[str]:
    """Write the files that differ; their paths."""
    written = []
    for rel, data in sorted(p.files.items()):
        path = p.out / rel
        if path.is_file() and path.read_bytes() == data:
            continue
        try:
            _write(path, data, rel in p.secret)
        except (OSError, Racoon2Error) as e:
            raise ConfigError(f"cannot write {path}: {e}") from None
        written.append(str(path))
    return written
