"""Atheris target: spmd's side of the spmif line protocol (racoon2.spmif.protocol) on any bytes.

Octet 0 chooses whether the client logs in first (bit 0) and octet 1 the size of the pieces the
rest arrives in (0: all at once), as TCP may split it anywhere; the stream then ends.  The
server connection must never raise.  Everything it answers itself is an error (5xx), except
``250 BYE`` to QUIT and a LOGIN carrying the right response; before the login no other command
gets through; every command it lets through re-encodes to a line that parses back to it.  Run
it with libFuzzer's options:

    .venv/bin/python tests/fuzz/fuzz_spmif.py -runs=10000
    .venv/bin/python tests/fuzz/fuzz_spmif.py --write-corpus /tmp/spmif-corpus
    .venv/bin/python tests/fuzz/fuzz_spmif.py /tmp/spmif-corpus -max_total_time=3600

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import sys

from fuzz_common import main as run

from racoon2.spmif import replies
from racoon2.spmif.commands import Command, Login, Quit, format_command, parse_command
from racoon2.spmif.protocol import (
    HASH_HEX_LEN,
    NEED_DATA,
    ConnectionClosed,
    ProtocolViolation,
    ServerConnection,
    login_response,
    tokenize,
)

CHALLENGE = "B376885AC8452B6CBF9CED81B1080BFD570D9B91"
PASSWORD = b"\x01" * 16
RESPONSE = login_response(CHALLENGE, PASSWORD)
LINES = [
    b"STAT", b"status", b"POLICY DUMP", b"POLICY ADD a 3600 transport 192.0.2.1/32 "
    b"198.51.100.7/32", b"policy add gw 0 TUNNEL 10.1.0.0/16 10.2.0.0/16 192.0.2.1 "
    b"198.51.100.7", b"POLICY DELETE a transport 192.0.2.1 198.51.100.7", b"POLICY DELETE a",
    b"MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.9 198.51.100.7", b"SLID 4294967295",
    b"NS LIST", b"NS ADD 2001:db8::53", b"NS DELETE 192.0.2.53", b"NS CHANGE 192.0.2.53",
    b"FQDN LIST", b"FQDN QUERY 198.51.100.7", b"FQDN ADD host.example.", b"FQDN DELETE host",
    b"LOGIN " + RESPONSE.encode(), b"LOGIN 0", b"", b"   \t", b"FROB", b"QUIT", b"EXIT",
]


def seeds() -> list[bytes]:
    """Every command, logged in or not, whole or in small pieces, CR LF or bare LF ended."""
    out = []
    for i, line in enumerate(LINES):
        end = b"\n" if i % 3 == 0 else b"\r\n"
        out.append(bytes([i % 2, 0]) + line + end + b"STAT\r\n")
        out.append(bytes([1, 1 + i % 7]) + line + end)
    out.append(bytes([0, 0]) + b"X" * 600 + b"\r\n")
    out.append(bytes([1, 3]) + b"\x00\xff\r\n" * 9)
    return out


def _answer(conn: ServerConnection, event: Command | ProtocolViolation) -> None:
    if isinstance(event, ProtocolViolation):
        assert event.reply.code // 100 == 5, event
        conn.send(event.reply)
        return
    was_authenticated = conn.authenticated
    reply = conn.builtin_reply(event)
    match event:
        case Quit():
            assert reply == replies.bye()
        case Login(response):
            right = not was_authenticated and response[:HASH_HEX_LEN] == RESPONSE
            assert reply == (replies.login_ok() if right else replies.login_failed()), event
        case _:
            assert reply is None and was_authenticated, f"{event} got through before LOGIN"
            line = format_command(event)
            assert parse_command(tokenize(line), True) == event, line
            reply = replies.operation_failed()
    conn.send(reply)


def TestOneInput(data: bytes) -> None:
    """One fuzz input: a client's byte stream; the server connection keeps its promises."""
    conn = ServerConnection(CHALLENGE, PASSWORD)
    login, size, stream = (data[0] & 1 if data else 0), (data[1] if len(data) > 1 else 0), data[2:]
    pieces = [stream[i:i + size] for i in range(0, len(stream), size)] if size else [stream]
    if login:
        pieces.insert(0, f"LOGIN {RESPONSE}\r\n".encode())
    for piece in [*(p for p in pieces if p), b""]:
        conn.receive_data(piece)
        while not conn.closed:
            event = conn.next_event()
            if event is NEED_DATA:
                break
            if isinstance(event, ConnectionClosed):
                return
            _answer(conn, event)
        if conn.closed:
            return


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
