"""Turn a peer run into capture files: IKE messages from a pcap, IKE keys from charon's log.

    extract.py messages PCAP OUT.json [--name ADDR=NAME ...]
    extract.py keys CHARON_LOG SAS_TXT OUT.json [--proposal IKE_PROPOSAL] [--wireshark DIR]

`messages` reads a classic pcap (tcpdump -w, Ethernet link type) and writes every UDP datagram
on port 500 or 4500 as one record. On port 4500 an IKE message is preceded by the 4-byte
non-ESP marker (RFC 3948 §2.2); it is stripped, and the record says so, so that "hex" is
always the IKE message itself. ESP packets (no marker) and NAT-keepalives are left out.

`keys` reads a charon log written with "ike" at level 4, where strongSwan dumps the shared DH
secret, SKEYSEED (IKEv2) or SKEYID* (IKEv1) and the SK_* keys every time it derives the keys
of an IKE SA. For IKEv2 the n-th derivation belongs to the n-th IKE SA of SAS_TXT (the output
of `swanctl --list-sas` taken after each step), which names each SA's SPIs, including those of
SAs made by a rekey, which appear only encrypted on the wire. An IKEv1 SA can be gone before it
is listed (a peer may delete it at once), so an IKEv1 derivation takes the SPIs of the SA its
thread checks in next (charon's "mgr" log at level 2), and the algorithms of the first SA
listed (or the configured proposal when none was).
With --wireshark, the keys are also written as Wireshark's IKE decryption tables
(DIR/ikev2_decryption_table, DIR/ikev1_decryption_table; the format of the "uat" preferences
ikev2_decryption_table and ikev1_decryption_table, also what strongSwan's save-keys plugin writes).
Only the standard library is used, so it runs before the project's venv exists.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import re
import struct
import sys
from pathlib import Path
from typing import Any

IKE_PORTS = (500, 4500)
NON_ESP_MARKER = b"\x00\x00\x00\x00"


def _udp_datagrams(pcap: bytes) -> list[tuple[float, str, str, int, int, bytes]]:
    """(time, src, dst, sport, dport, payload) of each UDP datagram in an Ethernet pcap."""
    magic = pcap[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        endian = "<"
    elif magic == b"\xa1\xb2\xc3\xd4":
        endian = ">"
    else:
        raise SystemExit("not a classic pcap file (use tcpdump -w, not pcapng)")
    linktype = struct.unpack_from(endian + "I", pcap, 20)[0]
    if linktype != 1:
        raise SystemExit(f"pcap link type {linktype}: only Ethernet (1) is handled")
    out = []
    off = 24
    while off + 16 <= len(pcap):
        sec, usec, caplen, _ = struct.unpack_from(endian + "IIII", pcap, off)
        frame = pcap[off + 16 : off + 16 + caplen]
        off += 16 + caplen
        ethertype = int.from_bytes(frame[12:14], "big")
        ip = frame[14:]
        if ethertype == 0x0800 and ip[9] == 17:
            ihl = (ip[0] & 0x0F) * 4
            src, dst = str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20]))
            udp = ip[ihl : int.from_bytes(ip[2:4], "big")]
        elif ethertype == 0x86DD and ip[6] == 17:
            src, dst = str(ipaddress.IPv6Address(ip[8:24])), str(ipaddress.IPv6Address(ip[24:40]))
            udp = ip[40 : 40 + int.from_bytes(ip[4:6], "big")]
        else:
            continue
        sport, dport, length = struct.unpack_from("!HHH", udp, 0)
        out.append((sec + usec / 1e6, src, dst, sport, dport, udp[8:length]))
    return out


def messages(pcap_path: Path, names: dict[str, str]) -> list[dict[str, Any]]:
    """The IKE messages of a pcap as JSON-ready records, in capture order."""
    records: list[dict[str, Any]] = []
    datagrams = _udp_datagrams(pcap_path.read_bytes())
    start = datagrams[0][0] if datagrams else 0.0
    for when, src, dst, sport, dport, payload in datagrams:
        if sport not in IKE_PORTS and dport not in IKE_PORTS:
            continue
        stripped = False
        if 4500 in (sport, dport):
            if payload == b"\xff" or not payload.startswith(NON_ESP_MARKER):
                continue  # NAT-keepalive or ESP
            payload = payload[4:]
            stripped = True
        records.append(
            {
                "index": len(records),
                "time": round(when - start, 6),
                "from": names.get(src, src),
                "to": names.get(dst, dst),
                "src": f"{src}:{sport}" if ":" not in src else f"[{src}]:{sport}",
                "dst": f"{dst}:{dport}" if ":" not in dst else f"[{dst}]:{dport}",
                "non_esp_marker_stripped": stripped,
                "hex": payload.hex(),
            }
        )
    return records


# charon's labels for the secrets it dumps at "ike" level 4, and our names for them
_LABELS = {
    "shared Diffie Hellman secret": "dh_shared_secret",
    "SKEYSEED": "skeyseed",
    "Sk_d secret": "sk_d",
    "Sk_ai secret": "sk_ai",
    "Sk_ar secret": "sk_ar",
    "Sk_ei secret": "sk_ei",
    "Sk_er secret": "sk_er",
    "Sk_pi secret": "sk_pi",
    "Sk_pr secret": "sk_pr",
    "SKEYID": "skeyid",
    "SKEYID_d": "skeyid_d",
    "SKEYID_a": "skeyid_a",
    "SKEYID_e": "skeyid_e",
    "encryption key Ka": "ka",
}
_HEADER = re.compile(r"^\S+ (\d+)\[IKE\] (.+?) => (\d+) bytes @ 0x[0-9a-f]+$")
_DUMP = re.compile(r"^\S+ (\d+)\[IKE\]\s+\d+: (.*)$")
_CHECKIN = re.compile(r"^\S+ (\d+)\[MGR\] checkin .* SPIs ([0-9a-f]{16})_i ([0-9a-f]{16})_r$")
_SA = re.compile(
    r"^\S+: #(\d+), (\w+), IKEv(\d), ([0-9a-f]{16})_i\*? ([0-9a-f]{16})_r\*?\n"
    r"(?:  .*\n)*?  ([A-Z0-9_/-]+)\n",
    re.M,
)


def _derivations(log: str) -> list[dict[str, str]]:
    """Each key derivation in a charon log, in log order: our key name -> hex, and "spis" ->
    SPIi + SPIr of the SA the deriving thread checks in next (a responder's SPI is only set
    while the message is processed, so the SA's checkin names both)."""
    groups: list[dict[str, str]] = []
    pending: dict[str, tuple[str, int, bytearray]] = {}  # thread -> (name, length, bytes so far)
    awaiting: dict[str, dict[str, str]] = {}  # thread -> its derivation without SPIs yet
    for line in log.splitlines():
        checkin = _CHECKIN.match(line)
        if checkin:
            group = awaiting.pop(checkin.group(1), None)
            if group is not None:
                group["spis"] = checkin.group(2) + checkin.group(3)
            continue
        header = _HEADER.match(line)
        if header:
            thread, label, length = header.group(1), header.group(2), int(header.group(3))
            name = _LABELS.get(label)
            if name is None:
                pending.pop(thread, None)
                continue
            # a DH secret starts a derivation; SKEYID/SKEYSEED start one if no secret was logged
            if name == "dh_shared_secret" or not groups or name in groups[-1]:
                groups.append({"spis": ""})
                awaiting[thread] = groups[-1]
            pending[thread] = (name, length, bytearray())
            continue
        dump = _DUMP.match(line)
        if dump and dump.group(1) in pending:
            name, length, got = pending[dump.group(1)]
            got += bytes.fromhex(" ".join(dump.group(2).split(" ")[: min(16, length - len(got))]))
            if len(got) == length:
                groups[-1].setdefault(name, got.hex())
                del pending[dump.group(1)]
    return groups


def keys(log_path: Path, sas_path: Path, proposal: str) -> list[dict[str, Any]]:
    """One record per IKE SA: SPIs, algorithms and every secret charon logged for it."""
    listed: dict[int, dict[str, Any]] = {}
    for m in _SA.finditer(sas_path.read_text()):
        listed[int(m.group(1))] = {
            "ike_version": int(m.group(3)),
            "spi_i": m.group(4),
            "spi_r": m.group(5),
            "algorithms": m.group(6),
        }
    sas = [listed[n] for n in sorted(listed)]
    groups = _derivations(log_path.read_text())
    if groups and "skeyid" in groups[0]:
        algorithms = sas[0]["algorithms"] if sas else proposal
        sas = [
            {"ike_version": 1, "spi_i": g["spis"][:16], "spi_r": g["spis"][16:]}
            | {"algorithms": algorithms}
            for g in groups
        ]
    if len(groups) != len(sas):
        raise SystemExit(f"{len(groups)} key derivations in the log but {len(sas)} IKE SAs listed")
    secrets = [{k: v for k, v in g.items() if k != "spis"} for g in groups]
    return [sa | s for sa, s in zip(sas, secrets, strict=True)]


# strongSwan's algorithm names -> Wireshark's (the choices of its IKEv2 decryption table)
_WIRESHARK_ENCR = {
    "AES_CBC-128": "AES-CBC-128 [RFC3602]",
    "AES_CBC-256": "AES-CBC-256 [RFC3602]",
    "AES_GCM_16-128": "AES-GCM-128 with 16 octet ICV [RFC5282]",
    "AES_GCM_16-256": "AES-GCM-256 with 16 octet ICV [RFC5282]",
}
_WIRESHARK_INTEG = {"HMAC_SHA2_256_128": "HMAC_SHA2_256_128 [RFC4868]"}


def wireshark_tables(sas: list[dict[str, Any]], out: Path) -> None:
    """Write the Wireshark decryption tables for these IKE SAs into directory out."""
    v2, v1 = [], []
    for sa in sas:
        if sa["ike_version"] == 1:
            v1.append(f"{sa['spi_i']},{sa['ka']}")
            continue
        names = sa["algorithms"].split("/")
        encr = _WIRESHARK_ENCR[names[0]]
        integ = _WIRESHARK_INTEG.get(names[1], "NONE [RFC4306]")
        ai, ar = sa.get("sk_ai", ""), sa.get("sk_ar", "")
        v2.append(
            f'{sa["spi_i"]},{sa["spi_r"]},{sa["sk_ei"]},{sa["sk_er"]},"{encr}",{ai},{ar},"{integ}"'
        )
    out.mkdir(parents=True, exist_ok=True)
    for name, rows in (("ikev2_decryption_table", v2), ("ikev1_decryption_table", v1)):
        if rows:
            (out / name).write_text("".join(row + "\n" for row in rows))


def main(argv: list[str]) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("messages")
    m.add_argument("pcap", type=Path)
    m.add_argument("out", type=Path)
    m.add_argument("--name", action="append", default=[], help="ADDR=NAME for 'from'/'to'")
    k = sub.add_parser("keys")
    k.add_argument("log", type=Path)
    k.add_argument("sas", type=Path)
    k.add_argument("out", type=Path)
    k.add_argument("--proposal", default="", help="IKE proposal, for IKEv1 SAs not listed")
    k.add_argument("--wireshark", type=Path, help="directory for Wireshark's key tables")
    args = parser.parse_args(argv)
    if args.cmd == "messages":
        data: list[dict[str, Any]] = messages(args.pcap, dict(n.split("=", 1) for n in args.name))
    else:
        data = keys(args.log, args.sas, args.proposal)
        if args.wireshark:
            wireshark_tables(data, args.wireshark)
    args.out.write_text(json.dumps(data, indent=1) + "\n")
    print(f"{args.out}: {len(data)} records")


if __name__ == "__main__":
    main(sys.argv[1:])
