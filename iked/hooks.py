"""Hook scripts (doc/iked.md, "Hook scripts"): what runs, with which arguments and environment.

A hook runs as ``execve(path, [path, EVENT], ENV)`` where EVENT is the canonical name and ENV
holds only the variables below (no PATH, no HOME), exactly as the original set them, so existing
scripts keep working.  Pure: :mod:`iked.hookrunner` runs them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field

from racoon2.config.model import ScriptType
from racoon2.frozen import frozen
from racoon2.net import Address


@frozen
class Hook:
    """One script run: ``argv`` and the complete environment."""

    path: str
    event: ScriptType
    env: tuple[tuple[str, str], ...]

    @property
    def argv(self) -> list[str]:
        """``[path, EVENT]``."""
        return [self.path, self.event.value]


def phase1_env(local: Address, local_port: int, remote: Address | None,
               remote_port: int | None, key_exchanges: Sequence[str] = (),
               leases: Sequence[Address] = (), ppk: str | None = None
               ) -> list[tuple[str, str]]:
    """phase1_up/down/rekey: the IKE SA's endpoints (IKEv1 may not know the remote one), and
    (extensions) the key exchanges its keys came from, space-separated, the PPK_ID of the
    RFC 8784 PPK mixed into them, and the addresses the peer was leased, as phase2's
    ``INTERNAL4_ADDR``/``INTERNAL6_ADDR`` (a gateway learns its client's addresses with the
    IKE SA, before any CHILD_SA is up)."""
    env = [("LOCAL_ADDR", str(local)), ("LOCAL_PORT", str(local_port))]
    if remote is not None and remote_port is not None:
        env += [("REMOTE_ADDR", str(remote)), ("REMOTE_PORT", str(remote_port))]
    if key_exchanges:
        env.append(("KEY_EXCHANGES", " ".join(key_exchanges)))
    if ppk is not None:
        env.append(("PPK_ID", ppk))
    return env + _lease_env(leases)


def _lease_env(leases: Sequence[Address]) -> list[tuple[str, str]]:
    """The responder's leases (the original's names): the first of each family, and
    ``INTERNAL_ADDR`` when there is exactly one."""
    env = []
    v4 = [a for a in leases if a.version == 4]
    v6 = [a for a in leases if a.version == 6]
    if v4:
        env.append(("INTERNAL4_ADDR", str(v4[0])))
    if v6:
        env.append(("INTERNAL6_ADDR", str(v6[0])))
    if len(leases) == 1:
        env.append(("INTERNAL_ADDR", str(leases[0])))
    return env


@frozen
class Net:
    """First negotiated traffic selector of one side: address, prefix length, port (0 any)."""

    addr: Address
    prefixlen: int
    port: int = 0


@frozen
class CfgReply:
    """What an initiator received in CFG_REPLY (lists are space-separated in the env)."""

    addr4: Address | None = None
    dns4: Sequence[Address] = ()
    wins4: Sequence[Address] = ()
    dhcp4: Sequence[Address] = ()
    addr6: Address | None = None
    dns6: Sequence[Address] = ()
    dhcp6: Sequence[Address] = ()
    application_version: str = ""


@frozen
class ChildEvent:
    """Everything a phase2_* hook reports about one CHILD SA."""

    local_addr: Address
    remote_addr: Address
    selector: str
    tunnel: bool
    local_net: Net | None
    remote_net: Net | None
    upper_layer_protocol: int = 0
    selector2: str | None = None
    leases: Sequence[Address] = field(default_factory=tuple)
    cfg_reply: CfgReply | None = None
    #: A CREATE_CHILD_SA's PFS group and RFC 9370 additional key exchanges, by name.
    key_exchanges: Sequence[str] = ()


def _join(addrs: Sequence[Address]) -> str:
    return " ".join(str(a) for a in addrs)


def phase2_env(ev: ChildEvent) -> list[tuple[str, str]]:
    """phase2_up/down/rekey, in the original's order."""
    env = [("LOCAL_ADDR", str(ev.local_addr)), ("REMOTE_ADDR", str(ev.remote_addr)),
           ("SELECTOR_INDEX", ev.selector)]
    if ev.selector2 is not None:
        env.append(("SELECTOR2_INDEX", ev.selector2))
    env.append(("IPSEC_MODE", "tunnel" if ev.tunnel else "transport"))
    for side, net in (("LOCAL", ev.local_net), ("REMOTE", ev.remote_net)):
        if net is not None:
            env += [(f"{side}_NET_ADDR", str(net.addr)),
                    (f"{side}_NET_PREFIXLEN", str(net.prefixlen)),
                    (f"{side}_NET_PORT", str(net.port))]
    env.append(("UPPER_LAYER_PROTOCOL",
                "any" if ev.upper_layer_protocol in (0, 255) else str(ev.upper_layer_protocol)))
    env += _lease_env(ev.leases)
    if ev.cfg_reply is not None:
        r = ev.cfg_reply
        env += [("INTERNAL_ADDR4", str(r.addr4) if r.addr4 else ""),
                ("INTERNAL_DNS4", _join(r.dns4)), ("INTERNAL_WINS4", _join(r.wins4)),
                ("INTERNAL_DHCP4", _join(r.dhcp4)),
                ("INTERNAL_ADDR6", str(r.addr6) if r.addr6 else ""),
                ("INTERNAL_DNS6", _join(r.dns6)), ("INTERNAL_DHCP6", _join(r.dhcp6)),
                ("APPLICATION_VERSION", r.application_version)]
    if ev.key_exchanges:
        env.append(("KEY_EXCHANGES", " ".join(ev.key_exchanges)))  # an extension
    return env


def migration_env(old_src: Address, old_dst: Address, new_src: Address,
                  new_dst: Address) -> list[tuple[str, str]]:
    """migration: the old and new SA endpoints."""
    return [("OLD_SRC", str(old_src)), ("OLD_DST", str(old_dst)), ("NEW_SRC", str(new_src)),
            ("NEW_DST", str(new_dst))]
