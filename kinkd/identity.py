"""kinkd's own Kerberos identity: its TGT, from the keytab or a credential cache."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from kinkd.krb5.api import Context, Credentials
from kinkd.krb5.kdc import AsyncKdc
from kinkd.krb5.values import Krb5Error
from kinkd.settings import realm_of
from racoon2.errors import Racoon2Error

log = logging.getLogger("kinkd")


@dataclass(frozen=True)
class Identity:
    """kinkd's own Kerberos identity: its principal, and how it reads tickets sent to it."""

    principal: str
    ccache: str            # MEMORY: cache with the TGT, shared with the KDC worker
    tgt: Credentials
    user_to_user_only: bool  # no key in the keytab: peers must use user-to-user tickets
    #: keeps the MEMORY ccache alive: it is destroyed with its last handle
    owner: object = field(default=None, compare=False, repr=False)


async def get_identity(ctx: Context, kdc: AsyncKdc, principal: str) -> Identity:
    """Get the TGT as the original does, from the keytab; without a key there, fall back to a
    TGT already in the default credential cache (``kinit``) and user-to-user only."""
    ccache = ctx.memory_ccache()
    try:
        tgt = await kdc.get_init_creds_keytab(principal, None, ccache.name)
        log.info("got a TGT for %s from the keytab (valid until %s)", principal,
                 time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(tgt.times.endtime)))
        return Identity(principal, ccache.name, tgt, False, ccache)
    except TimeoutError:
        raise Racoon2Error(f"no KDC answered for {principal}'s TGT",
                           hint="kinkd needs a reachable KDC to start (krb5.conf)") from None
    except Krb5Error as e:
        keytab_problem = e
    realm = realm_of(principal)
    try:
        with ctx.ccache() as cc:
            name = cc.name
        tgt = await kdc.get_credentials(name, principal, f"krbtgt/{realm}@{realm}")
    except (Krb5Error, TimeoutError) as e:
        raise Racoon2Error(f"no TGT for {principal}: the keytab gives none ({keytab_problem}) "
                           f"and the credential cache has none ({e})",
                           hint=f"put {principal}'s key in the keytab (doc/kinkd.md), or kinit "
                                "it for user-to-user operation") from None
    log.info("no key for %s in the keytab (%s): user-to-user only, with the TGT from %s",
             principal, keytab_problem, name)
    return Identity(principal, name, tgt, True)
