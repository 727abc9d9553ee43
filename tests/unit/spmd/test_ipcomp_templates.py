"""spmd's templates for an ESP+IPComp bundle: IPComp innermost and in the tunnel mode, optional
inbound (RFC 3173 §2.2: packets compression would not shrink travel uncompressed)."""

from __future__ import annotations

from racoon2.config import loads
from racoon2.kernel import api
from spmd.policies import plan

TUNNEL = """
selector out { direction outbound; src 192.0.2.0/25; dst 192.0.2.128/25; policy_index t; };
selector in { direction inbound; src 192.0.2.128/25; dst 192.0.2.0/25; policy_index t; };
policy t { action auto_ipsec; ipsec_mode tunnel; ipsec_level require; ipsec_index i;
           my_sa_ipaddr 198.51.100.1; peers_sa_ipaddr 203.0.113.1; };
ipsec i { sa_index { e; c; }; }; sa e { sa_protocol esp; }; sa c { sa_protocol ipcomp; };
"""


def test_esp_ipcomp_tunnel_templates() -> None:
    by_dir = {d.spec.direction: d.spec.templates for d in plan(loads(TUNNEL)).policies}
    assert [(t.proto, t.mode, t.level) for t in by_dir[api.Direction.OUTBOUND]] == [
        (api.Proto.IPCOMP, api.Mode.TUNNEL, api.Level.REQUIRE),
        (api.Proto.ESP, api.Mode.TRANSPORT, api.Level.REQUIRE)]
    for direction in (api.Direction.INBOUND, api.Direction.FORWARD):
        assert [(t.proto, t.mode, t.level) for t in by_dir[direction]] == [
            (api.Proto.IPCOMP, api.Mode.TUNNEL, api.Level.USE),
            (api.Proto.ESP, api.Mode.TRANSPORT, api.Level.REQUIRE)]
