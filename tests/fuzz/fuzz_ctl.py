"""Atheris target: the control socket's request parser (racoon2.control.protocol) on any bytes.

Octet 0 gives the size of the pieces the rest arrives in (0: all at once), as a stream socket
may split it anywhere.  Every line the buffer cuts is either served (it resolves to one of
iked's commands with an argument count the command takes) or refused with a ControlError,
never anything else; the buffer never holds more than MAX_REQUEST octets, and every answer
line is one JSON object.  Run it with libFuzzer's options:

    .venv/bin/python tests/fuzz/fuzz_ctl.py -runs=100000
    .venv/bin/python tests/fuzz/fuzz_ctl.py --write-corpus /tmp/ctl-corpus

tests/unit/test_fuzz_targets.py runs TestOneInput without atheris.
"""

from __future__ import annotations

import json
import sys

from fuzz_common import main as run

from iked.ctl import COMMANDS
from racoon2.control.protocol import MAX_REQUEST, LineBuffer, answer, error, parse
from racoon2.errors import ControlError

LINES = [
    b"status", b"sa list", b"SA L", b"sa show 3", b"sa show 0xc1000001", b"initiate peer",
    b"terminate 1", b"rekey 0x5224710e", b"stats", b"reload", b"log-level debug", b"sa",
    b"s", b"re", b"", b"   ", b'{"command": "sa show", "args": ["1"]}', b'{"command": 5}',
    b'{"command": "stats", "x": 1}', b"[1, 2]", b"{", b"status\r", b"\xff\xfe", b"sa\x00list",
]


def seeds() -> list[bytes]:
    """Every command and a few bad ones, whole or in pieces, and one oversized line."""
    out = [bytes([i % 5]) + line + b"\nstatus\n" for i, line in enumerate(LINES)]
    out.append(b"\x00" + b"x" * (MAX_REQUEST + 10) + b"\nstats\n")
    return out


def TestOneInput(data: bytes) -> None:
    """One fuzz input: a client's byte stream; the parser keeps its promises."""
    size, stream = (data[0] if data else 0), data[1:]
    pieces = [stream[i:i + size] for i in range(0, len(stream), size)] if size else [stream]
    buf = LineBuffer()
    names = {c.name: c for c in COMMANDS}
    for piece in pieces:
        for line in buf.feed(piece):
            try:
                request = parse(line, COMMANDS)
            except ControlError as e:
                reply = error(str(e))
            else:
                cmd = names[request.command]
                assert cmd.min_args <= len(request.args) <= cmd.max_args, request
                reply = answer(request.command, None)
            assert reply.endswith(b"\n") and isinstance(json.loads(reply), dict)
        assert len(buf._pending) <= MAX_REQUEST


def main(argv: list[str]) -> None:
    """libFuzzer's command line, or ``--write-corpus DIR`` to store the seeds there."""
    run(argv, seeds, TestOneInput)


if __name__ == "__main__":
    main(sys.argv)
