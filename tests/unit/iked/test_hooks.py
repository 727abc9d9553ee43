"""Hook scripts: argv, the exact environment, ordered execution of real scripts."""

from __future__ import annotations

import asyncio
import ipaddress
import os
from pathlib import Path

from iked.hookrunner import HookRunner
from iked.hooks import (
    CfgReply,
    ChildEvent,
    Hook,
    Net,
    migration_env,
    phase1_env,
    phase2_env,
)
from racoon2.config.model import ScriptType

ip = ipaddress.ip_address


def test_phase1_env() -> None:
    assert phase1_env(ip("192.0.2.1"), 500, ip("192.0.2.2"), 4500) == [
        ("LOCAL_ADDR", "192.0.2.1"), ("LOCAL_PORT", "500"), ("REMOTE_ADDR", "192.0.2.2"),
        ("REMOTE_PORT", "4500")]
    assert phase1_env(ip("192.0.2.1"), 500, None, None) == [
        ("LOCAL_ADDR", "192.0.2.1"), ("LOCAL_PORT", "500")]
    # The extension: which key exchanges made the IKE SA's keys (RFC 9370).
    assert phase1_env(ip("192.0.2.1"), 500, ip("192.0.2.2"), 4500,
                      ("CURVE25519", "ML_KEM_768"))[-1] == ("KEY_EXCHANGES",
                                                            "CURVE25519 ML_KEM_768")
    # The extension: a gateway's client leases, with phase2's names.
    assert phase1_env(ip("192.0.2.1"), 4500, ip("192.0.2.2"), 4500,
                      leases=(ip("198.51.100.10"), ip("2001:db8:1::10")))[-2:] == [
        ("INTERNAL4_ADDR", "198.51.100.10"), ("INTERNAL6_ADDR", "2001:db8:1::10")]
    assert phase1_env(ip("192.0.2.1"), 4500, ip("192.0.2.2"), 4500,
                      leases=(ip("2001:db8:1::10"),))[-2:] == [
        ("INTERNAL6_ADDR", "2001:db8:1::10"), ("INTERNAL_ADDR", "2001:db8:1::10")]
    # ... and the PPK_ID of an RFC 8784 PPK mixed into them, only when there was one.
    assert phase1_env(ip("192.0.2.1"), 500, ip("192.0.2.2"), 4500, ("CURVE25519",),
                      ppk="gw-ppk-1")[-2:] == [("KEY_EXCHANGES", "CURVE25519"),
                                           ("PPK_ID", "gw-ppk-1")]
    assert "PPK_ID" not in dict(phase1_env(ip("192.0.2.1"), 500, ip("192.0.2.2"), 4500))


def test_phase2_env_key_exchanges() -> None:
    """A CHILD_SA of a CREATE_CHILD_SA with PFS and RFC 9370 additional key exchanges."""
    ev = ChildEvent(ip("192.0.2.1"), ip("192.0.2.2"), "out", True, None, None, 0,
                    key_exchanges=("CURVE25519", "ML_KEM_768"))
    assert phase2_env(ev)[-1] == ("KEY_EXCHANGES", "CURVE25519 ML_KEM_768")
    assert "KEY_EXCHANGES" not in dict(phase2_env(ChildEvent(
        ip("192.0.2.1"), ip("192.0.2.2"), "out", True, None, None, 0)))


def test_phase2_env_responder_with_lease() -> None:
    ev = ChildEvent(ip("203.0.113.1"), ip("198.51.100.7"), "rw_out", True,
                    Net(ip("192.0.2.0"), 24), Net(ip("198.51.100.10"), 32), 0,
                    selector2="rw_in", leases=(ip("198.51.100.10"),))
    assert [k for k, _ in phase2_env(ev)] == [
        "LOCAL_ADDR", "REMOTE_ADDR", "SELECTOR_INDEX", "SELECTOR2_INDEX", "IPSEC_MODE",
        "LOCAL_NET_ADDR", "LOCAL_NET_PREFIXLEN", "LOCAL_NET_PORT", "REMOTE_NET_ADDR",
        "REMOTE_NET_PREFIXLEN", "REMOTE_NET_PORT", "UPPER_LAYER_PROTOCOL", "INTERNAL4_ADDR",
        "INTERNAL_ADDR"]
    assert dict(phase2_env(ev))["UPPER_LAYER_PROTOCOL"] == "any"


def test_phase2_env_initiator_cfg_reply() -> None:
    ev = ChildEvent(ip("198.51.100.7"), ip("203.0.113.1"), "c", False, None, None, 17,
                    cfg_reply=CfgReply(addr4=ip("198.51.100.10"),
                                       dns4=(ip("192.0.2.53"), ip("192.0.2.54"))))
    env = dict(phase2_env(ev))
    assert env["IPSEC_MODE"] == "transport" and env["UPPER_LAYER_PROTOCOL"] == "17"
    assert env["INTERNAL_DNS4"] == "192.0.2.53 192.0.2.54" and env["INTERNAL_ADDR6"] == ""
    assert "LOCAL_NET_ADDR" not in env


def test_migration_env() -> None:
    assert [k for k, _ in migration_env(ip("192.0.2.1"), ip("192.0.2.2"), ip("192.0.2.3"),
                                        ip("192.0.2.4"))] == [
        "OLD_SRC", "OLD_DST", "NEW_SRC", "NEW_DST"]


def test_runner_runs_in_order_with_only_the_given_environment(tmp_path: Path) -> None:
    out = tmp_path / "out"
    script = tmp_path / "hook"
    script.write_text(f"#!/bin/sh\necho \"$1 $LOCAL_ADDR HOME=${{HOME-unset}}\" >> {out}\n"
                      "sleep 0.05\n")
    os.chmod(script, 0o755)

    async def go() -> None:
        runner = HookRunner()
        for n in range(3):
            runner.submit(Hook(str(script), ScriptType.PHASE1_UP,
                               (("LOCAL_ADDR", f"192.0.2.{n}"),)))
        await runner.drain()
        missing = await runner.run(Hook(str(tmp_path / "nope"), ScriptType.PHASE1_DOWN, ()))
        assert missing is None
        await runner.close()

    asyncio.run(go())
    assert out.read_text().splitlines() == [
        f"phase1_up 192.0.2.{n} HOME=unset" for n in range(3)]
