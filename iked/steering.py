"""Which iked worker an IKE datagram belongs to (pure): the decision in Python, and the classic
BPF program that makes the same decision in the kernel for a SO_REUSEPORT socket group.

With ``iked -j N`` each of the N workers holds one socket of every endpoint's group, the
group's sockets in worker order, so the program's return value is the worker's index.  Every
message of an IKE SA must reach the worker that holds the SA, and the SPI this host chose for
it is the one an IKE header always carries that we control:

* IKEv2 (RFC 7296 §3.1): a message whose Initiator flag is set comes from the SA's original
  initiator, so the responder SPI is ours, except in an IKE_SA_INIT request where it is still
  zero; a message without the flag comes from the original responder, so the initiator SPI
  is ours.  An IKE SA rekeyed by the peer (§1.3.2) gets our new SPI as its responder SPI, so
  it stays with the worker of the old one.
* IKEv1 (RFC 2408 §3.1): the header has no such flag; the initiator cookie, which every
  message of an ISAKMP SA carries, decides.

The worker is the low 32 bits of that SPI modulo N.  A worker choosing an SPI (:func:`own_spi`)
sets those bits so that they name itself; a peer's random initiator SPI in an IKE_SA_INIT
request spreads new IKE SAs over the workers.  On port 4500 the IKE header follows the
4-octet non-ESP marker (RFC 3948 §2.2); NAT keepalives (one 0xff octet) and anything too short
to carry a header go to worker 0 (classic BPF ends a program that loads beyond the packet
with 0, and the Python decision does the same).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

NON_ESP_MARKER_LEN = 4
VERSION, EXCHANGE, FLAGS = 17, 18, 19  # octets of the IKE header
SPI_I_LOW, SPI_R_LOW = 4, 12  # the low 32 bits of each SPI
FLAG_INITIATOR = 0x08
IKE_SA_INIT = 34
MAX_WORKERS = 64


@dataclass(frozen=True, slots=True)
class Insn:
    """One classic BPF instruction (``struct sock_filter``)."""

    code: int
    jt: int = 0
    jf: int = 0
    k: int = 0


# Classic BPF opcodes (linux/filter.h, linux/bpf_common.h).
LD_W_ABS, LD_B_ABS = 0x20, 0x30
ALU_AND_K, ALU_MOD_K = 0x54, 0x94
JMP_JA, JMP_JEQ_K, JMP_JSET_K = 0x05, 0x15, 0x45
RET_K, RET_A = 0x06, 0x16


def worker_of(payload: bytes, workers: int, nat_t: bool) -> int:
    """The worker a UDP payload goes to (what :func:`program` returns for it); ``nat_t`` for
    the port 4500 sockets, whose IKE messages follow the non-ESP marker."""
    o = NON_ESP_MARKER_LEN if nat_t else 0
    n = len(payload)
    if nat_t and (n < NON_ESP_MARKER_LEN or any(payload[:NON_ESP_MARKER_LEN])):
        return 0
    if n <= o + VERSION:  # the program's first load is beyond the end
        return 0
    key = SPI_I_LOW
    if payload[o + VERSION] & 0xF0 == 0x20:
        if n <= o + FLAGS:
            return 0
        if payload[o + FLAGS] & FLAG_INITIATOR and payload[o + EXCHANGE] != IKE_SA_INIT:
            key = SPI_R_LOW
    return int.from_bytes(payload[o + key:o + key + 4], "big") % workers


def program(workers: int, nat_t: bool) -> list[Insn]:
    """The classic BPF program of :func:`worker_of` for ``workers`` workers."""
    o = NON_ESP_MARKER_LEN if nat_t else 0
    body = [
        Insn(LD_B_ABS, k=o + VERSION),
        Insn(ALU_AND_K, k=0xF0),
        Insn(JMP_JEQ_K, 0, 6, 0x20),           # not IKEv2: the initiator SPI (cookie)
        Insn(LD_B_ABS, k=o + FLAGS),
        Insn(JMP_JSET_K, 0, 4, FLAG_INITIATOR),  # from the original responder: SPI-I
        Insn(LD_B_ABS, k=o + EXCHANGE),
        Insn(JMP_JEQ_K, 2, 0, IKE_SA_INIT),    # its responder SPI is still zero: SPI-I
        Insn(LD_W_ABS, k=o + SPI_R_LOW),
        Insn(JMP_JA, k=1),
        Insn(LD_W_ABS, k=o + SPI_I_LOW),
        Insn(ALU_MOD_K, k=workers),
        Insn(RET_A),
    ]
    if not nat_t:
        return body
    # Not the non-ESP marker: a keepalive (or ESP the kernel did not take), any worker.
    return [Insn(LD_W_ABS, k=0), Insn(JMP_JEQ_K, 0, len(body), 0), *body, Insn(RET_K, k=0)]


def pack(insns: Sequence[Insn]) -> bytes:
    """The ``struct sock_filter`` array of ``insns``, as setsockopt takes it."""
    return b"".join(struct.pack("=HBBI", i.code, i.jt, i.jf, i.k) for i in insns)


def own_spi(random8: bytes, index: int, workers: int) -> bytes:
    """An SPI made from 8 random octets whose low 32 bits name worker ``index`` of
    ``workers``: the SPI a worker gives an IKE SA it creates."""
    if workers == 1:
        return random8
    low = int.from_bytes(random8[4:], "big")
    low = low - low % workers + index
    if low > 0xFFFFFFFF:
        low -= workers
    return random8[:4] + low.to_bytes(4, "big")
