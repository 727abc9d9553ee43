"""The control socket (racoon2.control): the request parser, the answers, the tables and the
Prometheus text ikedctl prints, and the asyncio server over a real Unix socket."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import stat
from pathlib import Path

import pytest

from iked.ctl import COMMANDS
from racoon2.control import client, tables
from racoon2.control.protocol import (
    MAX_REQUEST,
    LineBuffer,
    Oversized,
    Request,
    answer,
    decode_answer,
    encode_request,
    error,
    parse,
)
from racoon2.control.server import ControlServer
from racoon2.errors import ControlError


def test_line_buffer_cuts_lines_across_pieces_and_skips_an_oversized_one() -> None:
    buf = LineBuffer(limit=8)
    assert buf.feed(b"sta") == []
    assert buf.feed(b"tus\r\nsa l") == [b"status"]
    assert buf.feed(b"ist\n" + b"x" * 5) == [b"sa list"]
    assert buf.feed(b"y" * 6) == []  # past the limit: dropped as it comes
    assert buf.feed(b"z\nstats\n") == [Oversized(12), b"stats"]


@pytest.mark.parametrize(("line", "wanted"), [
    (b"status", Request("status")),
    (b"  SA   L ", Request("sa list")),
    (b"sa show 3", Request("sa show", ("3",))),
    (b"s s 0xc1000001", Request("sa show", ("0xc1000001",))),
    (b"st", None),  # status or stats: ambiguous
    (b"init peer", Request("initiate", ("peer",))),
    (b"log 7", Request("log-level", ("7",))),
    (b'{"command": "sa show", "args": ["1"]}', Request("sa show", ("1",))),
    (b'{"command": "sa", "args": ["show", "1"]}', Request("sa show", ("1",))),
])
def test_requests_resolve_by_unambiguous_prefix(line: bytes, wanted: Request | None) -> None:
    if wanted is None:
        with pytest.raises(ControlError, match="ambiguous command 'st'"):
            parse(line, COMMANDS)
    else:
        assert parse(line, COMMANDS) == wanted


@pytest.mark.parametrize(("line", "message"), [
    (b"", "empty request"),
    (b"frob", "unknown command 'frob'"),
    (b"sa", "unknown command 'sa'"),
    (b"sa show", "usage: sa show ID"),
    (b"status now", "usage: status"),
    (b"\xff", "not UTF-8"),
    (b"sa\x00list", "control characters"),
    (b"{", "not valid JSON"),
    (b"[1]", "unknown command"),
    (b'{"command": 5}', 'a JSON request is an object with a "command" string'),
    (b'{"command": "sa show", "args": [1]}', '"args" must be a list of strings'),
    (b'{"command": "stats", "x": 1}', r"unknown request field\(s\): x"),
    (b'{"command": "sa show", "args": [" 1"]}', "non-empty printable words"),
    (b"a " * 17, "too many or too long words"),
    (b"sa show " + b"9" * 300, "too many or too long words"),
])
def test_bad_requests_are_refused_with_a_reason(line: bytes, message: str) -> None:
    with pytest.raises(ControlError, match=message):
        parse(line, COMMANDS)


def test_oversized_is_refused() -> None:
    with pytest.raises(ControlError, match=f"longer than {MAX_REQUEST}"):
        parse(Oversized(5000), COMMANDS)


def test_answers_round_trip() -> None:
    assert decode_answer(answer("sa list", {"sas": []})) == ("sa list", {"sas": []})
    with pytest.raises(ControlError, match="no SA '9'"):
        decode_answer(error("no SA '9'"))
    with pytest.raises(ControlError, match="not an answer"):
        decode_answer(b"hello\n")
    line = encode_request(["sa", "show", "a b"])
    assert parse(line.rstrip(b"\n"), COMMANDS) == Request("sa show", ("a b",))


CHILD = {"policy": "pol", "selector": "out", "state": "installed", "mode": "tunnel",
         "protocol": "esp", "spi_in": "c1000001", "spi_out": "0badf00d", "ipcomp": None,
         "algorithms": "ENCR_AES_CBC-128/AUTH_HMAC_SHA2_256_128", "local_ts": "198.51.100.0/28",
         "key_exchanges": [], "remote_ts": "198.51.100.16/28", "established": 1000,
         "rekey": 4000,
         "kernel": "installed", "in": {"bytes": 840, "packets": 10},
         "out": {"bytes": 1680, "packets": 20}}
SA = {"id": 1, "version": 2, "name": "0011223344556677:8899aabbccddeeff", "remote": "peer",
      "local": "192.0.2.1[500]", "peer": "192.0.2.2[500]", "state": "established",
      "initiator": True, "local_id": "192.0.2.1", "peer_id": "192.0.2.2",
      "algorithms": "ENCR_AES_CBC-128", "key_exchanges": ["CURVE25519", "ML_KEM_768"],
      "ppk": None, "nat": {"detected": False, "local_behind": False},
      "virtual_addresses": [], "leased_to_peer": None, "established": 1000, "rekey": 90000,
      "children": [CHILD]}


def test_tables_an_admin_reads() -> None:
    assert tables.duration(3 * 86400 + 4 * 3600) == "3d04h"
    assert tables.duration(125) == "2m05s"
    listed = tables.sa_list({"sas": [SA]}, 1300.0)
    assert listed[1].split() == ["1", "IKEv2", "peer", "192.0.2.2[500]", "established",
                                 "5m00s", "in", "1d00h", "1"]
    assert "in 0xc1000001 out 0x0badf00d" in listed[2]
    assert "in 840 B/10 pkts, out 1680 B/20 pkts" in listed[2]
    shown = "\n".join(tables.sa_show({"sa": SA}, 1300.0))
    assert "identities  192.0.2.1 <=> 192.0.2.2" in shown and "NAT         none" in shown
    absent = {**CHILD, "kernel": "absent", "in": None, "out": None}
    assert "kernel SAs absent: no counters" in tables.sa_list(
        {"sas": [{**SA, "children": [absent]}]}, 1300.0)[2]
    assert tables.sa_list({"sas": []}, 0.0) == ["no SA"]


def test_sa_show_names_the_key_exchanges_and_ppk() -> None:
    # RFC 9370's additional key exchanges and RFC 8784's PPK: what a post-quantum SA used.
    shown = tables.sa_show({"sa": SA}, 1300.0)
    assert "  key exch.   CURVE25519 + ML_KEM_768" in shown
    with_ppk = tables.sa_show({"sa": {**SA, "ppk": "site-ppk"}}, 1300.0)
    assert "  key exch.   CURVE25519 + ML_KEM_768, PPK site-ppk" in with_ppk
    pfs = {**CHILD, "key_exchanges": ["CURVE25519", "ML_KEM_768"]}
    rekeyed = "\n".join(tables.sa_show({"sa": {**SA, "children": [pfs]}}, 1300.0))
    assert "ENCR_AES_CBC-128/AUTH_HMAC_SHA2_256_128, PFS CURVE25519 + ML_KEM_768, up" in rekeyed
    assert ", PFS" not in "\n".join(shown)  # IKE_AUTH's CHILD_SA: no exchange of its own


PAIR = {"policy": "ipsec_b", "peer": "kink/host-b.example.com@KINK.TEST",
        "remote": "192.0.2.2", "local": "192.0.2.1", "spi_in": "c1000001",
        "spi_out": "0badf00d", "initiator": True, "outbound_installed": True, "rekeyed": False,
        "established": 1000, "kernel": "installed", "in": {"bytes": 840, "packets": 10},
        "out": {"bytes": 1680, "packets": 20}}


def test_kinkd_sa_pair_tables() -> None:
    """kinkdctl's sa list and sa show (doc/ikedctl.md): kinkd's documents, not iked's."""
    listed = tables.sa_list({"sa_pairs": [PAIR]}, 1300.0)
    assert listed[1].split() == ["ipsec_b", "kink/host-b.example.com@KINK.TEST", "192.0.2.2",
                                 "5m00s", "initiator"]
    assert listed[2].split(";")[0].split() == ["ESP", "in", "0xc1000001", "out", "0x0badf00d"]
    assert "in 840 B/10 pkts, out 1680 B/20 pkts" in listed[2]
    assert tables.sa_list({"sa_pairs": []}, 0.0) == ["no SA pair"]
    shown = tables.sa_show({"sa_pair": PAIR}, 1300.0)
    assert shown == [
        "SA pair ipsec_b with kink/host-b.example.com@KINK.TEST",
        "  role        initiator",
        "  endpoints   192.0.2.1 <=> 192.0.2.2",
        "  state       up 5m00s",
        "  ESP         spi in 0xc1000001 out 0x0badf00d, outbound installed",
        "  traffic     in 840 B/10 pkts, out 1680 B/20 pkts"]
    waiting = {**PAIR, "initiator": False, "outbound_installed": False, "rekeyed": True,
               "kernel": "absent", "in": None, "out": None}
    shown = tables.sa_show({"sa_pair": waiting}, 1300.0)
    assert shown[1:] == [
        "  role        responder",
        "  endpoints   192.0.2.1 <=> 192.0.2.2",
        "  state       up 5m00s, being replaced (rekeyed)",
        "  ESP         spi in 0xc1000001 out 0x0badf00d, outbound not installed",
        "  traffic     kernel SAs absent: no counters"]
    assert tables.sa_list({"sa_pairs": [waiting]}, 1300.0)[1].endswith(
        "responder, being replaced")


def test_prometheus_text_format() -> None:
    stats = {"ike_sas": 2, "retransmits": 3, "dropped": {"bad_icv": 1},
             "exchanges": {"initiated": {"IKE_AUTH": 2}, "answered": {}},
             "events": {'Odd"Name': 1}, "label": "not a number"}
    text = tables.prometheus("iked", stats)
    assert text == [
        "# HELP racoon2_iked_ike_sas iked ike sas (ikedctl stats)",
        "# TYPE racoon2_iked_ike_sas gauge", "racoon2_iked_ike_sas 2",
        "# HELP racoon2_iked_retransmits_total iked retransmits (ikedctl stats)",
        "# TYPE racoon2_iked_retransmits_total counter", "racoon2_iked_retransmits_total 3",
        "# HELP racoon2_iked_dropped_total iked dropped (ikedctl stats)",
        "# TYPE racoon2_iked_dropped_total counter",
        'racoon2_iked_dropped_total{reason="bad_icv"} 1',
        "# HELP racoon2_iked_exchanges_total iked exchanges (ikedctl stats)",
        "# TYPE racoon2_iked_exchanges_total counter",
        'racoon2_iked_exchanges_total{role="initiated",exchange="IKE_AUTH"} 2',
        "# HELP racoon2_iked_events_total iked events (ikedctl stats)",
        "# TYPE racoon2_iked_events_total counter",
        'racoon2_iked_events_total{event="Odd\\"Name"} 1',
    ]


def test_server_answers_each_line_and_survives_bad_ones(tmp_path: Path) -> None:
    path = str(tmp_path / "run" / "iked.ctl")

    async def handler(request: Request) -> object:
        if request.command == "rekey":
            raise ControlError("no SA '7'")
        if request.command == "stats":
            raise RuntimeError("a bug")
        return {"command": request.command, "args": list(request.args)}

    async def main() -> list[object]:
        server = ControlServer(path, COMMANDS, handler, logging.getLogger("test"))
        await server.open()
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        loop = asyncio.get_running_loop()
        out: list[object] = []
        try:
            def talk() -> None:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.connect(path)
                    f = s.makefile("rwb")
                    f.write(b"sa show 1\n" + b"y" * 9000 + b"\nrekey 7\nstats\nstatus\n")
                    f.flush()
                    out.extend(json.loads(f.readline()) for _ in range(5))
                out.append(client.request(path, ["sa", "list"]))
                # A second server on a live socket is refused; the first keeps it.
                try:
                    asyncio.run(ControlServer(path, COMMANDS, handler,
                                              logging.getLogger("test")).open())
                except Exception as e:  # noqa: BLE001 - the message is what is checked
                    out.append(str(e))
            await loop.run_in_executor(None, talk)
        finally:
            await server.close()
        assert not os.path.exists(path)
        return out

    a = asyncio.run(main())
    assert a[0] == {"ok": True, "command": "sa show",
                    "result": {"command": "sa show", "args": ["1"]}}
    assert a[1] == {"ok": False, "error": f"request of 9000 octets is longer than {MAX_REQUEST}"}
    assert a[2] == {"ok": False, "error": "no SA '7'"}
    assert a[3] == {"ok": False, "error": "internal error: RuntimeError: a bug"}
    assert a[4]["ok"] is True  # type: ignore[index]
    assert a[5] == ("sa list", {"command": "sa list", "args": []})
    assert "is in use by another daemon" in str(a[6])


def test_client_names_a_missing_socket(tmp_path: Path) -> None:
    with pytest.raises(ControlError, match="no control socket"):
        client.request(str(tmp_path / "none.ctl"), ["status"])
