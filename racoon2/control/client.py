"""The ctl tools' side of a control socket: one blocking connection, a request, its answer."""

from __future__ import annotations

import socket
from collections.abc import Sequence

from racoon2.control.protocol import MAX_REQUEST, decode_answer, encode_request
from racoon2.errors import ControlError

#: How long a command may take: an initiate or rekey answers at once, before the exchange.
TIMEOUT = 30.0


def request(path: str, words: Sequence[str], timeout: float = TIMEOUT) -> tuple[str, object]:
    """Send ``words`` to the control socket ``path``: (the command the daemon served, its
    result); ControlError with the daemon's message when it refuses, or when it cannot be
    reached."""
    line = encode_request(words)
    if len(line) > MAX_REQUEST:
        raise ControlError(f"request longer than {MAX_REQUEST} octets")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            try:
                sock.sendall(line)
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused at once (SO_PEERCRED): the answer saying why is there to read
            answer = bytearray()
            while not answer.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
    except FileNotFoundError:
        raise ControlError(f"{path}: no control socket", hint="is the daemon running?") from None
    except PermissionError:
        raise ControlError(f"{path}: permission denied", hint="run as root") from None
    except OSError as e:
        raise ControlError(f"{path}: {e.strerror or e}") from None
    if not answer:
        raise ControlError(f"{path}: the daemon closed the connection without an answer")
    return decode_answer(bytes(answer))
