"""Property tests: any byte stream leaves the protocol objects answering, never crashing."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from racoon2.errors import SpmifError
from racoon2.ipsec import Mode
from racoon2.spmif import replies
from racoon2.spmif.commands import (
    Command,
    FqdnAdd,
    Migrate,
    PolicyAdd,
    PolicyDelete,
    Slid,
    format_command,
)
from racoon2.spmif.protocol import (
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    ProtocolViolation,
    ServerConnection,
    login_response,
)

CHALLENGE = "B376885AC8452B6CBF9CED81B1080BFD570D9B91"
PASSWORD = b"\x01" * 16

chunks = st.lists(st.binary(max_size=700), max_size=12)


def _drain(conn: ServerConnection) -> list[object]:
    seen: list[object] = []
    while not conn.closed:
        event = conn.next_event()
        seen.append(event)
        if event is NEED_DATA or isinstance(event, ConnectionClosed):
            break
        if isinstance(event, ProtocolViolation):
            conn.send(event.reply)
        else:
            conn.send(conn.builtin_reply(event) or replies.operation_failed())
    return seen


@given(chunks, st.booleans())
def test_server_turns_any_bytes_into_events(parts: list[bytes], login_first: bool) -> None:
    conn = ServerConnection(CHALLENGE, PASSWORD)
    if login_first:
        conn.receive_data(f"LOGIN {login_response(CHALLENGE, PASSWORD)}\r\n".encode())
        _drain(conn)
        assert conn.authenticated
    for part in [*parts, b""]:
        if conn.closed:
            break
        conn.receive_data(part)
        _drain(conn)


@given(chunks)
def test_client_raises_only_spmif_errors(parts: list[bytes]) -> None:
    client = ClientConnection()
    try:
        for part in parts:
            client.receive_data(part)
            client.next_event()
            if client.ready:
                client.send(Slid(1))
    except SpmifError:
        pass


words = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30
)
v4 = st.ip_addresses(v=4)
v6 = st.ip_addresses(v=6)
addrs = v4 | v6


@st.composite
def prefixes(draw: st.DrawFn) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    addr = draw(addrs)
    plen = draw(st.integers(0, addr.max_prefixlen))
    net = ipaddress.ip_network((addr, plen), strict=False)
    # The wire cannot say "a /0 on a non-zero address": the server reads /0 as a host prefix.
    if net.prefixlen == 0 or (net.prefixlen == net.max_prefixlen and addr.is_unspecified):
        return ipaddress.ip_network((0, 0)) if addr.version == 4 else ipaddress.ip_network("::/0")
    return net


@st.composite
def commands(draw: st.DrawFn) -> Command:
    kind = draw(st.sampled_from(["add", "del", "migrate", "fqdn"]))
    idx = draw(words)
    mode = draw(st.sampled_from(Mode))
    sa = (draw(addrs), draw(addrs)) if mode is Mode.TUNNEL else (None, None)
    if kind == "add":
        return PolicyAdd(idx, draw(st.integers(0, 2**64 - 1)), mode, draw(prefixes()),
                         draw(prefixes()), *sa)
    if kind == "del":
        return PolicyDelete(idx, mode, draw(prefixes()), draw(prefixes()), *sa)
    if kind == "migrate":
        return Migrate(idx, draw(addrs), draw(addrs), draw(addrs), draw(addrs))
    return FqdnAdd(draw(words) + ".")


@given(commands())
def test_formatted_commands_parse_back(command: Command) -> None:
    conn = ServerConnection(CHALLENGE, PASSWORD)
    conn.receive_data(f"LOGIN {login_response(CHALLENGE, PASSWORD)}\r\n".encode())
    _drain(conn)
    line = format_command(command).encode() + b"\r\n"
    conn.receive_data(line)
    event = conn.next_event()
    if len(line) > 512:
        assert isinstance(event, ProtocolViolation)
    else:
        assert event == command
