"""racoon2.log's journald output: the native protocol's encoding (systemd's "Native Journal
Protocol" page), JOURNAL_STREAM detection, and records through a real AF_UNIX socket."""

from __future__ import annotations

import logging
import os
import socket
import struct
from pathlib import Path

from racoon2 import log


def parse(data: bytes) -> dict[str, str]:
    """Decode a native-protocol datagram (both field forms)."""
    out: dict[str, str] = {}
    while data:
        line, _, rest = data.partition(b"\n")
        if b"=" in line:
            name, _, value = line.partition(b"=")
            out[name.decode()] = value.decode()
            data = rest
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            out[line.decode()] = rest[8:8 + size].decode()
            assert rest[8 + size:9 + size] == b"\n"
            data = rest[9 + size:]
    return out


def test_encode_plain_and_binary_fields() -> None:
    data = log.encode({"MESSAGE": "two\nlines", "PRIORITY": "4"})
    assert data == b"MESSAGE\n" + struct.pack("<Q", 9) + b"two\nlines\nPRIORITY=4\n"
    assert parse(data) == {"MESSAGE": "two\nlines", "PRIORITY": "4"}


def test_records_carry_priority_identifier_and_fields(tmp_path: Path) -> None:
    path = str(tmp_path / "journal")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        handler = log.JournalHandler("iked", path)
        logger = logging.getLogger("test_journal")
        logger.addHandler(handler)
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        try:
            with log.fields(IKE_SA="0123456789abcdef", PEER="192.0.2.1", CHILD_SA=None):
                logger.warning("peer %s silent", "192.0.2.1")
                with log.fields(CHILD_SA="c0ffee01"):
                    logger.info("child")
            logger.error("plain")
        finally:
            logger.removeHandler(handler)
            handler.close()
        first, second, third = (parse(sock.recv(65536)) for _ in range(3))
    assert first["MESSAGE"] == "peer 192.0.2.1 silent"
    assert first["PRIORITY"] == "4" and first["SYSLOG_IDENTIFIER"] == "iked"
    assert first["IKE_SA"] == "0123456789abcdef" and first["PEER"] == "192.0.2.1"
    assert "CHILD_SA" not in first
    assert second["PRIORITY"] == "6" and second["CHILD_SA"] == "c0ffee01"
    assert second["IKE_SA"] == "0123456789abcdef"
    assert third["PRIORITY"] == "3" and "IKE_SA" not in third
    assert first["CODE_FILE"].endswith("test_journal.py")


def test_journal_stream_matches_stderr_only(tmp_path: Path) -> None:
    with open(tmp_path / "f", "w") as f:
        st = os.fstat(f.fileno())
        env = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert log.journal_stream(env, f.fileno())
        # stderr redirected elsewhere (a shell's 2>file) is not the journal any more
        assert not log.journal_stream({"JOURNAL_STREAM": "1:2"}, f.fileno())
        assert not log.journal_stream({}, f.fileno())
