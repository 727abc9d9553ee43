"""The IKEv1 gateway's remote access after phase 1 (pure): XAuth (draft-ietf-ipsec-isakmp-
xauth-06) and mode-config (draft-dukes-ike-mode-cfg-02) run as Transaction exchanges
(type 6) under the ISAKMP SA, the gateway being the responder of phase 1:

    gateway                                           client
    HDR*(M1), HASH, ATTR REQUEST(XAUTH_TYPE, USER_NAME, USER_PASSWORD)  -->
                               <--  HDR*(M1), HASH, ATTR REPLY(USER_NAME, USER_PASSWORD)
    (the shell checks the password in a thread: CheckPassword)
    HDR*(M2), HASH, ATTR SET(XAUTH_STATUS=OK|FAIL)  -->
                               <--  HDR*(M2), HASH, ATTR ACK
    (FAIL: the ISAKMP SA is deleted; OK: Quick Mode is let through)
                               <--  HDR*(M3), HASH, ATTR REQUEST(INTERNAL_IP4_ADDRESS, DNS…)
    HDR*(M3), HASH, ATTR REPLY(INTERNAL_IP4_ADDRESS=pool address, DNS…)  -->
    (a client that does not ask within PUSH_AFTER seconds gets SET(…) and ACKs it)

The pieces are :mod:`iked.ikev1.xauth`, :mod:`iked.ikev1.modecfg` and
:mod:`iked.ikev1.transaction`; this module runs them for one SA and plugs into the engine
through :data:`iked.ikev1.dispatch.TRANSACTION`, ``QUICK_GATES`` and ``TIMERS``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from iked.events import CheckPassword, Now, RemoteAccess
from iked.ikev1 import dispatch, informational, transaction, vendor, xauth
from iked.ikev1.modecfg import ModeCfgServer
from iked.ikev1.sa import IsakmpSa, Resend, State
from iked.ikev1.xauth import Credentials, Status, XauthServer
from racoon2.errors import ProtocolError
from racoon2.ikev1.constants import CfgType, ExchangeType
from racoon2.ikev1.message import Message
from racoon2.ikev1.payloads import ModeCfg, Payload
from racoon2.net import Address

#: Seconds the gateway waits for the client's mode-config REQUEST before it pushes a SET
#: (draft-dukes-ike-mode-cfg-02 §3.2 allows either; Shrew and old Cisco clients never ask).
PUSH_AFTER = 3.0


class Pools(Protocol):
    """The addresspools (IKEv2's, shared: one address is never given twice)."""

    def lease(self, pools: Sequence[str], version: int, owner: tuple[int, bytes] | None
              ) -> tuple[str, Address] | None: ...
    def release(self, pool: str, addr: Address, keep: float) -> None: ...


@dataclass(eq=False)
class Access:
    """One client's XAuth and mode-config."""

    pools: Pools
    xauth: XauthServer | None
    modecfg: ModeCfgServer | None
    resend: Resend | None = None        # our outstanding Transaction message
    mid: int = 0                        # its message ID
    push_at: Now | None = None          # when to push mode-config (None: not, or done)
    configured: bool = False            # the client has its mode-config values (logged)

    def deadline(self) -> Now | None:
        """A retransmission's or the push's time."""
        times = [t for t in (self.resend.deadline if self.resend else None, self.push_at)
                 if t is not None]
        return min(times) if times else None


def _xauth_vid(sa: IsakmpSa) -> tuple[bytes, ...]:
    # draft-ietf-ipsec-isakmp-xauth-06 §3: the gateway announces XAuth in phase 1.
    return (xauth.VENDOR_ID,) if sa.settings.xauth is not None else ()


def established(sa: IsakmpSa, now: Now, pools: Pools) -> None:
    """Phase 1 with a client is up: ask for its password (XAuth configured), or wait for its
    mode-config REQUEST (``provide`` configured)."""
    s = sa.settings
    if sa.initiator or (s.xauth is None and s.provide is None):
        return
    names = s.provide.pools if s.provide is not None else ()

    def lease(version: int) -> Address | None:
        # Without an identity to keep it for, an IKEv1 client's lease ends with its SA.
        got = pools.lease(names, version, None)
        if got is not None:
            sa.lease_pool = got[0]
        return got[1] if got is not None else None

    modecfg = ModeCfgServer(s.provide, lease) if s.provide is not None else None
    sa.access = access = Access(pools, XauthServer() if s.xauth is not None else None, modecfg)
    if access.xauth is not None:
        mid, ident = _new_ids(sa)
        _send(sa, access.xauth.start(mid, ident), now)
    elif modecfg is not None:
        access.push_at = now + PUSH_AFTER


def ended(sa: IsakmpSa) -> None:
    """The ISAKMP SA is gone: its lease goes back to the pool."""
    access, addr = sa.access, sa.leased
    if access is None or addr is None or sa.settings.provide is None:
        return
    sa.leased = None
    if sa.lease_pool:
        access.pools.release(sa.lease_pool, addr, 0.0)


def waits_for(sa: IsakmpSa) -> str | None:
    """What the peer's Quick Mode must wait for: XAuth, until it succeeded."""
    a = sa.access
    if a is not None and a.xauth is not None and a.xauth.status is not Status.SUCCEEDED:
        return "XAuth succeeded"
    return None


def _new_ids(sa: IsakmpSa) -> tuple[int, int]:
    mid = 0
    while mid == 0 or mid in sa.quick:
        mid = int.from_bytes(sa.host.rng.random_bytes(4), "big")
    return mid, int.from_bytes(sa.host.rng.random_bytes(2), "big")


def _packet(sa: IsakmpSa, mid: int, payload: ModeCfg) -> bytes:
    assert sa.keys is not None
    return sa.keys.seal(Message(sa.cookie_i, sa.cookie_r, ExchangeType.TRANSACTION, mid),
                        transaction.seal(sa.keys.prf, sa.keys.a, mid, payload))


def _send(sa: IsakmpSa, out: xauth.Send, now: Now) -> None:
    """Begin an exchange of ours, retransmitted until the client answers."""
    assert sa.access is not None
    packet = _packet(sa, out.message_id, out.payload)
    sa.host.send(sa, packet)
    sa.access.mid = out.message_id
    sa.access.resend = Resend(packet, sa.settings.schedule, now + sa.settings.schedule.wait(0))


def _tell(sa: IsakmpSa, what: str) -> None:
    sa.host.emit(RemoteAccess(sa.name, sa.remote, what))


def take(sa: IsakmpSa, msg: Message, payloads: tuple[Payload, ...], now: Now) -> bool:
    """A decrypted Transaction message from the client (dispatch.TRANSACTION); raises
    :class:`ProtocolError` for one to drop (bad HASH, answers nothing of ours)."""
    a = sa.access
    if a is None or sa.keys is None:
        return False
    attrs = transaction.open_(sa.keys.prf, sa.keys.a, msg.message_id, payloads)
    if attrs.cfg_type in (CfgType.REPLY, CfgType.ACK) and msg.message_id == a.mid:
        _answer(sa, a, msg.message_id, attrs, now)
    elif attrs.cfg_type == CfgType.REQUEST and a.modecfg is not None:
        _pull(sa, a, msg.message_id, attrs)
    else:
        raise ProtocolError(f"ISAKMP SA {sa.name}: mode-config "
                            f"{transaction.cfg_name(attrs.cfg_type)} in message "
                            f"{msg.message_id:#010x}: not expected now")
    return True


def _answer(sa: IsakmpSa, a: Access, mid: int, attrs: ModeCfg, now: Now) -> None:
    """The client's REPLY or ACK to our outstanding REQUEST or SET."""
    assert sa.keys is not None
    if a.xauth is not None and a.xauth.status in (Status.ASKING, Status.TELLING):
        given = a.xauth.receive(mid, attrs)
        a.resend = None
        sa.keys.forget(mid)
        if given is not None:
            _check(sa, a.xauth, given, now)
        elif a.xauth.user is not None:  # the ACK of STATUS=OK: SUCCEEDED
            _tell(sa, f"XAuth user {a.xauth.user} authenticated")
            if a.modecfg is not None:
                a.push_at = now + PUSH_AFTER
        else:
            informational.delete_sa(sa, now, "XAuth failed")
        return
    if a.modecfg is not None and a.resend is not None:
        took = a.modecfg.acked(attrs)
        a.resend = None
        sa.keys.forget(mid)
        _tell(sa, f"mode-config SET acknowledged ({len(took)} attributes)"
              + (f", client address {sa.leased}" if sa.leased else ""))
        return
    raise ProtocolError(f"{transaction.cfg_name(attrs.cfg_type)} in message {mid:#010x} "
                        "answers nothing outstanding")


def _check(sa: IsakmpSa, server: XauthServer, given: Credentials, now: Now) -> None:
    spec = sa.settings.xauth
    assert spec is not None

    def judged(result: object, now: Now) -> None:
        if sa.state is not State.ESTABLISHED:
            return
        ok = result is True
        if not isinstance(result, bool):
            _tell(sa, f"XAuth check of user {given.user} failed: {result}")
        if not ok:
            _tell(sa, f"XAuth user {given.user or '(none)'} refused (attempt {server.tries} "
                  f"of {server.attempts})")
        mid, ident = _new_ids(sa)
        out = server.verdict(ok, mid, ident)
        _send(sa, out, now)

    if given.usable:
        assert given.user is not None and given.password is not None
        sa.host.request(sa, CheckPassword(sa.settings.remote, spec.users, spec.pam,
                                          given.user, given.password), judged)
    else:
        judged(False, now)


def _pull(sa: IsakmpSa, a: Access, mid: int, request: ModeCfg) -> None:
    """The client's REQUEST: REPLY in the same exchange (draft §3.2).  Its chain is forgotten
    at once, so that a retransmitted REQUEST (same bytes) decrypts again and is answered
    again, with the same lease."""
    assert a.modecfg is not None and sa.keys is not None
    if waits_for(sa) is not None:
        raise ProtocolError("mode-config REQUEST before XAuth succeeded")
    reply = a.modecfg.reply(request)
    sa.host.send(sa, _packet(sa, mid, reply))
    sa.keys.forget(mid)
    a.push_at = None
    _leased(sa, a)


def _leased(sa: IsakmpSa, a: Access) -> None:
    assert a.modecfg is not None
    sa.leased = a.modecfg.leased
    if a.configured:
        return  # the answer to a retransmitted REQUEST: the same values again
    a.configured = True
    dns = " ".join(str(d) for d in a.modecfg.provide.dns)
    _tell(sa, f"mode-config: client address {sa.leased or 'none'}"
          + (f", DNS {dns}" if dns else ""))


def on_timer(sa: IsakmpSa, now: Now) -> None:
    """Retransmit our outstanding message; push mode-config when the client did not ask."""
    a = sa.access
    if a is None or sa.state is not State.ESTABLISHED:
        return
    if a.resend is not None:
        due = a.resend.due(now)
        if due is False:
            informational.delete_sa(sa, now, "no answer to XAuth or mode-config after "
                                    f"{a.resend.attempt + 1} transmissions")
            return
        if isinstance(due, bytes):
            sa.host.send(sa, due)
    if a.push_at is not None and a.push_at <= now and a.modecfg is not None:
        a.push_at = None
        mid, ident = _new_ids(sa)
        _send(sa, xauth.Send(mid, a.modecfg.push(ident)), now)
        _leased(sa, a)


dispatch.TRANSACTION.append(take)
dispatch.QUICK_GATES.append(waits_for)
dispatch.TIMERS.append(on_timer)
vendor.SENDERS.append(_xauth_vid)
