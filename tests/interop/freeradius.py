"""FreeRADIUS 3.2 from Debian (tests/harness/setup-host.sh) as the RADIUS server of iked's
``eap { method radius; }``: a configuration directory written from scratch (EAP with
MSCHAPv2 and TLS, the users file, accounting to a detail file) and ``freeradius -X`` in a
namespace, logging to a file the tests read."""

from __future__ import annotations

import subprocess
from pathlib import Path

from peers import Namespaces, wait_until

SECRET = "radius-interop-secret"
BINARY = Path("/usr/sbin/freeradius")

RADIUSD = """prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
logdir = {d}
raddbdir = {d}
radacctdir = {d}
confdir = {d}
run_dir = {d}
db_dir = {d}
libdir = /usr/lib/freeradius
pidfile = {d}/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 1024
hostname_lookups = no
log {{
  destination = stdout
  auth = yes
}}
security {{
  allow_core_dumps = no
  max_attributes = 200
  reject_delay = 0
  status_server = no
}}
client iked {{
  ipaddr = {nas}
  secret = {secret}
  require_message_authenticator = yes
}}
modules {{
  eap {{
    default_eap_type = mschapv2
    timer_expire = 60
    max_sessions = 64
    mschapv2 {{
    }}
    tls-config tls-common {{
      private_key_file = {key}
      certificate_file = {cert}
      ca_file = {ca}
      cipher_list = "DEFAULT"
      tls_min_version = "1.2"
      tls_max_version = "1.2"
    }}
    tls {{
      tls = tls-common
    }}
  }}
  mschap {{
  }}
  files {{
    filename = {d}/users
  }}
  detail {{
    filename = {d}/detail
    header = "%t"
  }}
}}
server default {{
  listen {{
    type = auth
    ipaddr = {addr}
    port = {port}
  }}
  listen {{
    type = acct
    ipaddr = {addr}
    port = {acct}
  }}
  authorize {{
    eap {{
      ok = return
    }}
    files
  }}
  authenticate {{
    eap
    Auth-Type MS-CHAP {{
      mschap
    }}
  }}
  preacct {{
  }}
  accounting {{
    detail
  }}
  post-auth {{
  }}
}}
"""


class FreeRadius:
    """``freeradius -X -d DIR`` in one namespace; its debug output in DIR/radiusd.log."""

    def __init__(self, d: Path, users: str, addr: str, nas: str, port: int = 1812,
                 tls: tuple[str, str, str] | None = None) -> None:
        self.d = d
        d.mkdir(parents=True, exist_ok=True)
        cert, key, ca = tls or ("", "", "")
        (d / "dictionary").write_text("")
        (d / "users").write_text(users)
        text = RADIUSD.format(d=d, nas=nas, secret=SECRET, addr=addr, port=port,
                              acct=port + 1, cert=cert, key=key, ca=ca)
        if tls is None:  # no certificate: EAP-TLS is left out
            start = text.index("    tls-config")
            text = text[:start] + text[text.index("  }}\n  mschap".replace("}}", "}")):]
        (d / "radiusd.conf").write_text(text)
        self.proc: subprocess.Popen[bytes] | None = None

    def log(self) -> str:
        """The debug output so far."""
        path = self.d / "radiusd.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def detail(self) -> str:
        """The accounting records so far (the detail module's file)."""
        path = self.d / "detail"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self, ns: Namespaces | None = None, side: str = "B") -> None:
        """Run it (in ``ns``'s ``side``) and wait until it listens."""
        argv = [str(BINARY), "-X", "-d", str(self.d)]
        if ns is not None:
            argv = ["ip", "netns", "exec", ns.name(side), *argv]
        with open(self.d / "radiusd.log", "ab") as out:
            self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_until(lambda: "Ready to process requests" in self.log() or
                   self.proc is not None and self.proc.poll() is not None, 20,
                   "FreeRADIUS to start")
        if "Ready to process requests" not in self.log():
            raise AssertionError("FreeRADIUS did not start:\n" + self.log()[-3000:])

    def stop(self) -> None:
        """SIGTERM it and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
