"""spmd's desired policy set from a configuration, and the reconcile diff."""

from __future__ import annotations

import ipaddress

from racoon2.config import loads
from racoon2.kernel import api
from spmd.policies import plan
from spmd.reconcile import diff

net = ipaddress.ip_network
TRANSPORT = """
selector out {{ direction outbound; src 192.0.2.1; dst 192.0.2.2 port 1701;
               upper_layer_protocol udp; policy_index p; reqid 5; }};
selector in {{ direction inbound; src 192.0.2.2 port 1701; dst 192.0.2.1;
              upper_layer_protocol udp; policy_index p; reqid 5; }};
policy p {{ action {action}; ipsec_mode transport; ipsec_level require; ipsec_index i; }};
ipsec i {{ sa_index {{ a; e; }}; }};
sa a {{ sa_protocol ah; }}; sa e {{ sa_protocol esp; }};
"""
TUNNEL = """
selector out { direction outbound; src 192.0.2.0/25; dst 192.0.2.128/25; policy_index t; };
selector in { direction inbound; src 192.0.2.128/25; dst 192.0.2.0/25; policy_index t; };
policy t { action auto_ipsec; ipsec_mode tunnel; ipsec_level unique; ipsec_index i;
           my_sa_ipaddr 198.51.100.1; peers_sa_ipaddr 203.0.113.1; };
ipsec i { sa_index e; }; sa e { sa_protocol esp; };
"""


def test_transport_policies_with_ports_protocol_and_bundle() -> None:
    p = plan(loads(TRANSPORT.format(action="auto_ipsec")))
    assert [d.selector for d in p.policies] == ["out", "in"]
    out, inb = (d.spec for d in p.policies)
    assert out.direction is api.Direction.OUTBOUND and inb.direction is api.Direction.INBOUND
    assert out.selector == api.Selector(net("192.0.2.1/32"), net("192.0.2.2/32"), 17, 0, 1701)
    assert inb.selector == api.Selector(net("192.0.2.2/32"), net("192.0.2.1/32"), 17, 1701, 0)
    assert [(t.proto, t.mode, t.reqid, t.level) for t in out.templates] == [
        (api.Proto.ESP, api.Mode.TRANSPORT, 5, api.Level.REQUIRE),
        (api.Proto.AH, api.Mode.TRANSPORT, 5, api.Level.REQUIRE)]
    assert out.owner is api.Owner.SPMD


def test_discard_and_bypass_have_no_templates() -> None:
    discard = plan(loads(TRANSPORT.format(action="discard"))).policies[0].spec
    assert discard.action is api.Verdict.BLOCK and discard.templates == ()
    bypass = plan(loads(TRANSPORT.format(action="bypass"))).policies[0].spec
    assert bypass.action is api.Verdict.ALLOW and bypass.templates == ()


def test_tunnel_inbound_gets_fwd_and_endpoints_swap() -> None:
    p = plan(loads(TUNNEL))
    dirs = [d.spec.direction for d in p.policies]
    assert dirs == [api.Direction.OUTBOUND, api.Direction.INBOUND, api.Direction.FORWARD]
    out_t = p.policies[0].spec.templates[0]
    in_t = p.policies[1].spec.templates[0]
    assert (str(out_t.src), str(out_t.dst), out_t.mode) == ("198.51.100.1", "203.0.113.1",
                                                            api.Mode.TUNNEL)
    assert (str(in_t.src), str(in_t.dst)) == ("203.0.113.1", "198.51.100.1")
    assert in_t.level is api.Level.UNIQUE
    assert len(plan(loads(TUNNEL), fwd=False).policies) == 2


def test_macros_fqdn_and_skips() -> None:
    text = TUNNEL.replace("src 192.0.2.0/25; dst 192.0.2.128/25", "src MY_IP; dst peer.example")
    local = {"MY_IP": [ipaddress.ip_address("192.0.2.7"), ipaddress.ip_address("2001:db8::7")]}
    p = plan(loads(text), lambda m, i: local[m], lambda name: None)
    assert p.pending_fqdn == {"peer.example"} and [d.selector for d in p.policies] == [
        "in", "in"]
    p = plan(loads(text), lambda m, i: local[m],
             lambda name: [ipaddress.ip_address("2001:db8::9")])
    out = [d.spec.selector for d in p.policies if d.spec.direction is api.Direction.OUTBOUND]
    assert out == [api.Selector(net("2001:db8::7/128"), net("2001:db8::9/128"))]
    rw = plan(loads(TUNNEL.replace("peers_sa_ipaddr 203.0.113.1", "peers_sa_ipaddr IP_RW")))
    assert rw.policies == [] and rw.skipped[0] == ("out",
                                                   "tunnel to IP_RW: installed when iked asks")
    off = plan(loads(TUNNEL.replace("action auto_ipsec;", "action auto_ipsec; install off;")))
    assert off.policies == []


def test_more_specific_selectors_get_lower_priority_values() -> None:
    p = plan(loads(TRANSPORT.format(action="auto_ipsec") + TUNNEL.replace("selector out",
             "selector out2").replace("selector in", "selector in2")))
    transport = p.policies[0].spec.priority
    tunnel = p.policies[2].spec.priority
    assert transport < tunnel


def info(spec: api.PolicySpec, owner: api.Owner | None = api.Owner.SPMD,
         index: int = 8) -> api.PolicyInfo:
    return api.PolicyInfo(spec, index, owner, 0)


def test_reconcile_adds_updates_deletes_only_own() -> None:
    want = [d.spec for d in plan(loads(TUNNEL)).policies]
    changed = api.PolicySpec(want[0].selector, want[0].direction, api.Owner.SPMD,
                             api.Verdict.BLOCK, (), want[0].priority)
    stale = api.PolicySpec(api.Selector(net("198.51.100.0/24"), net("203.0.113.0/24")),
                           api.Direction.OUTBOUND, api.Owner.SPMD)
    foreign = api.PolicySpec(api.Selector(net("192.0.2.0/24"), net("192.0.2.0/24")),
                             api.Direction.OUTBOUND, api.Owner.SPMD)
    installed = [info(changed), info(want[1]), info(stale, index=16),
                 info(foreign, owner=None), info(want[2], owner=api.Owner.IKED)]
    changes = diff(want, installed)
    assert changes.add == [want[2]]
    assert changes.update == [want[0]]
    assert changes.delete == [info(stale, index=16).key]
    assert not diff(want, [info(s) for s in want])
