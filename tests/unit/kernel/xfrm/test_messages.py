"""XFRM message layouts: known bytes from linux/xfrm.h, round trips, hostile input."""

from __future__ import annotations

import ipaddress
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.xfrm import messages as m

net = ipaddress.ip_network
ip = ipaddress.ip_address


def test_selector_bytes() -> None:
    raw = m.pack_selector(api.Selector(net("192.0.2.1/32"), net("192.0.2.2/32"), 17, 0, 500))
    assert raw.hex() == (
        "c0000202" + "00" * 12      # daddr
        + "c0000201" + "00" * 12    # saddr
        + "01f4" + "ffff"           # dport (network order), dport_mask
        + "0000" + "0000"           # sport, sport_mask
        + "0200"                    # family AF_INET (host order)
        + "20" + "20" + "11"        # prefixlen_d, prefixlen_s, proto
        + "000000"                  # padding
        + "00000000" + "00000000")  # ifindex, user


def test_template_bytes() -> None:
    t = api.Template(api.Proto.ESP, api.Mode.TUNNEL, ip("198.51.100.1"), ip("203.0.113.1"), 5,
                     api.Level.USE)
    raw = m.pack_template(t, 2)
    assert raw.hex() == (
        "cb007101" + "00" * 12 + "00000000" + "32" + "000000"   # id: daddr, spi, proto, pad
        + "0200" + "0000"                                       # family, pad
        + "c6336401" + "00" * 12                                # saddr
        + "05000000"                                            # reqid
        + "01" + "00" + "01" + "00"                             # mode, share, optional, pad
        + "ffffffff" * 3)                                       # aalgos, ealgos, calgos


def test_policy_message_layout() -> None:
    sp = api.PolicySpec(api.Selector(net("10.0.0.0/8"), net("192.0.2.0/24")),
                        api.Direction.FORWARD, api.Owner.SPMD, api.Verdict.BLOCK, priority=7)
    raw = m.pack_policy(sp)
    assert len(raw) == 168
    prio, index, direction, action = struct.unpack_from("=IIBB", raw, 152)
    assert (prio, index, direction, action) == (0x52010007, 0, 2, 1)
    assert raw[56:64] == b"\xff" * 8  # soft byte limit: XFRM_INF
    assert raw[96:104] == bytes(8)    # soft add expires: 0 (none)


def test_nlmsg_and_attr_framing() -> None:
    msg = m.nlmsg(m.NEWPOLICY, m.F_REQUEST | m.F_ACK, 7, b"abc")
    assert msg.hex() == "13000000" + "1300" + "0500" + "07000000" + "00000000" + "616263"
    assert m.attr(m.A_MARK, b"\x01\x02\x03\x04\x05").hex() == "0900" + "1500" + "0102030405" + \
        "000000"
    both = m.nlmsg(3, 0, 1, b"") + m.nlmsg(2, 0, 2, struct.pack("=i", -17) + bytes(16))
    done, err = list(m.split(both))
    assert done.type == m.NLMSG_DONE and m.error_code(err) == 17


def test_policy_round_trip() -> None:
    sp = api.PolicySpec(
        api.Selector(net("2001:db8:1::/48"), net("2001:db8:2::/48"), 58, 0x8000, 0),
        api.Direction.INBOUND, api.Owner.IKED, api.Verdict.ALLOW,
        (api.Template(api.Proto.IPCOMP, api.Mode.TUNNEL, ip("2001:db8::1"), ip("2001:db8::2"),
                      3, api.Level.USE),
         api.Template(api.Proto.ESP, api.Mode.TRANSPORT, None, None, 3, api.Level.UNIQUE)),
        priority=300, index=0, lifetime=api.Lifetime(hard_add_seconds=60),
        mark=api.Mark(5, 0xFF), if_id=9)
    info = m.unpack_policy(m.pack_policy(sp))
    assert info.spec == sp and info.owner is api.Owner.IKED
    assert info.kernel_priority == 0x5202012C


def test_sa_round_trip() -> None:
    sa = api.SaSpec(ip("198.51.100.1"), ip("203.0.113.1"), api.Proto.ESP, 0xC0FFEE,
                    api.Mode.TUNNEL, 12, aead=api.Aead("rfc4106(gcm(aes))", bytes(range(20)), 128),
                    encap=api.Encap(4500, 4500), lifetime=api.Lifetime(soft_bytes=10**9),
                    replay_window=64, esn=True, mark=api.Mark(1), if_id=4,
                    selector=api.Selector(net("192.0.2.0/25"), net("192.0.2.128/25")),
                    acquire_seq=77)
    assert m.unpack_sa(m.pack_sa(sa)).spec == sa
    cbc = api.SaSpec(ip("192.0.2.1"), ip("192.0.2.2"), api.Proto.ESP, 1,
                     cipher=api.Cipher("cbc(aes)", bytes(32)),
                     integrity=api.Integrity("hmac(sha256)", bytes(32), 128),
                     selector=api.Selector(net("192.0.2.1/32"), net("192.0.2.2/32")))
    assert m.unpack_sa(m.pack_sa(cbc)).spec == cbc


def test_migrate_round_trip() -> None:
    mig = api.Migration(api.Selector(net("192.0.2.0/25"), net("192.0.2.128/25")),
                        api.Direction.OUTBOUND, (api.MigrateEntry(
                            api.Proto.ESP, api.Mode.TUNNEL, 5, ip("198.51.100.1"),
                            ip("203.0.113.1"), ip("198.51.100.2"), ip("203.0.113.1")),))
    assert m.unpack_migrate(m.pack_migrate(mig)).migration == mig


@pytest.mark.parametrize("decoder", [m.unpack_acquire, m.unpack_expire, m.unpack_polexpire,
                                     m.unpack_mapping, m.unpack_migrate, m.unpack_sa,
                                     m.unpack_policy])
def test_truncated_messages_name_what_is_short(decoder: object) -> None:
    with pytest.raises(KernelError, match="bytes, expected at least"):
        decoder(b"\x00" * 10)  # type: ignore[operator]


def test_bad_lengths() -> None:
    with pytest.raises(KernelError, match="runs past"):
        list(m.split(m.NLMSGHDR.pack(40, m.NEWSA, 0, 1, 0) + bytes(4)))
    any4 = api.Selector(net("0.0.0.0/0"), net("0.0.0.0/0"))
    bad_attr = m.pack_policy(api.PolicySpec(any4, api.Direction.OUTBOUND, api.Owner.TESTS))
    bad_attr += b"\xff\x00\x05\x00"
    with pytest.raises(KernelError, match="attribute 5 of length 255"):
        m.unpack_policy(bad_attr)


@given(st.binary(max_size=600), st.sampled_from([m.ACQUIRE, m.EXPIRE, m.POLEXPIRE, m.MIGRATE,
                                                 m.MAPPING, m.NEWSA, m.NEWPOLICY]))
def test_hostile_payloads_raise_only_kernel_error(data: bytes, msg_type: int) -> None:
    try:
        if msg_type == m.NEWSA:
            m.unpack_sa(data)
        elif msg_type == m.NEWPOLICY:
            m.unpack_policy(data)
        else:
            m.unpack_event(m.Message(msg_type, 0, 0, data))
    except KernelError:
        pass


@given(st.binary(max_size=300))
def test_hostile_datagrams(data: bytes) -> None:
    try:
        for msg in m.split(data):
            m.unpack_event(msg)
    except KernelError:
        pass


def test_acquire_of_an_ipv4_flow_through_an_ipv6_tunnel() -> None:
    """The ACQUIRE's addresses are the template's (IPv6 tunnel ends), not the flow's family."""
    sp = api.PolicySpec(
        api.Selector(net("192.0.2.1/32"), net("192.0.2.129/32")), api.Direction.OUTBOUND,
        api.Owner.SPMD, api.Verdict.ALLOW,
        (api.Template(api.Proto.ESP, api.Mode.TUNNEL, ip("2001:db8:1::1"), ip("2001:db8:2::1"),
                      7),), index=0x10)
    policy = m.pack_policy(sp)
    xid = m.ID.pack(ip("2001:db8:2::1").packed, bytes(4), api.Proto.ESP)
    payload = (xid + ip("2001:db8:1::1").packed + policy[:m.SELECTOR.size] +
               policy[:m.USERPOLICY_INFO.size] + struct.pack("=4I", 0, 0, 0, 5) +
               policy[m.USERPOLICY_INFO.size:])
    acq = m.unpack_acquire(payload)
    assert (acq.src, acq.dst) == (ip("2001:db8:1::1"), ip("2001:db8:2::1")), acq
    assert acq.mode is api.Mode.TUNNEL and acq.reqid == 7 and acq.seq == 5


def test_tunnel_sa_without_a_selector_leaves_the_inner_family_open() -> None:
    """A tunnel SA may carry either family inside (an IPv4 network behind IPv6 gateways):
    XFRM_STATE_AF_UNSPEC and a selector of family 0, as strongSwan's kernel-netlink installs
    it, else the kernel takes the outer family for the inner packets' (linux/xfrm.h,
    net/xfrm/xfrm_user.c copy_from_user_state).  A transport SA's inner family is its own."""
    tunnel = api.SaSpec(ip("2001:db8:1::1"), ip("2001:db8:2::1"), api.Proto.ESP, 0x1234,
                        api.Mode.TUNNEL, 3, cipher=api.Cipher("cbc(aes)", bytes(16)),
                        integrity=api.Integrity("hmac(sha256)", bytes(32), 128))
    fields = m.USERSA_INFO.unpack_from(m.pack_sa(tunnel))
    assert m.SELECTOR.unpack(fields[0])[6] == 0 and fields[-1] & m.STATE_AF_UNSPEC
    assert m.unpack_sa(m.pack_sa(tunnel)).spec == tunnel
    transport = api.SaSpec(ip("2001:db8:1::1"), ip("2001:db8:2::1"), api.Proto.ESP, 0x1234,
                           api.Mode.TRANSPORT, 3, cipher=api.Cipher("cbc(aes)", bytes(16)))
    fields = m.USERSA_INFO.unpack_from(m.pack_sa(transport))
    assert m.SELECTOR.unpack(fields[0])[6] == 10 and not fields[-1] & m.STATE_AF_UNSPEC
