"""An IP_RW policy for a client with leases of both families (iked/ikev2/child.py): its
selectors narrowed to the leases, and spmd's POLICY ADD per family."""

from __future__ import annotations

import ipaddress

from iked.ikev2.child import rw_narrowed, rw_policies
from iked.ikev2.settings import ChildSettings
from iked.ikev2.ts import Ts

ip = ipaddress.ip_address


def test_a_dual_stack_client_gets_a_policy_pair_per_family() -> None:
    """spmif POLICY ADD for an IP_RW policy narrowed to an IPv4 and an IPv6 lease: one per
    family (the kernel's policies are of one family), the SA ends the IKE SA's."""
    any4, any6 = Ts(ip("0.0.0.0"), ip("255.255.255.255")), Ts(ip("::"), ip("ffff:" * 7 + "ffff"))
    lan4 = Ts(ip("198.51.100.16"), ip("198.51.100.31"))
    settings = ChildSettings("rw_out", "rw_out", 0, True, (lan4,), (any4, any6), None, None,
                             (), False, 3600, 0, rw=True)
    leased = rw_narrowed(settings, [ip("198.51.100.10"), ip("2001:db8:1::10")])
    assert [str(t) for t in leased.remote_ts] == ["198.51.100.10/32", "2001:db8:1::10/128"]
    # Only IPv4 on our side: one pair, for the IPv4 lease.
    assert [(str(src), str(dst)) for _, _, _, src, dst, _, _ in
            rw_policies(leased, ip("192.0.2.2"), ip("192.0.2.1"))] == [
        ("198.51.100.16/28", "198.51.100.10/32")]
    lan6 = Ts(ip("2001:db8:16::"), ip("2001:db8:16::ffff:ffff:ffff:ffff"))
    both = rw_narrowed(ChildSettings("rw_out", "rw_out", 0, True, (lan4, lan6), (any4, any6),
                                     None, None, (), False, 3600, 0, rw=True),
                       [ip("198.51.100.10"), ip("2001:db8:1::10")])
    assert [(str(src), str(dst), str(a), str(b)) for _, _, _, src, dst, a, b in
            rw_policies(both, ip("192.0.2.2"), ip("192.0.2.1"))] == [
        ("198.51.100.16/28", "198.51.100.10/32", "192.0.2.2", "192.0.2.1"),
        ("2001:db8:16::/64", "2001:db8:1::10/128", "192.0.2.2", "192.0.2.1")]
