"""iked -j N's UDP sockets: per endpoint a SO_REUSEPORT group of N sockets, one per worker.

The coordinator binds them, in worker order, so that a socket's place in the kernel's group is
its worker's index, and attaches :func:`iked.steering.program` to the group once, through its
first socket.  It keeps every socket open while it runs (a worker that ends does not shift the
others' places; its successor gets the same sockets) and hands each worker its own.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from collections.abc import Callable

from iked import steering
from iked.ikev2.sa import NAT_T_PORT
from racoon2 import udp
from racoon2.kernel import api
from racoon2.net import Endpoint

SO_ATTACH_REUSEPORT_CBPF = 51  # asm-generic/socket.h


def attach(sock: socket.socket, insns: list[steering.Insn]) -> None:
    """Attach a classic BPF program to ``sock``'s reuseport group (``struct sock_fprog``)."""
    code = ctypes.create_string_buffer(steering.pack(insns))
    fprog = struct.pack("HL", len(insns), ctypes.addressof(code))  # native: u16, padding, ptr
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def _reuse_port(prepare: Callable[[socket.socket], None] | None
                ) -> Callable[[socket.socket], None]:
    def both(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if prepare is not None:
            prepare(sock)
    return both


class Groups(udp.Sockets):
    """The coordinator's socket groups, one per endpoint, kept in step with the addresses as
    :class:`racoon2.udp.Sockets` keeps one socket per endpoint; none is read here."""

    def __init__(self, workers: int, owner: api.Owner | None,
                 prepare: Callable[[Endpoint], Callable[[socket.socket], None] | None]) -> None:
        super().__init__(lambda data, local, remote: None, owner, prepare)
        self.workers = workers
        self.groups: dict[Endpoint, list[socket.socket]] = {}

    async def _open(self, ep: Endpoint) -> None:
        prepare = _reuse_port(self.prepare(ep))
        group: list[socket.socket] = []
        try:
            for _ in range(self.workers):
                group.append(udp.bound_socket(ep, owner=self.owner, prepare=prepare))
            attach(group[0], steering.program(self.workers, ep.port == NAT_T_PORT))
        except BaseException:
            for sock in group:
                sock.close()
            raise
        self.groups[ep.unscoped] = group

    def _close(self, key: Endpoint) -> None:
        for sock in self.groups.pop(key):
            sock.close()
