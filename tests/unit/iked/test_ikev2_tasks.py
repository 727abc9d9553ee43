"""The exchanges in progress are data: the status shows them, step by step, on both sides; the
SA's states change only as its table allows; the SA depends on no exchange module."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import iked.ikev2.sa
from iked.ikev2.common import State
from iked.ikev2.core import IkeCore
from racoon2.config import loads
from racoon2.config.files import read_secret
from racoon2.crypto.rng import DeterministicRng
from racoon2.kernel import api
from racoon2.kernel.memory import MemoryBackend
from racoon2.spmif.commands import PolicyAdd, PolicyDelete

SAMPLES = Path(__file__).resolve().parents[3] / "samples"


def core(tmp: Path, me: str, peer: str, seed: bytes) -> IkeCore:
    tmp.mkdir()
    text = (SAMPLES / "ikev2-transport.conf").read_text()
    text = text.replace('"/usr/local/etc/racoon2"', f'"{tmp}"')
    text = text.replace('"192.0.2.1"', '"@ME@"').replace('"192.0.2.2"', '"@PEER@"')
    text = text.replace("@ME@", me).replace("@PEER@", peer)
    (tmp / "psk").mkdir()
    (tmp / "psk" / "peer.psk").write_bytes(b"secret-psk")
    (tmp / "psk" / "peer.psk").chmod(0o600)
    return IkeCore(loads(text, f"{tmp}/racoon2.conf"), DeterministicRng(seed), read_secret, 0.0)


def deliver(src: IkeCore, dst: IkeCore) -> None:
    for d in src.datagrams_to_send():
        dst.receive_datagram(d.data, d.remote, d.local, 0.0)


def perform(side: IkeCore, kernel: MemoryBackend) -> None:
    async def run() -> None:
        for req in side.requests():
            assert not isinstance(req.op, PolicyAdd | PolicyDelete)
            side.reply(req.id, await api.perform(kernel, req.op), 0.0)
    asyncio.run(run())


def sa_status(side: IkeCore) -> dict[str, object]:
    sas = side.status()["ike_sas"]
    assert isinstance(sas, list) and len(sas) == 1 and isinstance(sas[0], dict)
    return sas[0]


def test_status_shows_the_exchanges_in_progress(tmp_path: Path) -> None:
    a = core(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a")
    b = core(tmp_path / "b", "192.0.2.2", "192.0.2.1", b"b")
    ka, kb = MemoryBackend(seed=1), MemoryBackend(seed=2)
    assert a.initiate("peer_out", 0.0) is not None
    assert sa_status(a)["exchanges"] == {"active": {
        "kind": "IKE_SA_INIT", "step": "request sent", "message_id": 0,
        "policy": "peer_transport"}}
    deliver(a, b)
    assert sa_status(b)["exchanges"] == {}  # IKE_SA_INIT answered at once
    deliver(b, a)
    # The answer came; IKE_AUTH waits for the kernel's inbound SPI.
    assert sa_status(a)["exchanges"] == {"preparing": {
        "kind": "IKE_AUTH", "step": "waiting for the kernel", "policy": "peer_transport"}}
    assert sa_status(a)["kernel_requests"] == ["1 AllocSpi"]
    perform(a, ka)
    assert sa_status(a)["exchanges"] == {"active": {
        "kind": "IKE_AUTH", "step": "request sent", "message_id": 1,
        "policy": "peer_transport"}}
    assert sa_status(a)["kernel_requests"] == []
    deliver(a, b)
    assert sa_status(b)["exchanges"] == {"passive": {
        "kind": "peer's request", "step": "waiting for the kernel", "exchange": "IKE_AUTH",
        "message_id": 1, "policy": "peer_transport"}}
    assert sa_status(b)["kernel_requests"] == ["1 AllocSpi"]
    perform(b, kb)
    perform(b, kb)  # the installs of the CHILD_SA
    assert sa_status(b)["exchanges"] == {} and sa_status(b)["state"] == "established"
    deliver(b, a)
    perform(a, ka)
    assert sa_status(a)["exchanges"] == {} and sa_status(a)["state"] == "established"


def test_a_state_change_outside_the_table_is_refused(tmp_path: Path) -> None:
    a = core(tmp_path / "a", "192.0.2.1", "192.0.2.2", b"a")
    sa = a.initiate("peer_out", 0.0)
    assert sa is not None and sa.state is State.INIT_SENT
    with pytest.raises(RuntimeError, match="IKE_SA_INIT sent -> deleting"):
        sa.move(State.DELETING)
    sa.move(State.AUTH_SENT)
    assert sa.state.value == "IKE_AUTH sent"


def test_the_sa_imports_no_exchange_module() -> None:
    """Exchange modules depend on the SA, never the reverse (the dispatch table joins them)."""
    tree = ast.parse(Path(iked.ikev2.sa.__file__).read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                and n.module == "iked.ikev2" for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                 and n.module is not None}
    exchanges = {"ike_init", "ike_auth", "create_child", "ike_rekey", "informational",
                 "dispatch"}
    assert not {m.rsplit(".", 1)[-1] for m in imported if m} & exchanges
