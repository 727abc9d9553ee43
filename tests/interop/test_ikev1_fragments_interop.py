"""iked's IKEv1 fragmentation against strongSwan: Main Mode with 4096-bit RSA certificates
outgrows 1280 octets; charon (``fragmentation = yes``, then ``force``) and iked each send
MM5/MM6 in Fragment payloads and reassemble the other's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from peers import ADDR, Namespaces, Racoon2, StrongSwan, wait_until
from test_iked_interop import pki_files
from test_ikev1_interop import IKEV1, KERNEL, charon, conf  # noqa: F401 (charon: the fixture)


@pytest.mark.usefixtures("charon")
@pytest.mark.parametrize(("iked_initiates", "mode"), [(True, "yes"), (False, "force")],
                         ids=["iked-initiator-yes", "charon-initiator-force"])
def test_fragments_with_strongswan(pair: Namespaces, tmp_path: Path, iked_initiates: bool,
                                   mode: str) -> None:
    files = pki_files(tmp_path, "rsa4096")
    ss_side, r2_side = ("B", "A") if iked_initiates else ("A", "B")
    ss, r2 = StrongSwan(pair, ss_side, tmp_path / "ss"), Racoon2(pair, r2_side, tmp_path / "r2")
    try:
        text = conf(r2, cert=files[r2_side])
        options = {"kernel": KERNEL, "cert": files[ss_side],
                   "extra_conn": f"fragmentation = {mode}"}
        if iked_initiates:
            ss.start(4, True, IKEV1, initiator=False, **options)  # type: ignore[arg-type]
            r2.start(text, "-S", "sel_out")
        else:
            r2.start(text)
            ss.start(4, True, IKEV1, initiator=True, **options)  # type: ignore[arg-type]
            ss.initiate()
        wait_until(lambda: bool(r2.established()), 20, "the ISAKMP SA: " + ss.log()[-3000:])
        log = ss.log()
        assert re.search(rf"authentication of '{ADDR[(r2_side, 4)]}' with "
                         r"RSA_EMSA_PKCS1_NULL successful", log), log
        # charon put our fragments together, and fragmented its own.
        assert "reassembled fragmented IKE message" in log, log
        assert re.search(r"splitting IKE message \(\d+ bytes\) into \d+ fragments", log), log
        assert "Traceback" not in r2.log()
    finally:
        r2.stop()
        ss.stop()
