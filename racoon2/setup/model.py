"""The validated setup: one typed, immutable description of the case, both ends named.

:func:`load` turns the YAML (through :mod:`racoon2.setup.validate`) into a :class:`Setup`
and does the checks the schema cannot express (address families that must agree, a pool
that runs backwards).  :meth:`Setup.mirrored` is the same case seen from the other end, so
both ends' configurations come from one set of answers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from typing import Any

from racoon2.errors import ConfigError
from racoon2.setup.validate import validate


@dataclass(frozen=True)
class Identity:
    """An IKE identity as racoon2.conf writes it: ``ipaddr``, ``fqdn`` or ``email``."""

    kind: str
    value: str

    @classmethod
    def of(cls, text: str) -> Identity:
        """The identity ``text`` names (the schema has checked its form)."""
        try:
            ipaddress.ip_address(text)
        except ValueError:
            return cls("email" if "@" in text else "fqdn", text)
        return cls("ipaddr", text)

    def conf(self) -> str:
        """The value of ``my_id``/``peers_id``."""
        return f'{self.kind} "{self.value}"'


@dataclass(frozen=True)
class Setup:
    """One case of doc/setup.md from this host's side.

    ``peer`` None is a peer at any address (IP_RW); ``local`` None is the address of a
    road-warrior client's ``interface`` (MY_IPV4%IFACE).  Empty ``local_nets`` means transport mode.
    """

    case: str
    name: str
    confdir: str
    run_dir: str
    auth: str
    local: str | None
    peer: str | None
    local_id: Identity | None
    peer_id: Identity | None
    local_nets: tuple[str, ...] = ()
    peer_nets: tuple[str, ...] = ()
    pool: tuple[str, str] | None = None
    dns: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()
    legacy_windows: bool = False
    local_principal: str | None = None
    peer_principal: str | None = None
    #: A client's interface (vpn-client: its own; vpn-server: its clients').
    interface: str | None = None

    @property
    def certificates(self) -> bool:
        """Authentication by certificates (else a pre-shared key, or EAP)."""
        return self.auth == "certificates"

    @property
    def eap(self) -> bool:
        """A VPN server's clients log in with EAP-MSCHAPv2 user names and passwords, after
        the server has proven itself with its certificate (RFC 7296 §2.16)."""
        return self.auth == "eap"

    @property
    def signed(self) -> bool:
        """This host has a certificate (and the setup a CA): certificates or EAP."""
        return self.certificates or self.eap

    @property
    def tunnel(self) -> bool:
        """ESP tunnel mode (else transport)."""
        return bool(self.local_nets or self.peer_nets)

    def pairs(self) -> list[tuple[str, str]]:
        """(local net, peer net) of each tunnel selector pair: every pair of one family."""
        return [(mine, theirs) for mine in self.local_nets for theirs in self.peer_nets
                if _family(mine) == _family(theirs)]

    def mirrored(self) -> Setup:
        """The same case configured on the other end (host-to-host, site-to-site, KINK)."""
        return replace(self, local=self.peer, peer=self.local, local_id=self.peer_id,
                       peer_id=self.local_id, local_nets=self.peer_nets,
                       peer_nets=self.local_nets, local_principal=self.peer_principal,
                       peer_principal=self.local_principal)

    def client(self, ident: str) -> Setup:
        """The vpn-client setup of client ``ident`` of this vpn-server: the bundle in
        clients/ID/ (its racoon2.conf, or with EAP only its swanctl.conf)."""
        return Setup(case="vpn-client", name="vpn", confdir=self.confdir, run_dir=self.run_dir,
                     auth=self.auth, local=None, peer=self.local, local_id=Identity.of(ident),
                     peer_id=self.local_id, peer_nets=self.local_nets,
                     interface=self.interface)


def _family(text: str) -> int:
    return ipaddress.ip_network(text, strict=False).version


def _ident(text: str | None) -> Identity | None:
    return None if text is None else Identity.of(text)


def load(text: str, file: str) -> Setup:
    """The :class:`Setup` of the YAML ``text``; raises ConfigError ``FILE:LINE: …``."""
    v, lines = validate(text, file)

    def fail(key: str, found: str, expected: str) -> ConfigError:
        return ConfigError(f"found {found}, expected {expected}", f"{file}:{lines[key]}")

    def same_family(key: str, values: list[str], wanted: int, like: str) -> None:
        for value in values:
            if _family(value) != wanted:
                raise fail(key, f"{value} (IPv{_family(value)})",
                           f"an IPv{wanted} address like {like}")

    case = v["case"]
    local: str | None = v.get("local")
    peer: str | None = v.get("peer", v.get("server"))
    if local is not None and peer is not None:
        same_family("peer" if "peer" in v else "server", [peer], _family(local), "local")
    common: dict[str, Any] = dict(case=case, name=v["name"], confdir=v["confdir"].rstrip("/"),
                                  run_dir=v["run_dir"].rstrip("/"), auth=v.get("auth", "psk"),
                                  local=local, peer=peer)
    if case in ("host-to-host", "site-to-site"):
        setup = Setup(**common, local_id=_ident(v.get("local_id", local)),
                      peer_id=_ident(v.get("peer_id", peer)),
                      local_nets=tuple(v.get("local_nets", ())),
                      peer_nets=tuple(v.get("peer_nets", ())))
        for key, nets, other in (("local_nets", setup.local_nets, setup.peer_nets),
                                 ("peer_nets", setup.peer_nets, setup.local_nets)):
            for net in nets:
                if not any(_family(net) == _family(o) for o in other):
                    raise fail(key, f"{net} (IPv{_family(net)})", "a network of the same "
                               "family on the other side to pair it with")
        return setup
    if case == "vpn-server":
        first, last = v["pool"]["first"], v["pool"]["last"]
        family = _family(first)
        same_family("pool", [last], family, "the pool's first")
        if int(ipaddress.ip_address(first)) > int(ipaddress.ip_address(last)):
            raise fail("pool", f"first {first} after last {last}", "first <= last")
        same_family("nets", v["nets"], family, "the pool's")
        if v.get("auth") == "eap" and not v.get("clients"):
            raise fail("auth", "auth: eap without 'clients'",
                       "the EAP user names in 'clients' (each is given a password)")
        return Setup(**{**common, "peer": None}, local_id=_ident(v.get("server_id", local)),
                     peer_id=None, local_nets=tuple(v["nets"]), peer_nets=(),
                     pool=(first, last), dns=tuple(v.get("dns", ())),
                     clients=tuple(v.get("clients", ())), interface=v["client_interface"],
                     legacy_windows=v["legacy_windows"])
    if case == "vpn-client":
        return Setup(**common, local_id=Identity.of(v["local_id"]),
                     peer_id=_ident(v.get("server_id", peer)),
                     local_nets=(), peer_nets=tuple(v["nets"]), interface=v["interface"])
    if case == "kink-host":
        return Setup(**common, local_id=None, peer_id=None,
                     local_principal=v["local_principal"], peer_principal=v["peer_principal"])
    return Setup(**{**common, "peer": None}, local_id=_ident(local), peer_id=None)
