"""strongSwan's load-tester as the initiator of benchmarks/ike_responder.py.

The field's own load generator (charon's ``load-tester`` plugin, strongSwan 5.9.8 built from
Debian's source by ``benchmarks/build-strongswan-lt.sh``, cached in :data:`PREFIX`) runs in
namespace A and sets up IKE_SA + CHILD_SA pairs against whatever answers at 192.0.2.2 in B:
a charon with the same plugin (``initiators = 0``, ``fake_kernel = yes``: its CHILD_SAs are
negotiated, not installed) or iked with ``-D 0x8`` (no kernel, no spmd); with ``--kernel real``
(benchmarks/realkernel.py, in the VM) the responder charon's kernel-netlink installs them while
the initiator's stay fake.  PSK, transport mode,
the load-tester's default identities: the responder is ``srv.strongswan.org`` and every
connection a client of its own, ``c<n>-r1.strongswan.org`` (strongswan.conf(5), LOAD TESTS), so
each IKE_AUTH carries INITIAL_CONTACT for an identity nobody else has.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

PREFIX = Path(os.environ.get("R2_STRONGSWAN_LT", "/var/cache/racoon2-strongswan-lt"))
BUILD = Path(__file__).resolve().parent / "build-strongswan-lt.sh"
BUILD_SECONDS = 1800  # ~75 s on 2 idle cores; a loaded machine takes many times that
PSK = "racoon2-loadtest-psk-0123456789"
RESPONDER_ID = "srv.strongswan.org"
T = TypeVar("T")
_STATS = re.compile(r"^IKE_SAs: (\d+) total, (\d+) half-open", re.M)


def built() -> bool:
    """Whether the load-tester build is in :data:`PREFIX` already."""
    return (PREFIX / "sbin" / "charon-systemd").exists() and \
        (PREFIX / "lib" / "ipsec" / "plugins" / "libstrongswan-load-tester.so").exists()


def build() -> None:
    """Build the load-tester once (bounded in time); later calls find it cached."""
    if not built():
        subprocess.run(["bash", str(BUILD), str(PREFIX)], check=True, timeout=BUILD_SECONDS)


def _conf(d: Path, ike: str, esp: str, lines: str, cookies: int = 0, fake_kernel: bool = True
          ) -> str:
    # RFC 7296 §2.6 cookies once ``cookies`` IKE SAs are half-open, as iked asks for them;
    # charon's per-address limits stay off (every load-tester client has one address).
    dos = f"""dos_protection = yes
  cookie_threshold = {cookies}
  cookie_threshold_ip = 1000000
  block_threshold = 1000000""" if cookies else "dos_protection = no"
    return f"""charon {{
  load_modular = no
  load = random nonce openssl pem pkcs1 x509 pubkey curve25519 gmp aes sha1 sha2 hmac kdf gcm \
load-tester kernel-netlink socket-default vici
  threads = 16
  ikesa_table_size = 4096
  ikesa_table_segments = 16
  {dos}
  reuse_ikesa = no
  install_routes = no
  filelog {{
    log {{
      path = {d}/charon.log
      default = -1
    }}
  }}
  plugins {{
    vici {{
      socket = unix://{d}/charon.vici
    }}
    load-tester {{
      enable = yes
      fake_kernel = {"yes" if fake_kernel else "no"}
      version = 2
      initiator = 192.0.2.1
      responder = 192.0.2.2
      proposal = {ike}
      esp = {esp}
      mode = transport
      initiator_auth = psk
      responder_auth = psk
      preshared_key = {PSK}
      child_rekey = 3600
      ike_rekey = 0
      socket = unix://{d}/charon.ldt
      {lines}
    }}
  }}
}}
charon-systemd {{
  journal {{
    default = -1
  }}
}}
"""


@dataclass
class Charon:
    """One charon-systemd of the load-tester build in a namespace, with its own state dir."""

    ns: str
    dir: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self, ike: str, esp: str, lines: str, cookies: int = 0, fake_kernel: bool = True
              ) -> None:
        """Start it with these load-tester lines (and cookies from ``cookies`` half-open IKE
        SAs on, 0: none; ``fake_kernel`` off: kernel-netlink installs the CHILD_SAs); returns
        once its vici socket is there."""
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "strongswan.conf").write_text(
            _conf(self.dir, ike, esp, lines, cookies, fake_kernel))
        env = {**os.environ, "STRONGSWAN_CONF": str(self.dir / "strongswan.conf")}
        with open(self.dir / "stdout", "wb") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.ns, str(PREFIX / "sbin" / "charon-systemd")],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while not (self.dir / "charon.vici").exists():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"charon in {self.ns} did not start: see {self.dir}")
            time.sleep(0.05)

    def established(self) -> int:
        """IKE SAs up (total minus half-open), from ``swanctl --stats``."""
        out = subprocess.run([str(PREFIX / "sbin" / "swanctl"), "--stats", "--uri",
                              f"unix://{self.dir}/charon.vici"], capture_output=True,
                             text=True, check=False).stdout
        m = _STATS.search(out)
        return int(m.group(1)) - int(m.group(2)) if m else 0

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


def responder(ns: str, d: Path, ike: str, esp: str, cookies: int = 0, fake_kernel: bool = True
              ) -> Charon:
    """A charon answering the load-tester in ``ns`` (no initiator threads; a fake kernel
    unless ``fake_kernel`` is off), asking for cookies from ``cookies`` half-open IKE SAs on
    (0: never)."""
    c = Charon(ns, d)
    c.start(ike, esp, "initiators = 0", cookies, fake_kernel)
    return c


def burst(ns: str, d: Path, ike: str, esp: str, count: int, sample: Callable[[], T],
          initiators: int = 4, window: int = 32, timeout: float = 600.0
          ) -> tuple[int, float, T]:
    """Set up ``count`` IKE SAs from ``initiators`` load-tester threads, at most ``window``
    half-open: (established, seconds, ``sample()``) once all are up or at ``timeout``.
    ``sample`` runs before the initiator stops: its Deletes are not part of the measurement."""
    c = Charon(ns, d)
    began = time.monotonic()
    c.start(ike, esp, f"initiators = {initiators}\n      iterations = "
                      f"{-(-count // initiators)}\n      init_limit = {window}\n      delay = 1")
    try:
        up = 0
        while up < count and time.monotonic() - began < timeout:
            time.sleep(0.1)
            up = c.established()
        seconds = time.monotonic() - began
        return up, seconds, sample()
    finally:
        c.stop()
