"""spmif protocol objects without I/O: bytes in, events and bytes out (doc/spmif.md §2-5)."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from racoon2.errors import SpmifError
from racoon2.ipsec import Mode
from racoon2.spmif import replies
from racoon2.spmif.commands import (
    Command,
    FqdnAdd,
    FqdnDelete,
    FqdnList,
    FqdnQuery,
    Login,
    Migrate,
    NsAdd,
    NsChange,
    NsDelete,
    NsList,
    PolicyAdd,
    PolicyDelete,
    PolicyDump,
    Quit,
    Slid,
    Stat,
    format_command,
)
from racoon2.spmif.protocol import (
    MAX_LINE,
    MAX_VIOLATIONS,
    NEED_DATA,
    ClientConnection,
    ConnectionClosed,
    ProtocolViolation,
    ServerConnection,
    login_response,
    make_challenge,
)
from racoon2.spmif.replies import Reply

CHALLENGE = "0123456789ABCDEF0123456789ABCDEF01234567"
PASSWORD = bytes(range(16))  # what pskgen -r writes: 16 raw bytes
# printf '%s' "${CHALLENGE}000102030405060708090A0B0C0D0E0F" | openssl sha1
RESPONSE = "44A6CEBD351F6B324643C6EF384B3E26CC669FEE"


def server(authenticated: bool = True) -> ServerConnection:
    conn = ServerConnection(CHALLENGE, PASSWORD)
    if authenticated:
        event = feed(conn, f"LOGIN {RESPONSE}\r\n".encode())
        assert isinstance(event, Login)
        assert conn.send(answer(conn, event)) == b"250 OK\r\n"
    return conn


def feed(conn: ServerConnection, data: bytes) -> object:
    conn.receive_data(data)
    return conn.next_event()


def answer(conn: ServerConnection, event: object) -> Reply:
    assert isinstance(event, Login | Quit)
    reply = conn.builtin_reply(event)
    assert reply is not None
    return reply


def rejected(conn: ServerConnection, line: bytes) -> bytes:
    event = feed(conn, line)
    assert isinstance(event, ProtocolViolation), event
    return conn.send(event.reply)


# --- authentication (§3) ------------------------------------------------------------------------


def test_greeting_is_220_and_the_challenge() -> None:
    assert ServerConnection(CHALLENGE, PASSWORD).greeting() == f"220 {CHALLENGE}\r\n".encode()


def test_challenge_is_upper_hex_sha1_of_the_seed() -> None:
    # head -c 256 /dev/zero | openssl sha1
    assert make_challenge(bytes(256)) == "B376885AC8452B6CBF9CED81B1080BFD570D9B91"


def test_login_response_known_answer() -> None:
    assert login_response(CHALLENGE, PASSWORD) == RESPONSE


def test_login_uses_the_raw_file_bytes_including_a_newline() -> None:
    assert login_response(CHALLENGE, b"secret\n") != login_response(CHALLENGE, b"secret")


def test_server_rejects_a_challenge_that_is_not_40_hex() -> None:
    with pytest.raises(SpmifError):
        ServerConnection("abc", PASSWORD)


def test_login_success_then_commands_work() -> None:
    conn = server()
    assert conn.authenticated
    assert feed(conn, b"STAT\r\n") == Stat()


@pytest.mark.parametrize(
    "line",
    [
        b"LOGIN 0000000000000000000000000000000000000000\r\n",  # wrong password
        b"LOGIN " + RESPONSE.lower().encode() + b"\r\n",  # comparison is case-sensitive
        b"LOGIN " + RESPONSE[:39].encode() + b"\r\n",  # too short
        b"LOGIN\r\n",  # no argument
        b"LOGIN " + RESPONSE.encode() + b" extra\r\n",  # two arguments
    ],
)
def test_login_failures_all_read_failed_internal_error(line: bytes) -> None:
    conn = server(authenticated=False)
    event = feed(conn, line)
    assert conn.send(answer(conn, event)) == b"550 FAILED(Internal Error)\r\n"
    assert not conn.authenticated


def test_login_accepts_trailing_characters_after_the_hash() -> None:
    conn = server(authenticated=False)
    event = feed(conn, f"LOGIN {RESPONSE}XYZ\r\n".encode())
    assert conn.send(answer(conn, event)) == b"250 OK\r\n"


def test_only_the_first_login_attempt_can_succeed() -> None:
    conn = server(authenticated=False)
    event = feed(conn, b"LOGIN wrong\r\n")
    conn.send(answer(conn, event))
    event = feed(conn, f"LOGIN {RESPONSE}\r\n".encode())
    assert conn.send(answer(conn, event)) == b"550 FAILED(Internal Error)\r\n"
    assert rejected(conn, b"STAT\r\n") == b"550 need login\r\n"


def test_login_prefix_matching_loginx() -> None:
    conn = server(authenticated=False)
    event = feed(conn, f"loginfoo {RESPONSE}\r\n".encode())
    assert conn.send(answer(conn, event)) == b"250 OK\r\n"


@pytest.mark.parametrize(
    "line",
    [b"STAT", b"POLICY DUMP", b"SLID 1", b"MIGRATE a b c d e", b"FQDN LIST", b"POLICY"],
)
def test_commands_need_login_before_their_syntax_is_checked(line: bytes) -> None:
    assert rejected(server(authenticated=False), line + b"\r\n") == b"550 need login\r\n"


def test_ns_spells_need_login_with_capitals() -> None:
    assert rejected(server(authenticated=False), b"NS LIST\r\n") == b"550 Need Login\r\n"


def test_quit_works_before_login_and_closes() -> None:
    for word in (b"QUIT", b"exit", b"Quit now please"):
        conn = server(authenticated=False)
        event = feed(conn, word + b"\r\n")
        assert event == Quit()
        assert conn.send(answer(conn, event)) == b"250 BYE\r\n"
        assert conn.closed


def test_unknown_command_is_502_even_before_login() -> None:
    assert rejected(server(False), b"HELLO\r\n") == b"502 Command not implemented\r\n"
    assert rejected(server(True), b"SHOW ME\r\n") == b"502 Command not implemented\r\n"


# --- every command: request line <-> dataclass (§4, §5 exact client formats) --------------------

V4 = ip_address("192.0.2.1")
V4B = ip_address("198.51.100.7")
V6 = ip_address("2001:db8::1")

CANONICAL: list[tuple[str, Command]] = [
    ("QUIT", Quit()),
    ("STAT", Stat()),
    (
        "POLICY ADD sel_out 3600 transport 192.0.2.1/32 198.51.100.7/32",
        PolicyAdd("sel_out", 3600, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                  ip_network("198.51.100.7/32")),
    ),
    (
        "POLICY ADD gw 0 tunnel 10.1.0.0/16 10.2.0.0/16 192.0.2.1 198.51.100.7",
        PolicyAdd("gw", 0, Mode.TUNNEL, ip_network("10.1.0.0/16"), ip_network("10.2.0.0/16"),
                  V4, V4B),
    ),
    (
        "POLICY ADD v6 60 transport 2001:db8::1/128 2001:db8:1::/48",
        PolicyAdd("v6", 60, Mode.TRANSPORT, ip_network("2001:db8::1/128"),
                  ip_network("2001:db8:1::/48")),
    ),
    ("POLICY DELETE sel_out", PolicyDelete("sel_out")),
    (
        "POLICY DELETE sel_out transport 192.0.2.1/32 198.51.100.7/32",
        PolicyDelete("sel_out", Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                     ip_network("198.51.100.7/32")),
    ),
    (
        "POLICY DELETE gw tunnel 10.1.0.0/16 10.2.0.0/16 192.0.2.1 198.51.100.7",
        PolicyDelete("gw", Mode.TUNNEL, ip_network("10.1.0.0/16"), ip_network("10.2.0.0/16"),
                     V4, V4B),
    ),
    ("POLICY DUMP", PolicyDump()),
    (
        "MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.5 198.51.100.7",
        Migrate("gw", V4, V4B, ip_address("203.0.113.5"), V4B),
    ),
    ("SLID 42", Slid(42)),
    ("SLID 4294967295", Slid(4294967295)),
    ("NS LIST", NsList()),
    ("NS ADD 2001:db8::1", NsAdd(V6)),
    ("NS DELETE 192.0.2.1", NsDelete(V4)),
    ("NS CHANGE 192.0.2.1", NsChange(V4)),
    ("FQDN LIST", FqdnList()),
    ("FQDN QUERY 192.0.2.1", FqdnQuery(V4)),
    ("FQDN ADD host.example.com.", FqdnAdd("host.example.com.")),
    ("FQDN DELETE host.example.com.", FqdnDelete("host.example.com.")),
]


@pytest.mark.parametrize(("line", "command"), CANONICAL, ids=[c[0] for c in CANONICAL])
def test_request_line_round_trip(line: str, command: Command) -> None:
    assert format_command(command) == line
    assert feed(server(), line.encode() + b"\r\n") == command


def test_client_sends_exact_bytes() -> None:
    client = ClientConnection()
    client.receive_data(f"220 {CHALLENGE}\r\n".encode())
    assert client.next_event() == Reply(220, (CHALLENGE,))
    assert client.send(client.login_command(PASSWORD)) == f"LOGIN {RESPONSE}\r\n".encode()


@pytest.mark.parametrize(
    ("line", "command"),
    [
        ("status", Stat()),  # prefix matching: STATUS starts with STAT
        ("policyx dump", PolicyDump()),
        ("Policy Dump everything", PolicyDump()),  # DUMP ignores further words
        ("\t POLICY   DEL   x \t", PolicyDelete("x")),
        ("fqdn del host", FqdnDelete("host.")),  # DEL spelt as the docs do; dot appended
        ("NS DELETE 192.0.2.1", NsDelete(V4)),
        ("ns address 192.0.2.1", NsAdd(V4)),  # ADDRESS starts with ADD
        ("STAT\rjunk after the CR", Stat()),  # the line ends at the first CR
        (
            "POLICY ADD s 99junk TRANSPORT 192.0.2.1 198.51.100.7 203.0.113.1 203.0.113.2",
            None,  # lifetime must be decimal (C strtoull ignored junk)
        ),
        (
            "POLICY ADD s 5 TRANSPORTX 192.0.2.1 198.51.100.7 203.0.113.1 203.0.113.2",
            PolicyAdd("s", 5, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                      ip_network("198.51.100.7/32")),  # SA addresses ignored in transport
        ),
    ],
)
def test_lenient_forms(line: str, command: Command | None) -> None:
    event = feed(server(), line.encode() + b"\r\n")
    if command is None:
        assert isinstance(event, ProtocolViolation)
        assert event.reply == replies.syntax_error()
    else:
        assert event == command


@pytest.mark.parametrize(
    ("arg", "prefix"),
    [
        ("192.0.2.1", "192.0.2.1/32"),  # missing length: full length
        ("192.0.2.1/0", "192.0.2.1/32"),  # <= 0: full length (kinkd sends /0)
        ("192.0.2.1/-4", "192.0.2.1/32"),
        ("192.0.2.1/33", "192.0.2.1/32"),  # > family maximum: full length
        ("192.0.2.1/", "192.0.2.1/32"),
        ("192.0.2.77/24", "192.0.2.0/24"),
        ("0.0.0.0", "0.0.0.0/0"),  # full length on the unspecified address: 0
        ("0.0.0.0/32", "0.0.0.0/0"),
        ("::", "::/0"),
        ("::/0", "::/0"),
        ("2001:db8::1/129", "2001:db8::1/128"),
        ("2001:db8::/+32", "2001:db8::/32"),
    ],
)
def test_policy_prefix_rules(arg: str, prefix: str) -> None:
    event = feed(server(), f"POLICY ADD s 0 transport {arg} 198.51.100.7\r\n".encode())
    assert isinstance(event, PolicyAdd)
    assert event.src == ip_network(prefix)


@pytest.mark.parametrize(
    ("line", "reply"),
    [
        (b"POLICY ADD s 0 transport 192.0.2.1/x 198.51.100.7", b"500 Syntax Error"),
        (b"POLICY ADD s 0 transport host.example 198.51.100.7", b"550 Operation Failed"),
        (b"POLICY ADD s 0 transport fe80::1%eth0 198.51.100.7", b"550 Operation Failed"),
        (b"POLICY ADD s 0 transport 192.0.2.1", b"500 Syntax Error"),  # 5 arguments
        (b"POLICY ADD s 0 tunnel 192.0.2.1 198.51.100.7", b"500 Syntax Error"),  # C read past argv
        (b"POLICY ADD s 0 tunnel 10.0.0.0/8 10.1.0.0/16 gw.example 192.0.2.1",
         b"550 Operation Failed"),
        (b"POLICY ADD s 0 sideways 192.0.2.1 198.51.100.7", b"500 Syntax Error"),
        (b"POLICY DELETE", b"500 Syntax Error"),
        (b"POLICY DELETE s transport", b"500 Syntax Error"),
        (b"POLICY DELETE s tunnel 192.0.2.1 198.51.100.7", b"500 Syntax Error"),
        (b"POLICY", b"500 Syntax Error"),
        (b"POLICY FLUSH", b"500 Syntax Error"),
        (b"MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.5", b"500 Syntax Error"),
        (b"MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.5 198.51.100.7 x", b"500 Syntax Error"),
        (b"MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.5 peer", b"550 Operation Failed"),
        (b"SLID", b"500 Syntax Error"),
        (b"SLID 1 2", b"500 Syntax Error"),
        (b"SLID one", b"500 Syntax Error"),
        (b"SLID 4294967296", b"500 Syntax Error"),  # SP ids are 32 bits
        (b"POLICY ADD s 18446744073709551616 transport 192.0.2.1 192.0.2.2", b"500 Syntax Error"),
        (b"STAT now", b"500 Syntax Error"),
        (b"NS", b"500 Syntax Error"),
        (b"NS ADD", b"500 Syntax Error"),
        (b"NS FLUSH 192.0.2.1", b"500 Syntax Error"),
        (b"NS ADD dns.example", b"550 Operation Failed"),
        (b"FQDN", b"500 Syntax Error"),
        (b"FQDN ADD " + b"a" * 255, b"500 Syntax Error"),  # 256 with the dot
        (b"FQDN QUERY nothost", b"550 Operation Failed"),
        (b"FQDN REMOVE host", b"500 Syntax Error"),
    ],
)
def test_syntax_and_address_errors(line: bytes, reply: bytes) -> None:
    assert rejected(server(), line + b"\r\n") == reply + b"\r\n"


def test_fqdn_of_254_characters_plus_dot_is_accepted() -> None:
    assert feed(server(), b"FQDN ADD " + b"a" * 254 + b"\r\n") == FqdnAdd("a" * 254 + ".")


def test_migrate_accepts_the_five_argument_form_with_cr_lf_or_bare_lf() -> None:
    want = Migrate("gw", V4, V4B, ip_address("203.0.113.5"), V4B)
    line = b"MIGRATE gw 192.0.2.1 198.51.100.7 203.0.113.5 198.51.100.7"
    assert feed(server(), line + b"\r\n") == want
    assert feed(server(), line + b"\n") == want


# --- framing (§2) -------------------------------------------------------------------------------


def test_empty_and_blank_lines_are_502() -> None:
    conn = server()
    assert rejected(conn, b"\r\n") == b"502 Command not implemented\r\n"
    assert rejected(conn, b"  \t \r\n") == b"502 Command not implemented\r\n"


def test_partial_line_needs_data_then_completes_across_reads() -> None:
    conn = server()
    assert feed(conn, b"POLI") is NEED_DATA
    assert conn.partial
    assert feed(conn, b"CY DU") is NEED_DATA
    assert feed(conn, b"MP\r") is NEED_DATA
    assert feed(conn, b"\n") == PolicyDump()


def test_pipelined_requests_are_answered_in_order() -> None:
    conn = server()
    conn.receive_data(b"STAT\r\nSLID 7\r\nPOLICY DUMP\r\n")
    first = conn.next_event()
    assert first == Stat()
    with pytest.raises(SpmifError):
        conn.next_event()  # the STAT reply is still owed
    conn.send(replies.stat([0] * 9))
    assert conn.next_event() == Slid(7)
    conn.send(replies.slid("x"))
    assert conn.next_event() == PolicyDump()
    conn.send(replies.policy_dump([]))
    assert conn.next_event() is NEED_DATA


def test_longest_line_accepted_and_one_byte_more_closes() -> None:
    body = b"FQDN ADD " + b"a" * 200
    pad = MAX_LINE - 2 - len(body)
    ok = body + b" " * pad + b"\r\n"
    assert len(ok) == MAX_LINE
    assert feed(server(), ok) == FqdnAdd("a" * 200 + ".")
    conn = server()
    event = feed(conn, body + b" " * (pad + 1) + b"\r\n")
    assert isinstance(event, ProtocolViolation) and event.close
    assert conn.send(event.reply) == b"500 Line Too Long\r\n"
    assert conn.closed


def test_over_long_line_without_newline_is_caught_before_buffering_more() -> None:
    conn = server()
    event = feed(conn, b"A" * 100_000)
    assert isinstance(event, ProtocolViolation) and event.close


@pytest.mark.parametrize("garbage", [b"\x00\x01\x02", b"\xff\xfe STAT", b"STAT\x1b[31m", b"\x80"])
def test_garbage_bytes_get_a_syntax_error_and_the_connection_goes_on(garbage: bytes) -> None:
    conn = server()
    assert rejected(conn, garbage + b"\r\n") == b"500 Syntax Error\r\n"
    assert not conn.closed
    assert feed(conn, b"STAT\r\n") == Stat()


def test_a_stream_of_bad_lines_closes_the_connection() -> None:
    conn = server()
    for i in range(MAX_VIOLATIONS):
        event = feed(conn, b"\xde\xad\r\n")
        assert isinstance(event, ProtocolViolation)
        conn.send(event.reply)
        assert conn.closed == (i == MAX_VIOLATIONS - 1)


def test_good_line_resets_the_error_count() -> None:
    conn = server()
    for _ in range(MAX_VIOLATIONS * 2):
        rejected(conn, b"BOGUS\r\n")
        event = feed(conn, b"STAT\r\n")
        conn.send(replies.stat([0] * 9))
        assert event == Stat()
    assert not conn.closed


def test_client_vanishing_mid_command() -> None:
    conn = server()
    assert feed(conn, b"POLICY ADD s 0 trans") is NEED_DATA
    assert feed(conn, b"") == ConnectionClosed(partial=True)
    idle = server()
    assert feed(idle, b"") == ConnectionClosed(partial=False)


def test_send_without_a_request_is_a_programming_error() -> None:
    with pytest.raises(SpmifError):
        server().send(replies.login_ok())


# --- replies (§4 reply texts, C bugs fixed) -----------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "wire"),
    [
        (replies.stat(range(1, 10)),
         b"250-DNS QUERY = 1\r\n250-DNS RESPONSE = 2\r\n250-DNS QUERY PROXY = 3\r\n"
         b"250-DNS RESPONSE PROXY = 4\r\n250-DNS EXPIRED QUERY = 5\r\n250-DNS DUP QUERY = 6\r\n"
         b"250-CACHE IP ADDRESS = 7\r\n250-CACHE FQDN = 8\r\n250 CACHE TOTAL FQDN = 9\r\n"),
        (replies.policy_added("out", "in"), b"250 Policy Added out and in\r\n"),
        (replies.selector_not_found(), b"550 Operation Failed, selector not found\r\n"),
        (replies.reverse_selector_not_found(),
         b"550 Operation Failed, reverse selector not found\r\n"),
        (replies.reverse_selector_same_direction(),
         b"550 Operation Failed, found reverse selector is same direction\r\n"),
        (replies.operation_failed_for("out"), b"550 Operation Failed(sl_index=out)\r\n"),
        (replies.policy_deleted(), b"250 Policy Deleted\r\n"),
        (replies.policy_dump([("a", 1), ("b", 2)]), b"250-a 1\r\n250 b 2\r\n"),
        (replies.policy_dump([]), b"251 NO Policy Exists\r\n"),
        (replies.migrated("gw"), b"250 Migrate gw\r\n"),
        (replies.slid("sel1"), b"250 sel1\r\n"),
        (replies.no_such_spid(9), b"551 No Such SPID(9)\r\n"),
        (replies.ns_list(["192.0.2.53", "2001:db8::53"]),
         b"250-192.0.2.53\r\n250 2001:db8::53\r\n"),
        (replies.ns_list([]), b"251 No Name Server(resolver off?)\r\n"),
        (replies.ns_added("192.0.2.53"), b"250 192.0.2.53 Added\r\n"),
        (replies.ns_already_exists("192.0.2.53"), b"551 192.0.2.53 Already Exists\r\n"),
        (replies.ns_resolver_off(), b"550 Operation Failed(resolver off?)\r\n"),
        (replies.ns_deleted("192.0.2.53"), b"250 192.0.2.53 Deleted\r\n"),
        (replies.ns_does_not_exist(), b"551 Does Not Exist\r\n"),
        (replies.ns_delete_refused(),
         b"550 Internal Error or At least need one dns server in the system\r\n"),
        (replies.ns_changed("192.0.2.53"), b"250 192.0.2.53 changed.\r\n"),
        (replies.ns_not_in_list("192.0.2.9"), b"550 Can not find 192.0.2.9 in the our list.\r\n"),
        (replies.ns_check_nsswitch(), b"550 Operation Failed, check /etc/nsswitch.conf\r\n"),
        (replies.fqdn_list(["a.example.", "b.example."]),
         b"250-a.example.\r\n250 b.example.\r\n"),
        (replies.fqdn_list([]), b"251 No FQDN Registered\r\n"),
        (replies.fqdn_query([]), b"501 Not Cached\r\n"),
        (replies.fqdn_registered(), b"250 FQDN Registered\r\n"),  # C: "250-" and no last line
        (replies.fqdn_already_registered(), b"550 FQDN Already Registered\r\n"),
        (replies.fqdn_deregistered(), b"250 FQDN Deregistered\r\n"),  # same C bug fixed
        (replies.fqdn_no_such(), b"550 No such a FQDN exists\r\n"),
        (replies.internal_error(), b"550 Operation Failed, internal error\r\n"),
    ],
)
def test_reply_bytes(reply: Reply, wire: bytes) -> None:
    assert reply.encode() == wire
    client = ClientConnection()
    client.receive_data(b"220 X\r\n")
    client.next_event()
    client.send(Stat())
    client.receive_data(wire)
    assert client.next_event() == reply


@pytest.mark.parametrize("bad", [(99, ("x",)), (250, ()), (250, ("a\r\nb",))])
def test_reply_validation(bad: tuple[int, tuple[str, ...]]) -> None:
    with pytest.raises(SpmifError):
        Reply(*bad)


# --- client connection --------------------------------------------------------------------------


def ready_client() -> ClientConnection:
    client = ClientConnection()
    assert client.next_event() is NEED_DATA
    client.receive_data(f"220 {CHALLENGE}\r\n".encode())
    assert client.next_event() == replies.greeting(CHALLENGE)
    assert client.challenge == CHALLENGE and client.ready
    return client


def test_client_cannot_send_before_the_greeting_or_twice() -> None:
    client = ClientConnection()
    with pytest.raises(SpmifError):
        client.send(Stat())
    client = ready_client()
    client.send(Stat())
    with pytest.raises(SpmifError):
        client.send(Stat())


def test_commands_that_do_not_fit_a_line_are_spmif_errors() -> None:
    with pytest.raises(SpmifError, match="FQDN 'a b' is not a single printable word"):
        format_command(FqdnAdd("a b"))
    tunnel = PolicyAdd("sel", 60, Mode.TUNNEL, ip_network("192.0.2.0/24"),
                       ip_network("198.51.100.0/24"), None, None)
    with pytest.raises(SpmifError, match="^cannot encode PolicyAdd: a tunnel-mode policy"):
        ready_client().send(tunnel)


def test_client_assembles_a_multi_line_reply_from_single_bytes() -> None:
    client = ready_client()
    client.send(Stat())
    wire = replies.stat([5] * 9).encode()
    for i in range(len(wire) - 1):
        client.receive_data(wire[i : i + 1])
        assert client.next_event() is NEED_DATA
    client.receive_data(wire[-1:])
    assert client.next_event() == replies.stat([5] * 9)
    assert client.ready


@pytest.mark.parametrize(
    "wire",
    [
        b"250 OK\n",  # bare LF: spmdctl treats it as a read error
        b"OK 250\r\n",
        b"25\r\n",
        b"250?OK\r\n",
        b"250 \xffOK\r\n",
        b"2" * 5000,
    ],
)
def test_client_rejects_malformed_replies(wire: bytes) -> None:
    client = ready_client()
    client.send(Stat())
    client.receive_data(wire)
    with pytest.raises(SpmifError):
        client.next_event()


def test_client_rejects_a_bad_greeting_and_unsolicited_replies() -> None:
    client = ClientConnection()
    client.receive_data(b"250 hello\r\n")
    with pytest.raises(SpmifError):
        client.next_event()
    client = ready_client()
    client.receive_data(b"250 surprise\r\n")
    with pytest.raises(SpmifError):
        client.next_event()


def test_client_code_only_line_ends_the_reply() -> None:
    client = ready_client()
    client.send(Stat())
    client.receive_data(b"250\r\n")
    assert client.next_event() == Reply(250, ("",))


def test_client_sees_eof() -> None:
    client = ready_client()
    client.send(Stat())
    client.receive_data(b"250-DNS QUERY = 1\r\n")
    client.receive_data(b"")
    assert client.next_event() == ConnectionClosed(partial=True)


def test_client_refuses_unencodable_commands() -> None:
    client = ready_client()
    with pytest.raises(SpmifError):
        client.send(PolicyAdd("a b", 0, Mode.TRANSPORT, ip_network("192.0.2.1/32"),
                              ip_network("192.0.2.2/32")))
    with pytest.raises(SpmifError):
        client.send(PolicyAdd("s", 0, Mode.TUNNEL, ip_network("192.0.2.1/32"),
                              ip_network("192.0.2.2/32")))  # no SA endpoints
    assert client.ready


def test_in_memory_pair_login_and_quit() -> None:
    srv = ServerConnection(CHALLENGE, PASSWORD)
    client = ClientConnection()
    client.receive_data(srv.greeting())
    assert isinstance(client.next_event(), Reply)
    srv.receive_data(client.send(client.login_command(PASSWORD)))
    login = srv.next_event()
    assert isinstance(login, Login)
    client.receive_data(srv.send(answer(srv, login)))
    assert client.next_event() == replies.login_ok()
    srv.receive_data(client.send(Quit()))
    quit_ = srv.next_event()
    client.receive_data(srv.send(answer(srv, quit_)))
    assert client.next_event() == replies.bye()
    assert srv.closed and not client.ready
