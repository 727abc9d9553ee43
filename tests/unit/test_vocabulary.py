"""The shared IPsec words and the tables that spell them per layer (racoon2/ipsec.py)."""

from __future__ import annotations

import ipaddress

import pytest

from racoon2.config import loads
from racoon2.errors import ConfigError
from racoon2.ipsec import Direction, Mode
from racoon2.kernel import api


def test_xfrm_numbers_are_the_kernels() -> None:
    """linux/xfrm.h: XFRM_MODE_TRANSPORT 0, _TUNNEL 1; XFRM_POLICY_IN 0, _OUT 1, _FWD 2."""
    assert dict(api.XFRM_MODES) == {Mode.TRANSPORT: 0, Mode.TUNNEL: 1}
    assert dict(api.XFRM_DIRECTIONS) == {Direction.INBOUND: 0, Direction.OUTBOUND: 1,
                                         Direction.FORWARD: 2}
    for mode, n in api.XFRM_MODES.items():
        assert api.mode_of_xfrm(n) is mode
    for direction, n in api.XFRM_DIRECTIONS.items():
        assert api.direction_of_xfrm(n) is direction
    with pytest.raises(ValueError):
        api.mode_of_xfrm(4)  # BEET and the others are not ours
    with pytest.raises(ValueError):
        api.direction_of_xfrm(3)


def test_a_policy_key_names_its_direction_as_before() -> None:
    sel = api.Selector(ipaddress.ip_network("192.0.2.1/32"), ipaddress.ip_network("192.0.2.2/32"))
    assert [str(api.PolicyKey(d, sel)).split()[1] for d in Direction] == ["in", "out", "fwd"]


def test_forward_is_not_a_configured_direction() -> None:
    """The kernel's FORWARD is not a keyword: a selector is inbound or outbound."""
    assert loads("selector s { direction inbound; policy_index p; };"
                 "policy p { action none; };").selectors[0].direction is Direction.INBOUND
    with pytest.raises(ConfigError, match="expected a direction: inbound or outbound"):
        loads("selector s { direction forward; policy_index p; };"
              "policy p { action none; };")
