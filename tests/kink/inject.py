"""Send hand-made KINK messages to a kinkd, as a hostile or confused peer would.

Runs inside a namespace with the realm's Kerberos environment (KRB5_CONFIG, KRB5_KTNAME):

    python inject.py CLIENT SERVER DEST KIND [FILE]

KIND: ``garbage`` (random octets, a truncated header, a bad Length), ``forged`` (a CREATE
whose checksum is flipped), ``valid`` (a genuine CREATE, saved to FILE), ``make`` (the same,
saved but not sent), ``replay`` (FILE's bytes), ``replay-when-told`` (the same once a line
arrives on stdin, after printing ``ready``: for a slow machine, where starting Python takes
seconds).  Prints ``answer <hex>`` or ``no answer`` per message sent.
"""

from __future__ import annotations

import os
import socket
import sys

from kinkd import exchange as kx
from kinkd.krb5.api import Context
from racoon2.crypto.transforms import TransformType, by_keyword
from racoon2.kernel import api
from racoon2.udp import bypass

ESP = kx.EspOffer(by_keyword(TransformType.ENCR, "aes128_cbc"),
                  by_keyword(TransformType.INTEG, "hmac_sha1"))


def create(client: str, server: str) -> bytes:
    """A genuine CREATE from ``client`` to ``server`` with a fresh ticket."""
    with Context() as ctx, ctx.memory_ccache() as cc:
        ctx.get_init_creds_keytab(client, os.environ["KRB5_KTNAME"], cc)
        ticket = ctx.get_credentials(cc, client, server)
        data, _ = kx.build_create(ctx, ticket, (ESP,), 0x0F000001, os.urandom(16),
                                  xid=int.from_bytes(os.urandom(4), "big"), epoch=1)
        return data


def send(dest: str, data: bytes) -> None:
    """Send ``data`` to DEST:910 and print what comes back within two seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        # Like kinkd's own sockets, this one must bypass the policies between the hosts.
        bypass(s, api.Owner.TESTS)
        s.settimeout(2)
        s.sendto(data, (dest, 910))
        try:
            print("answer", s.recv(65535).hex())
        except TimeoutError:
            print("no answer")


def main(client: str, server: str, dest: str, kind: str, path: str = "") -> None:
    """See the module docstring."""
    if kind == "garbage":
        for data in (os.urandom(40), b"\x01\x10\x00", b"\x01\x10\xff\xff" + bytes(12)):
            send(dest, data)
    elif kind == "forged":
        forged = bytearray(create(client, server))
        forged[-1] ^= 1  # the last octet of the checksum
        send(dest, bytes(forged))
    elif kind in ("valid", "make"):
        data = create(client, server)
        with open(path, "wb") as f:
            f.write(data)
        if kind == "valid":
            send(dest, data)
    elif kind in ("replay", "replay-when-told"):
        with open(path, "rb") as f:
            data = f.read()
        if kind == "replay-when-told":
            print("ready", flush=True)
            sys.stdin.readline()
        send(dest, data)
    else:
        raise SystemExit(f"unknown kind {kind}")


if __name__ == "__main__":
    main(*sys.argv[1:])
