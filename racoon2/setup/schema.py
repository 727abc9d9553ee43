"""The JSON schema of racoon2-setup's YAML (doc/setup.md), as data.

:data:`SCHEMA` is the one definition: :mod:`racoon2.setup.validate` checks a YAML document
against it with line numbers, ``racoon2-setup --schema`` prints it, and the shipped
``racoon2/setup/schema.json`` is its JSON text (tests/unit/setup/test_schema.py keeps them
equal).  The ``format`` values are this tool's own (JSON Schema allows that; a generic
validator ignores them): ``ip-address``, ``ip-prefix``, ``identity``, ``principal`` and
``conf-path`` (an absolute path racoon2.conf can quote).
"""

from __future__ import annotations

from typing import Any

CASES = ("host-to-host", "site-to-site", "vpn-server", "vpn-client", "kink-host", "l2tp-server")

_ADDRESS = {"type": "string", "format": "ip-address"}
_PREFIXES = {"type": "array", "items": {"type": "string", "format": "ip-prefix"},
             "minItems": 1, "maxItems": 16}
_NAME = {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,31}$", "default": "peer",
         "description": "the name of the remote block (letters, digits, _)"}
_AUTH = {"enum": ["psk", "certificates"], "default": "psk",
         "description": "psk: a pre-shared key; certificates: a small CA and host certificates"}
_SERVER_AUTH = {"enum": ["psk", "certificates", "eap"], "default": "psk",
                "description": "psk: a pre-shared key; certificates: a small CA, the server's "
                               "and each client's certificate; eap: the server's certificate "
                               "and a user name and password for each client (EAP-MSCHAPv2)"}
_INTERFACE = {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,15}$", "default": "eth0",
              "description": "the client's interface towards the server: its address is the "
                             "IKE and tunnel endpoint (MY_IPV4%IFACE), followed as it changes"}
_IDENTITY = {"type": "string", "format": "identity",
             "description": "an IP address, a DNS name or user@domain (default: the address)"}

_COMMON: dict[str, Any] = {
    "confdir": {"type": "string", "format": "conf-path", "default": "/usr/local/etc/racoon2",
                "description": "where racoon2.conf and its files live on this host"},
    "run_dir": {"type": "string", "format": "conf-path", "default": "/var/run/racoon2",
                "description": "the directory of spmd's control socket"},
}


def _case(case: str, description: str, required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "description": description,
        "type": "object",
        "required": ["case", *required],
        "additionalProperties": False,
        "properties": {"case": {"const": case}, **_COMMON, **properties},
    }


SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://github.com/racoon2/racoon2-python/racoon2/setup/schema.json",
    "title": "racoon2-setup",
    "description": "One common IPsec case, written as a few answers (doc/setup.md)",
    "type": "object",
    "required": ["case"],
    "properties": {"case": {"enum": list(CASES)}},
    "oneOf": [
        _case("host-to-host", "IKEv2 ESP transport mode between two hosts",
              ["local", "peer"], local=_ADDRESS, peer=_ADDRESS, auth=_AUTH, name=_NAME,
              local_id=_IDENTITY, peer_id=_IDENTITY),
        _case("site-to-site", "IKEv2 ESP tunnel between two gateways and their networks",
              ["local", "peer", "local_nets", "peer_nets"], local=_ADDRESS, peer=_ADDRESS,
              local_nets=_PREFIXES, peer_nets=_PREFIXES, auth=_AUTH, name=_NAME,
              local_id=_IDENTITY, peer_id=_IDENTITY),
        _case("vpn-server", "IKEv2 road-warrior server: clients get an address and DNS",
              ["local", "nets", "pool"], local=_ADDRESS, server_id=_IDENTITY, nets=_PREFIXES,
              pool={"type": "object", "required": ["first", "last"],
                    "additionalProperties": False,
                    "properties": {"first": _ADDRESS, "last": _ADDRESS},
                    "description": "the client addresses, first to last"},
              dns={"type": "array", "items": _ADDRESS, "minItems": 1, "maxItems": 4},
              auth=_SERVER_AUTH, name={**_NAME, "default": "roadwarriors"},
              clients={"type": "array", "minItems": 1, "maxItems": 64,
                       "items": {"type": "string", "format": "identity"},
                       "description": "client IDs (user@domain or DNS names); with "
                                      "certificates each gets a certificate bundle, with "
                                      "eap they are the user names, each given a password"},
              client_interface=_INTERFACE,
              legacy_windows={"type": "boolean", "default": False,
                              "description": "also accept MODP1024 and SHA-1 (Windows "
                                             "without its NegotiateDH2048_AES256 key)"}),
        _case("vpn-client", "IKEv2 road-warrior client of a VPN server",
              ["server", "local_id"], server=_ADDRESS, server_id=_IDENTITY,
              local={**_ADDRESS, "description": "this host's fixed address (else the "
                                                "interface's)"},
              interface=_INTERFACE,
              local_id=_IDENTITY, nets={**_PREFIXES, "default": ["0.0.0.0/0"]}, auth=_AUTH,
              name={**_NAME, "default": "vpn"}),
        _case("kink-host", "KINK (Kerberos) ESP transport mode between two hosts",
              ["local", "peer", "local_principal", "peer_principal"], local=_ADDRESS,
              peer=_ADDRESS, name=_NAME,
              local_principal={"type": "string", "format": "principal"},
              peer_principal={"type": "string", "format": "principal"}),
        _case("l2tp-server", "IKEv1 ESP transport mode for L2TP (UDP 1701) from any client",
              ["local"], local=_ADDRESS, name={**_NAME, "default": "l2tp"},
              auth={"const": "psk", "default": "psk",
                    "description": "IKEv1 clients here use a pre-shared key"}),
    ],
}
