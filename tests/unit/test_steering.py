"""iked -j's steering: the classic BPF program, run by a small interpreter with the kernel's
semantics (linux/filter.h; a load beyond the packet ends the program with 0), decides as
:func:`iked.steering.worker_of` does over a table of datagrams; SPIs a worker chooses steer
to it."""

from __future__ import annotations

import os
import struct

import pytest

from iked import steering
from iked.steering import Insn


def run_bpf(insns: list[Insn], packet: bytes) -> int:
    """Classic BPF as the kernel runs a SO_ATTACH_REUSEPORT_CBPF program over the UDP
    payload: only the opcodes :func:`steering.program` may use."""
    a, pc = 0, 0
    while True:
        i = insns[pc]
        pc += 1
        match i.code:
            case steering.LD_W_ABS:
                if i.k + 4 > len(packet):
                    return 0
                a = struct.unpack_from("!I", packet, i.k)[0]
            case steering.LD_B_ABS:
                if i.k >= len(packet):
                    return 0
                a = packet[i.k]
            case steering.ALU_AND_K:
                a &= i.k
            case steering.ALU_MOD_K:
                a %= i.k
            case steering.JMP_JA:
                pc += i.k
            case steering.JMP_JEQ_K:
                pc += i.jt if a == i.k else i.jf
            case steering.JMP_JSET_K:
                pc += i.jt if a & i.k else i.jf
            case steering.RET_K:
                return i.k
            case steering.RET_A:
                return a
            case _:
                raise AssertionError(f"opcode {i.code:#x}")


def header(spi_i: bytes, spi_r: bytes, version: int, exchange: int, flags: int) -> bytes:
    """An IKE/ISAKMP header (RFC 7296 §3.1, RFC 2408 §3.1) with a short body."""
    return spi_i + spi_r + bytes([46, version, exchange, flags]) + bytes(8) + b"body"


SPI_I, SPI_R = bytes.fromhex("0102030405060708"), bytes.fromhex("1112131415161718")
TABLE = [
    # (what, datagram, the SPI that must decide, or None for worker 0)
    ("IKEv2 IKE_SA_INIT request", header(SPI_I, bytes(8), 0x20, 34, 0x08), SPI_I),
    ("IKEv2 IKE_SA_INIT response", header(SPI_I, SPI_R, 0x20, 34, 0x20), SPI_I),
    ("IKEv2 IKE_AUTH from the initiator", header(SPI_I, SPI_R, 0x20, 35, 0x08), SPI_R),
    ("IKEv2 IKE_AUTH response", header(SPI_I, SPI_R, 0x20, 35, 0x20), SPI_I),
    ("IKEv2 INFORMATIONAL from the responder", header(SPI_I, SPI_R, 0x20, 37, 0x00), SPI_I),
    ("IKEv2 answer to the responder", header(SPI_I, SPI_R, 0x20, 37, 0x28), SPI_R),
    ("IKEv2.1 minor version", header(SPI_I, SPI_R, 0x21, 36, 0x08), SPI_R),
    ("IKEv1 Main Mode", header(SPI_I, bytes(8), 0x10, 2, 0x00), SPI_I),
    ("IKEv1 Quick Mode", header(SPI_I, SPI_R, 0x10, 32, 0x01), SPI_I),
    ("IKEv1 with IKEv2's I bit set", header(SPI_I, SPI_R, 0x10, 5, 0x08), SPI_I),
    ("empty", b"", None),
    ("shorter than the version octet", SPI_I + SPI_R + b"\x2e", None),
    ("IKEv2 cut before the flags", SPI_I + SPI_R + b"\x2e\x20\x23", None),
    ("IKEv1 cut after the version", SPI_I + SPI_R + b"\x2e\x10", SPI_I),
]


@pytest.mark.parametrize("workers", [2, 3, 4, 7])
@pytest.mark.parametrize("nat_t", [False, True])
@pytest.mark.parametrize("what,datagram,spi", TABLE, ids=[t[0] for t in TABLE])
def test_program_decides_as_python(workers: int, nat_t: bool, what: str, datagram: bytes,
                                   spi: bytes | None) -> None:
    payload = bytes(4) + datagram if nat_t and datagram else datagram
    want = 0 if spi is None else int.from_bytes(spi[4:], "big") % workers
    assert steering.worker_of(payload, workers, nat_t) == want, what
    assert run_bpf(steering.program(workers, nat_t), payload) == want, what


@pytest.mark.parametrize("payload", [b"\xff", bytes.fromhex("0000"), b"ESP!" + bytes(40),
                                     bytes.fromhex("00000001") + header(SPI_I, SPI_R, 0x20,
                                                                       35, 0x08)])
def test_port_4500_without_the_marker_goes_to_worker_0(payload: bytes) -> None:
    # A NAT keepalive (RFC 3948 §2.3), or ESP the kernel did not take: any worker will do.
    assert steering.worker_of(payload, 3, True) == 0
    assert run_bpf(steering.program(3, True), payload) == 0


def test_random_datagrams_agree() -> None:
    for n in range(3000):
        payload = os.urandom(n % 40)
        if n % 3 == 0:
            payload = bytes(4) + payload
        for nat_t in (False, True):
            assert run_bpf(steering.program(5, nat_t), payload) == \
                steering.worker_of(payload, 5, nat_t)


@pytest.mark.parametrize("workers", [1, 2, 3, 64])
def test_own_spi_steers_to_its_worker(workers: int) -> None:
    for index in range(workers):
        for random8 in (os.urandom(8), b"\xff" * 8, bytes(8)):
            spi = steering.own_spi(random8, index, workers)
            assert len(spi) == 8 and spi[:4] == random8[:4]
            as_initiator = header(spi, bytes(8), 0x20, 34, 0x08)
            as_responder = header(os.urandom(8), spi, 0x20, 35, 0x08)
            for datagram in (as_initiator, as_responder):
                assert steering.worker_of(datagram, workers, False) == index


def test_pack_is_struct_sock_filter() -> None:
    packed = steering.pack([Insn(steering.RET_K, 1, 2, 0x01020304)])
    assert packed == bytes.fromhex("0600") + b"\x01\x02" + struct.pack("=I", 0x01020304)
