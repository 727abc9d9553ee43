"""iked.cores.Cores: one shell-facing core, datagrams sorted by the header's major version."""

from __future__ import annotations

import asyncio
import ipaddress
from pathlib import Path

from iked.cores import Cores
from iked.events import ChildSaUp, Dropped, IkeSaUp
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.net import Endpoint

from .conf import ikev1_conf
from .harness import A, B


def test_versions_go_to_their_core_and_results_come_back(tmp_path: Path) -> None:
    cores = Cores(loads(ikev1_conf(tmp_path, A, B), f"{tmp_path}/racoon2.conf"),
                  DeterministicRng(b"c"), read_secret, 0.0)
    here = Endpoint(ipaddress.ip_address(A), 500)
    there = Endpoint(ipaddress.ip_address(B), 500)
    v2 = bytes(16) + bytes([33, 0x20, 34, 8]) + bytes(4) + (28).to_bytes(4, "big")
    v1 = bytes(16) + bytes([0, 0x10, 5, 0]) + bytes(4) + (28).to_bytes(4, "big")
    cores.receive_datagram(v2, here, there, 0.0)
    cores.receive_datagram(v1, here, there, 0.0)
    assert sum(cores.v2.dropped.values()) == 1 and sum(cores.v1.dropped.values()) == 1
    assert sum(cores.dropped.values()) == 2
    assert isinstance(cores.next_event(), Dropped) and isinstance(cores.next_event(), Dropped)


def test_a_pair_of_cores_negotiates_ikev1(tmp_path: Path) -> None:
    # The remote accepts ikev1 only: the initiation is IKEv1's; its kernel requests come out
    # renumbered and their results find the IKEv1 core again.
    sides = {addr: (Cores(loads(ikev1_conf(tmp_path / addr, addr, peer), "x.conf"),
                          DeterministicRng(addr.encode()), read_secret, 0.0),
                    MemoryBackend(seed=n))
             for n, (addr, peer) in enumerate(((A, B), (B, A)))}
    sides[A][0].initiate("sel_out", 0.0)

    async def run() -> None:
        busy = True
        while busy:
            busy = False
            for cores, kernel in sides.values():
                for req in cores.requests():
                    busy = True
                    cores.reply(req.id, await api.perform(kernel, req.op), 0.0)  # type: ignore[arg-type]
                for d in cores.datagrams_to_send():
                    busy = True
                    assert d.data[17] == 0x10  # ISAKMP 1.0
                    sides[str(d.remote.addr)][0].receive_datagram(d.data, d.remote, d.local,
                                                                   0.0)

    asyncio.run(run())
    for cores, _ in sides.values():
        events = []
        while (e := cores.next_event()) is not None:
            events.append(e)
        assert [type(e) for e in events if isinstance(e, IkeSaUp | ChildSaUp)] == [
            IkeSaUp, ChildSaUp], events
        assert len(cores.sas) == 1


def test_the_ikev1_core_is_made_only_when_needed(tmp_path: Path) -> None:
    # A configuration accepting no IKEv1 starts without the IKEv1 core (its import is start-up
    # time): the status shows no ISAKMP SA all the same, and an IKEv1 datagram makes the core.
    text = ikev1_conf(tmp_path, A, B).replace("acceptable_kmp { ikev1; }", "acceptable_kmp "
                                              "{ ikev2; }")
    cores = Cores(loads(text, f"{tmp_path}/racoon2.conf"), DeterministicRng(b"c"), read_secret,
                  0.0)
    assert cores._v1 is None and cores.status()["isakmp_sas"] == []
    cores.tracing = True
    v1 = bytes(16) + bytes([0, 0x10, 5, 0]) + bytes(4) + (28).to_bytes(4, "big")
    cores.receive_datagram(v1, Endpoint(ipaddress.ip_address(A), 500),
                           Endpoint(ipaddress.ip_address(B), 500), 0.0)
    assert cores._v1 is not None and cores._v1.tracing
    assert sum(cores.dropped.values()) == 1
    accepting = Cores(loads(ikev1_conf(tmp_path, A, B), f"{tmp_path}/racoon2.conf"),
                      DeterministicRng(b"c"), read_secret, 0.0)
    assert accepting._v1 is not None
