"""Built-in defaults and the ``default { }`` section rule (doc/config.md §3, §6).

A value comes from the specific block, else from the ``default`` section's block, else from the
daemon's built-in table below; :mod:`racoon2.config.effective` applies the rule, for a remote's
ikev1/ikev2/kink block and for a policy with its ipsecs and sas.  Unlike the C daemons, which stored
``infinite`` and 0 as "unset", a written value always counts: ``kmp_sa_lifetime_time
infinite;`` means no lifetime limit and ``dpd_delay 0;`` means no probes (doc/config.md,
"Differences from the original").
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from racoon2.config.model import ExchangeMode, Kmp, ProposalCheck, SelectorCheck

_COMMON: Final[dict[str, Any]] = {
    "passive": False, "use_coa": False, "nat_traversal": True, "random_padlen": False,
    "max_padlen": 0, "interval_to_send": 1, "times_per_send": 1, "kmp_sa_lifetime_byte": 0,
    "kmp_sa_grace_period": 0, "need_pfs": False,
}
IKEV1: Final[Mapping[str, Any]] = MappingProxyType({
    **_COMMON, "verify_id": False, "verify_pubkey": True, "send_cert": True,
    "send_cert_req": True, "nonce_size": 16, "initial_contact": True, "support_proxy": False,
    "proposal_check": ProposalCheck.STRICT, "random_pad_content": True, "max_retry_to_send": 5,
    "kmp_sa_lifetime_time": 28800, "kmp_sa_nego_time_limit": 30,
    "ipsec_sa_nego_time_limit": 30, "exchange_mode": ExchangeMode.MAIN, "dpd": True,
    "dpd_delay": 0, "dpd_retry": 5, "dpd_maxfail": 5,
})
IKEV2: Final[Mapping[str, Any]] = MappingProxyType({
    **_COMMON, "verify_id": True, "nonce_size": 32, "initial_contact": False,
    "selector_check": SelectorCheck.EXACT, "proposal_check": ProposalCheck.OBEY,
    "random_pad_content": False, "max_retry_to_send": 10, "kmp_sa_lifetime_time": 86400,
    "kmp_sa_nego_time_limit": 600, "ipsec_sa_nego_time_limit": 600, "cookie_required": False,
    "send_peers_id": False, "dpd_delay": 3600, "fragmentation": True, "fragment_size": 1280,
    "ppk_required": False, "mobike": True,
})
KINK: Final[Mapping[str, Any]] = MappingProxyType({
    **_COMMON, "nonce_size": 16, "proposal_check": ProposalCheck.OBEY, "max_retry_to_send": 5,
})
BUILTIN: Final[Mapping[Kmp, Mapping[str, Any]]] = MappingProxyType(
    {Kmp.IKEV1: IKEV1, Kmp.IKEV2: IKEV2, Kmp.KINK: KINK})
POLICY: Final[Mapping[str, Any]] = MappingProxyType({"install": True})
IPSEC: Final[Mapping[str, Any]] = MappingProxyType({
    "ipsec_sa_lifetime_time": 3600, "ipsec_sa_lifetime_byte": 0, "ext_sequence": False,
})

