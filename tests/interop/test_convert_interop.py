"""racoon2-convert's proof of meaning (issue #21): a racoon.conf of racoon(8)'s era, converted,
runs spmd + iked against a strongSwan peer configured as that racoon.conf said.

The racoon.conf: one gateway remote, Main Mode, AES-128/SHA-256/MODP-2048 with a pre-shared
key (racoon's psk.txt) or RSA signatures (X.509, ``certificate_type``/``ca_type``), one sainfo
(AES-128/HMAC-SHA1) and the ESP tunnel SPD in setkey.conf form.  Both directions: our side
starts on the kernel's ACQUIRE for the converted policy, or strongSwan initiates.  This host's
kernel has no ESP: phase 1 and Quick Mode complete and the kernel refuses the ESP SAs, which
test_ikev1_interop.py's assertions check.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import pytest
from peers import ADDR, BIN, INNER, PSK, Namespaces, Racoon2, StrongSwan, wait_until
from test_iked_interop import HAS_ESP, assert_child, pki_files
from test_ikev1_interop import IKEV1, KERNEL, assert_strongswan, charon  # noqa: F401 (fixture)

pytestmark = [pytest.mark.interop, pytest.mark.usefixtures("charon")]

#: racoon.conf(5) as an admin wrote it for a gateway; @…@ are the side's values.
RACOON_CONF = """\
# gateway @ME@: ESP tunnel @LNET@ <=> @RNET@ through @PEER@
path pre_shared_key "@DIR@/psk.txt";
path certificate "@DIR@";

remote @PEER@ {
	exchange_mode main;
	@AUTH@
	lifetime time 8 hour;
	proposal {
		encryption_algorithm aes 128;
		hash_algorithm sha256;
		authentication_method @METHOD@;
		dh_group modp2048;
	}
}

sainfo address @LNET@ any address @RNET@ any {
	encryption_algorithm aes 128;
	authentication_algorithm hmac_sha1;
	compression_algorithm deflate;
	lifetime time 1 hour;
}
"""

#: racoon's default identifier (the address it speaks from) with a PSK; with certificates the
#: address in the certificate's subjectAltName, as charon's IDs here are addresses.
AUTH = {"psk": "my_identifier address;",
        "rsasig": 'my_identifier address @ME@;\n\tcertificate_type x509 "host.pem" "host.key";'
                  '\n\tca_type x509 "ca.pem";\n\tverify_cert on;'}

SETKEY = """\
flush;
spdflush;
spdadd @LNET@ @RNET@ any -P out ipsec esp/tunnel/@ME@-@PEER@/require;
spdadd @RNET@ @LNET@ any -P in ipsec esp/tunnel/@PEER@-@ME@/require;
"""


def converted(r2: Racoon2, auth: str, cert: tuple[str, str, str] | None) -> str:
    """Write side ``r2.side``'s racoon.conf, psk.txt and setkey.conf, run racoon2-convert on
    them as an admin would (the key files go to ``r2.d/psk``); the racoon2.conf it wrote."""
    peer = "B" if r2.side == "A" else "A"
    d = r2.d / "racoon"
    d.mkdir()
    if cert:
        for name, src in zip(("host.pem", "host.key", "ca.pem"), cert, strict=True):
            (d / name).write_bytes(Path(src).read_bytes())
        (d / "host.key").chmod(0o600)
    values = {"@AUTH@": AUTH[auth], "@METHOD@": "pre_shared_key" if auth == "psk" else auth,
              "@ME@": ADDR[(r2.side, 4)], "@PEER@": ADDR[(peer, 4)], "@DIR@": str(d),
              "@LNET@": INNER[r2.side], "@RNET@": INNER[peer]}
    files = {}
    for name, text in (("racoon.conf", RACOON_CONF), ("setkey.conf", SETKEY),
                       ("psk.txt", f"{ADDR[(peer, 4)]}\t{PSK}\n")):
        for token, value in values.items():
            text = text.replace(token, value)
        files[name] = d / name
        files[name].write_text(text)
    files["psk.txt"].chmod(0o600)
    out = r2.d / "converted.conf"
    done = subprocess.run(
        [str(BIN / "racoon2-convert"), str(files["racoon.conf"]),
         "-s", str(files["setkey.conf"]), "-k", str(files["psk.txt"]),
         "--psk-dir", str(r2.d / "psk"),
         "--spmd-password", str(r2.d / "spmd.pwd"), "--spmd-socket", str(r2.d / "spmif"),
         "-o", str(out), "-r", str(r2.d / "report")], capture_output=True, text=True,
        check=False)
    report = (r2.d / "report").read_text() if (r2.d / "report").exists() else ""
    assert done.returncode == 0, done.stderr + report
    assert "checks: spmd -n and iked -n accept the result" in report, report
    if auth == "psk":
        assert f"psk: wrote {r2.d}/psk/" in report, report
    return out.read_text()


#: The sainfo's lifetime, which charon proposes as racoon's peer did: the converted remote
#: keeps racoon's default proposal_check strict, which refuses a longer one (RFC 2407 §4.5's
#: 8 hours when none is sent), as racoon did.
SAINFO_LIFE = "1h"

CASES = [pytest.param("psk", id="psk"), pytest.param("rsasig", id="rsasig")]


@pytest.mark.parametrize("auth", CASES)
def test_converted_gateway_initiates_on_acquire(pair: Namespaces, tmp_path: Path,
                                                auth: str) -> None:
    files = pki_files(tmp_path, "rsa") if auth == "rsasig" else None
    ss, r2 = StrongSwan(pair, "B", tmp_path / "ss"), Racoon2(pair, "A", tmp_path / "r2")
    text = converted(r2, auth, files["A"] if files else None)
    # The inner networks are on lo: A reaches B's through the veth.
    pair.run("A", "ip", "route", "add", INNER["B"], "via", ADDR[("B", 4)])
    try:
        ss.start(4, True, IKEV1, initiator=False, kernel=KERNEL,
                 cert=files["B"] if files else None, child_life=SAINFO_LIFE)
        r2.start(text)
        began = time.monotonic()
        # Traffic meets the converted policy: the kernel's ACQUIRE starts phase 1.
        pair.run("A", "ping", "-c1", "-W1", "-I", "198.51.100.1", "198.51.100.17")
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + r2.log())
        wait_until(r2.child_settled, 10, "the IPsec SA: " + r2.log())
        print(f"converted racoon.conf ({auth}) after ACQUIRE: phase 1 and Quick Mode in"
              f" {time.monotonic() - began:.2f} s")
        assert re.search(r"ACQUIRE for .*: selector spd_1_out", r2.log()), r2.log()
        assert_strongswan(ss)
        assert_child(r2)
    finally:
        r2.stop()
        ss.stop()


@pytest.mark.parametrize("auth", CASES)
def test_strongswan_initiates_to_converted_gateway(pair: Namespaces, tmp_path: Path,
                                                   auth: str) -> None:
    files = pki_files(tmp_path, "rsa") if auth == "rsasig" else None
    ss, r2 = StrongSwan(pair, "A", tmp_path / "ss"), Racoon2(pair, "B", tmp_path / "r2")
    text = converted(r2, auth, files["B"] if files else None)
    try:
        r2.start(text)
        ss.start(4, True, IKEV1, initiator=True, kernel=KERNEL,
                 cert=files["A"] if files else None, child_life=SAINFO_LIFE)
        out = ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + out + r2.log())
        assert_strongswan(ss, out)
        if HAS_ESP:
            wait_until(r2.child_settled, 10, "the IPsec SA")
            assert_child(r2)
        else:
            # charon installs before it sends QM3, is refused, and says NO-PROPOSAL-CHOSEN.
            wait_until(lambda: "quick mode failed: the peer said NO_PROPOSAL_CHOSEN" in
                       r2.log(), 10, "our Quick Mode's end: " + r2.log())
        assert "Traceback" not in r2.log()
    finally:
        r2.stop()
        ss.stop()
