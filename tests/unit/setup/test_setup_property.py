"""Property: every YAML the schema accepts yields racoon2.conf files the daemons' checks accept:
this side's, the other end's (mirrored) and each VPN client bundle's (clients/ID/).

Documents are drawn from the schema's own branches: every property of a case, present or left
out, with addresses of either family (at most 2,000 examples, see below).  Answers whose
address families disagree are refused by racoon2.setup.model with FILE:LINE (the one rule the
schema cannot say, doc/setup.md), so the strategy keeps each document's families consistent.
"""
from __future__ import annotations

import ipaddress

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.setup.conf import render
from racoon2.setup.model import load
from racoon2.setup.schema import CASES, SCHEMA

V4 = ipaddress.ip_network("198.51.100.0/24")
V6 = ipaddress.ip_network("2001:db8::/32")


def address(family: int) -> st.SearchStrategy[str]:
    net = V4 if family == 4 else V6
    return st.integers(1, 200).map(lambda i: str(net[i]))


def prefix(family: int) -> st.SearchStrategy[str]:
    if family == 4:
        return st.sampled_from(["192.0.2.0/24", "198.51.100.0/28", "198.51.100.16/28",
                                "203.0.113.0/25", "0.0.0.0/0"])
    return st.sampled_from(["2001:db8:1::/64", "2001:db8:2::/48", "2001:db8::/32", "::/0"])


def identity(family: int) -> st.SearchStrategy[str]:
    return st.one_of(address(family), st.sampled_from(["gw.example.net", "vpn.example.org.",
                                                       "alice@example.net", "h-1.example"]))


NAME = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_]{0,12}\Z")
IFACE = st.from_regex(r"\A[A-Za-z0-9_.-]{1,15}\Z")
PRINCIPAL = st.sampled_from(["kink/a.example.com@EXAMPLE.COM", "host/b@EXAMPLE.ORG"])


@st.composite
def document(draw: st.DrawFn) -> dict[str, object]:
    case = draw(st.sampled_from(CASES))
    family = draw(st.sampled_from([4, 6]))
    inner = draw(st.sampled_from([4, 6]))
    branch = next(b for b in SCHEMA["oneOf"] if b["properties"]["case"]["const"] == case)
    values: dict[str, st.SearchStrategy[object]] = {
        "local": address(family), "peer": address(family), "server": address(family),
        "auth": st.sampled_from(branch["properties"]["auth"].get("enum", ["psk"])
                                if "auth" in branch["properties"] else ["psk"]),
        "name": NAME, "local_id": identity(family), "peer_id": identity(family),
        "server_id": identity(family),
        "local_nets": st.lists(prefix(inner), min_size=1, max_size=3, unique=True),
        "peer_nets": st.lists(prefix(inner), min_size=1, max_size=3, unique=True),
        "nets": st.lists(prefix(family if case == "vpn-server" else inner), min_size=1,
                         max_size=3, unique=True),
        "dns": st.lists(address(family), min_size=1, max_size=4),
        "clients": st.lists(identity(family), min_size=1, max_size=3),
        "legacy_windows": st.booleans(),
        "interface": IFACE, "client_interface": IFACE,
        "local_principal": PRINCIPAL, "peer_principal": PRINCIPAL,
        "confdir": st.sampled_from(["/usr/local/etc/racoon2", "/etc/racoon2/"]),
        "run_dir": st.sampled_from(["/var/run/racoon2", "/run/r2"]),
    }
    doc: dict[str, object] = {"case": case}
    for key in branch["properties"]:
        if key == "case":
            continue
        if key == "pool":
            a, b = sorted(draw(st.lists(st.integers(1, 250), min_size=2, max_size=2)))
            net = V4 if family == 4 else V6
            doc[key] = {"first": str(net[a]), "last": str(net[b])}
        elif key in branch["required"] or draw(st.booleans()):
            doc[key] = draw(values[key])
    if doc.get("auth") == "eap" and "clients" not in doc:
        doc["clients"] = draw(values["clients"])  # the users: model.load requires them
    return doc


# Each example builds and checks up to four configurations with two daemons (~6 ms for two):
# the CI profile's 10,000 took 60-140 s here; 2,000 (about 15 s) still draw every case with
# every optional answer present and absent hundreds of times.
@settings(max_examples=min(settings.default.max_examples, 2000))
@given(document())
def test_every_schema_valid_answer_yields_a_config_the_checks_accept(doc: dict[str, object]
                                                                     ) -> None:
    text = yaml.dump(doc, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper))
    setup = load(text, "drawn.yaml")  # validates against the schema first
    sides = [setup, setup.mirrored()] if setup.case in ("host-to-host", "site-to-site",
                                                        "kink-host") else [setup]
    if setup.case == "vpn-server" and not setup.eap:
        # Each client bundle's racoon2.conf, built as racoon2.setup.writer.plan builds it
        # (EAP bundles have none: iked is no EAP client).
        sides += [setup.client(client) for client in setup.clients]
    for side in sides:
        config = loads(render(side), "generated.conf")
        for daemon in ("kinkd", "spmd") if side.case == "kink-host" else ("iked", "spmd"):
            check_config(config, daemon)  # raises ConfigError on a refusal
