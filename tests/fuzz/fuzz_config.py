"""Atheris target: the configuration loader (racoon2.config.load_config) on arbitrary bytes.

Each input is written to ``racoon2.conf`` in a private directory and loaded; it must give a
model or a ConfigError (that names ``file:line`` when the problem is in the text): any other
exception is a bug.  Includes are sandboxed: a pattern matches only inside that directory, which
also holds ``inc.conf`` (a valid fragment), so include handling is exercised without reading the
host's files; ``$[NAME]`` sees a fixed environment.  Run it with libFuzzer's options:

    .venv/bin/python tests/fuzz/fuzz_config.py -runs=10000
    .venv/bin/python tests/fuzz/fuzz_config.py --write-corpus /tmp/config-corpus
    .venv/bin/python tests/fuzz/fuzz_config.py /tmp/config-corpus -max_total_time=3600 \\
        -dict=tests/fuzz/config.dict

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import glob
import os
import sys
import tempfile
from pathlib import Path
from unittest import mock

from fuzz_common import main as run

from racoon2.config import files, load_config
from racoon2.errors import ConfigError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
ENVIRON = {"FUZZ_DIR": "conf.d", "FUZZ_ADDR": "192.0.2.1", "FUZZ_EMPTY": ""}
INCLUDED = b"""\
setval { INC_ADDR "198.51.100.7"; };
remote included { acceptable_kmp ikev2; ikev2 { peers_ipaddr "${INC_ADDR}" port 500; }; };
"""
# Hand-written seeds for what the samples lack: includes, setval, environment, odd lexemes.
EXTRA = [
    b'include "inc.conf";\n',
    b'include "$[FUZZ_DIR]/*.conf";\ninclude "inc.conf";\n',
    b'include "racoon2.conf";\n',
    b'setval { A "${B}"; B "x"; };\nresolver { resolver off; nameserver { $[FUZZ_ADDR]; }; };\n',
    b'default { ipsec { ipsec_sa_lifetime_time 28800 sec; ipsec_sa_lifetime_byte 1 MB; }; };\n',
    b'interface { ike { 192.0.2.1 port 500; 2001:db8::1 port 4500; }; '
    b'spmd { unix "/var/run/racoon2/spmif"; }; spmd_password "/dev/null"; };\n',
    b"# comment\nselector s { direction outbound; src 192.0.2.0/24; dst 198.51.100.0/24; "
    b"upper_layer_protocol any; policy_index p; };\n",
    b'remote r { ikev2 { my_id fqdn "a.example"; peers_id ipaddr 192.0.2.9; }; };\n',
    b"\xff\xfe{{};;\"unterminated\n",
    b'include "$[FUZZ_DIR]\0/*.conf";\n',  # found by the fuzzer: glob raised ValueError
]


class _Sandbox:
    """A private directory and a ``glob`` that never looks outside it."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fuzz-config-")
        self.root = os.path.realpath(self._dir.name)
        self.conf = os.path.join(self.root, "racoon2.conf")
        os.mkdir(os.path.join(self.root, "conf.d"))
        for name in ("inc.conf", "conf.d/inc.conf"):
            fd = os.open(os.path.join(self.root, name), os.O_WRONLY | os.O_CREAT, 0o600)
            os.write(fd, INCLUDED)
            os.close(fd)

    def glob(self, pattern: str) -> list[str]:
        """Matches of ``pattern`` (relative ones from the sandbox) that lie inside it."""
        full = os.path.normpath(os.path.join(self.root, pattern))
        if os.path.commonpath([self.root, full]) != self.root:
            return []
        return [m for m in glob.glob(full)
                if os.path.commonpath([self.root, os.path.realpath(m)]) == self.root]


_sandbox: _Sandbox | None = None


def seeds() -> list[bytes]:
    """The project's sample configurations and a few hand-written fragments."""
    return [p.read_bytes() for p in sorted(SAMPLES.glob("*.conf"))] + EXTRA


def TestOneInput(data: bytes) -> None:
    """One fuzz input: load it as racoon2.conf; a model or a ConfigError, nothing else."""
    global _sandbox
    if _sandbox is None:
        _sandbox = _Sandbox()
    with open(_sandbox.conf, "wb") as f:
        f.write(data)
    with mock.patch.object(files, "glob", _sandbox):
        try:
            load_config(_sandbox.conf, environ=ENVIRON)
        except ConfigError:
            pass


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
