"""``nat_traversal`` and ``dpd`` in an ikev1 block are run by iked's IKEv1 engine: ``iked -n``
says nothing about them, and the engine's settings carry them."""

from __future__ import annotations

from pathlib import Path

from test_xauth_directives import IKEV1, Load, Secret

from iked.ikev1.settings import phase1_settings
from racoon2.config.check import check_config
from racoon2.config.files import read_secret


def test_no_warning_and_the_settings(load: Load, secret: Secret) -> None:
    cfg = load(IKEV1.format(pwd=secret("spmd.pwd"), psk=secret("r.psk"), extra=(
        "nat_traversal on; dpd on; dpd_delay 30 sec; dpd_retry 5 sec; dpd_maxfail 3;")))
    assert list(check_config(cfg, "iked")) == []
    s = phase1_settings(cfg, cfg.remote("r"), read_secret, lambda p: Path(p).read_bytes())
    assert s.nat_traversal
    assert (s.dpd.enabled, s.dpd.delay, s.dpd.retry, s.dpd.maxfail) == (True, 30.0, 5.0, 3)
