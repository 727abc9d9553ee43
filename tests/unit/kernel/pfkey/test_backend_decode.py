"""PF_KEY backend pieces that need no AF_KEY socket: message building and hostile replies."""

from __future__ import annotations

import dataclasses
import errno
import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.pfkey import codec as c
from racoon2.kernel.pfkey.backend import (
    decode_reply,
    policy_from,
    policy_message,
    sa_from,
    sa_message,
)
from racoon2.kernel.pfkey.constants import MsgType

ip = ipaddress.ip_address
net = ipaddress.ip_network


def test_truncated_reply_names_the_message() -> None:
    good = sa_message(MsgType.ADD, api.SaSpec(ip("192.0.2.1"), ip("192.0.2.2"), api.Proto.ESP,
                                              1, cipher=api.Cipher("cbc(aes)", bytes(16)))
                      ).encode()
    assert decode_reply(good).msg_type == MsgType.ADD
    with pytest.raises(KernelError, match="^decode SADB_ADD"):
        decode_reply(good[:-8])


@given(st.binary(max_size=200))
def test_hostile_replies_raise_only_kernel_error(data: bytes) -> None:
    try:
        decode_reply(data)
    except KernelError:
        pass


def test_what_pfkey_cannot_say_is_refused() -> None:
    sha256 = api.SaSpec(ip("192.0.2.1"), ip("192.0.2.2"), api.Proto.ESP, 1,
                        cipher=api.Cipher("cbc(aes)", bytes(16)),
                        integrity=api.Integrity("hmac(sha256)", bytes(32), 128))
    with pytest.raises(KernelError) as e:
        sa_message(MsgType.ADD, sha256)
    assert e.value.errno == errno.EPROTONOSUPPORT and "hmac(sha256) truncated to 128" in str(
        e.value)


def test_policy_round_trip_through_the_codec() -> None:
    sp = api.PolicySpec(api.Selector(net("192.0.2.0/25"), net("192.0.2.128/25"), 6, 0, 443),
                        api.Direction.OUTBOUND, api.Owner.SPMD,
                        templates=(api.Template(api.Proto.ESP, api.Mode.TUNNEL,
                                                ip("198.51.100.1"), ip("203.0.113.1"), 7,
                                                api.Level.UNIQUE),), priority=9)
    msg = c.decode(policy_message(MsgType.X_SPDADD, sp).encode())
    info = policy_from(msg)
    assert info.owner is api.Owner.SPMD and info.spec.selector == sp.selector
    assert info.spec.templates == sp.templates and info.spec.priority == 9


@pytest.mark.parametrize("satype", [5, 200])  # RSVP (not ours), and no SA type at all
def test_sa_of_an_unmanaged_type_is_a_kernel_error(satype: int) -> None:
    msg = c.decode(sa_message(MsgType.ADD, api.SaSpec(
        ip("192.0.2.1"), ip("192.0.2.2"), api.Proto.ESP, 1,
        cipher=api.Cipher("cbc(aes)", bytes(16)))).encode())
    with pytest.raises(KernelError, match=f"SA type {satype} is not ESP, AH or IPComp"):
        sa_from(dataclasses.replace(msg, satype=satype))
