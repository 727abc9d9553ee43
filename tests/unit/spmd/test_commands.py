"""spmif commands against spmd's state: replies and the kernel work they ask for."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from racoon2.config import load_config, loads
from racoon2.ipsec import Mode
from racoon2.kernel import api
from racoon2.spmif import commands as c
from spmd.commands import KernelWork, State
from spmd.policies import plan

ip = ipaddress.ip_address
net = ipaddress.ip_network
RW = (Path(__file__).resolve().parents[3] / "samples" / "roadwarrior-responder.conf").read_text()


def rw_state() -> State:
    return State(loads(RW.replace("/usr/local/etc/racoon2", "/nonexistent")))


def run(state: State, work: KernelWork) -> list[api.PolicyKey]:
    """Play the kernel: accept every op, hand out indexes like XFRM does (dir in low bits)."""
    keys = []
    for n, op in enumerate(work.ops, 1):
        if isinstance(op, api.UpdatePolicy):
            keys.append(api.PolicyKey(op.sp.direction, op.sp.selector, index=n * 8 +
                                      api.XFRM_DIRECTIONS[op.sp.direction]))
    state.commit(work, keys)
    return keys


def test_policy_add_installs_both_directions_and_fwd() -> None:
    state = rw_state()
    work = state.handle(c.PolicyAdd("rw_out", 3600, Mode.TUNNEL, net("192.0.2.0/24"),
                                    net("198.51.100.10/32"), ip("203.0.113.1"),
                                    ip("203.0.113.99")))
    assert isinstance(work, KernelWork)
    assert work.ok.lines == ("Policy Added rw_out and rw_in",)
    specs = [op.sp for op in work.ops if isinstance(op, api.UpdatePolicy)]
    assert [s.direction for s in specs] == [api.Direction.OUTBOUND, api.Direction.INBOUND,
                                            api.Direction.FORWARD]
    assert specs[0].selector.src == net("192.0.2.0/24")
    assert specs[1].selector.src == net("198.51.100.10/32")
    out_t, in_t = specs[0].templates[0], specs[1].templates[0]
    assert (out_t.src, out_t.dst) == (ip("203.0.113.1"), ip("203.0.113.99"))
    assert (in_t.src, in_t.dst) == (ip("203.0.113.99"), ip("203.0.113.1"))
    assert specs[0].lifetime.hard_add_seconds == 3600
    keys = run(state, work)
    dump = state.handle(c.PolicyDump())
    assert not isinstance(dump, KernelWork)
    assert dump.lines == tuple(f"{s} {k.index}" for s, k in zip(
        ["rw_out", "rw_in", "rw_in"], keys, strict=True))
    slid = state.handle(c.Slid(keys[1].index))
    assert not isinstance(slid, KernelWork) and slid.lines == ("rw_in",)

    delete = state.handle(c.PolicyDelete("rw_out", Mode.TUNNEL, net("192.0.2.0/24"),
                                         net("198.51.100.10/32")))
    assert isinstance(delete, KernelWork) and len(delete.ops) == 3
    state.commit(delete, [None] * 3)
    empty = state.handle(c.PolicyDump())
    assert not isinstance(empty, KernelWork) and empty.code == 251


def test_policy_add_errors() -> None:
    state = rw_state()
    add = c.PolicyAdd("nope", 0, Mode.TRANSPORT, net("192.0.2.1/32"), net("192.0.2.2/32"))
    r = state.handle(add)
    assert not isinstance(r, KernelWork) and r.lines == ("Operation Failed, selector not found",)
    lonely = State(loads("selector s { direction outbound; src 192.0.2.1; dst 192.0.2.2; "
                         "policy_index p; }; policy p { action auto_ipsec; };"))
    r = lonely.handle(c.PolicyAdd("s", 0, Mode.TRANSPORT, net("192.0.2.1/32"),
                                  net("192.0.2.2/32")))
    assert not isinstance(r, KernelWork)
    assert r.lines == ("Operation Failed, reverse selector not found",)
    same = State(loads("selector a { direction outbound; src 192.0.2.1; dst 192.0.2.2; "
                       "policy_index p; }; selector b { direction outbound; src 192.0.2.2; "
                       "dst 192.0.2.1; policy_index p; }; policy p { action auto_ipsec; };"))
    r = same.handle(c.PolicyAdd("a", 0, Mode.TRANSPORT, net("192.0.2.1/32"),
                                net("192.0.2.2/32")))
    assert not isinstance(r, KernelWork)
    assert r.lines == ("Operation Failed, found reverse selector is same direction",)
    r = state.handle(c.Slid(12345))
    assert not isinstance(r, KernelWork) and (r.code, r.lines) == (551, ("No Such SPID(12345)",))


def test_migrate_moves_tunnel_endpoints_both_ways() -> None:
    state = rw_state()
    run(state, state.handle(c.PolicyAdd(  # type: ignore[arg-type]
        "rw_out", 0, Mode.TUNNEL, net("192.0.2.0/24"), net("198.51.100.10/32"),
        ip("203.0.113.1"), ip("203.0.113.99"))))
    work = state.handle(c.Migrate("rw_out", ip("203.0.113.1"), ip("203.0.113.99"),
                                  ip("203.0.113.1"), ip("203.0.113.77")))
    assert isinstance(work, KernelWork) and work.ok.lines == ("Migrate rw_out",)
    moves = {(m.migration.direction, e.new_src, e.new_dst)
             for m in work.ops if isinstance(m, api.Migrate) for e in m.migration.entries}
    assert moves == {(api.Direction.OUTBOUND, ip("203.0.113.1"), ip("203.0.113.77")),
                     (api.Direction.INBOUND, ip("203.0.113.77"), ip("203.0.113.1")),
                     (api.Direction.FORWARD, ip("203.0.113.77"), ip("203.0.113.1"))}


def test_fqdn_and_ns_and_stat() -> None:
    state = rw_state()
    assert state.handle(c.FqdnAdd("peer.example.")).lines == ("FQDN Registered",)  # type: ignore
    assert state.handle(c.FqdnAdd("PEER.example")).lines == (  # type: ignore[union-attr]
        "FQDN Already Registered",)
    state.fqdn.update("peer.example", [ip("192.0.2.9")])
    assert state.handle(c.FqdnQuery(ip("192.0.2.9"))).lines == (  # type: ignore[union-attr]
        "peer.example.",)
    assert state.handle(c.FqdnQuery(ip("192.0.2.8"))).code == 501  # type: ignore[union-attr]
    assert state.handle(c.FqdnList()).lines == ("peer.example.",)  # type: ignore[union-attr]
    assert state.handle(c.FqdnDelete("peer.example")).code == 250  # type: ignore[union-attr]
    assert state.handle(c.NsList()).code == 251  # type: ignore[union-attr]
    assert state.handle(c.NsAdd(ip("192.0.2.53"))).lines == (  # type: ignore[union-attr]
        "Operation Failed(resolver off?)",)
    state.resolver.enabled = True
    state.handle(c.NsAdd(ip("192.0.2.53")))
    state.handle(c.NsAdd(ip("2001:db8::53")))
    assert state.handle(c.NsList()).lines == ("2001:db8::53",  # type: ignore[union-attr]
                                              "192.0.2.53")
    assert state.handle(c.NsChange(ip("192.0.2.53"))).code == 250  # type: ignore[union-attr]
    assert state.handle(c.NsDelete(ip("192.0.2.54"))).code == 551  # type: ignore[union-attr]
    stat = state.handle(c.Stat())
    assert not isinstance(stat, KernelWork) and len(stat.lines) == 9


def test_reverse_selector_is_found_in_a_loaded_file(tmp_path: Path) -> None:
    path = tmp_path / "rw.conf"
    path.write_text(RW)
    config = load_config(str(path))
    assert State(config).reverse_of(config.selectors[0]) is config.selectors[1]


MOBILE = """
remote gw { acceptable_kmp { ikev2; }; ikev2 { peers_ipaddr "198.51.100.2"; my_id ipaddr
    "192.0.2.1"; kmp_enc_alg { aes128_cbc; }; }; };
selector out { direction outbound; src "203.0.113.0/28"; dst "203.0.113.16/28";
    upper_layer_protocol any; policy_index pol; };
selector in { direction inbound; src "203.0.113.16/28"; dst "203.0.113.0/28";
    upper_layer_protocol any; policy_index pol; };
policy pol { action auto_ipsec; remote_index gw; ipsec_mode tunnel; ipsec_index { e; };
    my_sa_ipaddr MY_IPV4; peers_sa_ipaddr "198.51.100.2"; };
ipsec e { sa_index s; };
sa s { sa_protocol esp; esp_enc_alg { aes128_cbc; }; esp_auth_alg { hmac_sha2_256; }; };
"""


def test_migrate_of_a_wildcard_tunnel_end() -> None:
    """my_sa_ipaddr MY_IPV4 leaves the template's own end open (0.0.0.0): the kernel moves a
    template only by an entry naming exactly its ends (and answers ENODATA when none does),
    the SAs by their real ends, so each template gets both entries."""
    config = loads(MOBILE)
    state = State(config)
    for n, desired in enumerate(plan(config).policies, 1):
        state.record(desired, api.PolicyKey(desired.spec.direction, desired.spec.selector,
                                            index=n))
    work = state.handle(c.Migrate("out", ip("192.0.2.1"), ip("198.51.100.2"),
                                  ip("192.0.2.5"), ip("198.51.100.2")))
    assert isinstance(work, KernelWork)
    moves = {(m.migration.direction, str(e.old_src), str(e.old_dst), str(e.new_src),
              str(e.new_dst))
             for m in work.ops if isinstance(m, api.Migrate) for e in m.migration.entries}
    out, into, fwd = api.Direction.OUTBOUND, api.Direction.INBOUND, api.Direction.FORWARD
    assert moves == {
        (out, "0.0.0.0", "198.51.100.2", "192.0.2.5", "198.51.100.2"),
        (out, "192.0.2.1", "198.51.100.2", "192.0.2.5", "198.51.100.2"),
        *((d, "198.51.100.2", "0.0.0.0", "198.51.100.2", "192.0.2.5") for d in (into, fwd)),
        *((d, "198.51.100.2", "192.0.2.1", "198.51.100.2", "192.0.2.5") for d in (into, fwd))}
    # The table follows the kernel: the next move starts from the new ends, one entry each.
    state.commit(work, [None] * len(work.ops))
    again = state.handle(c.Migrate("out", ip("192.0.2.5"), ip("198.51.100.2"),
                                   ip("192.0.2.6"), ip("198.51.100.2")))
    assert isinstance(again, KernelWork)
    assert {(m.migration.direction, str(e.old_src), str(e.new_src))
            for m in again.ops if isinstance(m, api.Migrate) for e in m.migration.entries} == {
        (out, "192.0.2.5", "192.0.2.6"), (into, "198.51.100.2", "198.51.100.2"),
        (fwd, "198.51.100.2", "198.51.100.2")}
