"""kinkdctl's sa list and sa show, initiate, terminate and rekey against two running kinkd
and the real KDC (tests/kink/pair.py; doc/ikedctl.md, "kinkdctl commands").

Where the kernel has ESP (the project's VM, tests/vm/test_kink.py) A negotiates on
``initiate``, ``sa show`` finds the pair by either SPI, ``rekey`` replaces the pair (B is told
of the old one's end) and ``terminate`` ends it on both sides; this machine's kernel refuses
ESP SAs, so here ``initiate`` is seen to send its CREATE (B answers INTERR) and the commands
that need a pair refuse with exit 1.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest
from interop.peers import BIN, wait_until

from .pair import KinkPair, KinkSide
from .test_kinkd import HAS_ESP, POLICY, _esp_spis, _start


def _wait(pair: KinkPair, check: Callable[[], bool], what: str) -> None:
    """Wait up to 120 s (the VM under load is slow); a failure shows both logs then."""
    try:
        wait_until(check, 120, what)
    except AssertionError as e:
        raise AssertionError(f"{e}\nA:\n{pair.a.log()[-4000:]}\nB:\n{pair.b.log()[-4000:]}"
                             ) from None


def _pairs(pair: KinkPair) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = pair.a.ctl("sa", "list")["sa_pairs"]
    return rows


def _table(side: KinkSide, *words: str, status: int = 0) -> str:
    """kinkdctl WORDS without --json: the table (exit 0) or, refused, the message (stderr)."""
    done = subprocess.run([str(BIN / "kinkdctl"), "-s", str(side.ctl_socket), *words],
                          capture_output=True, text=True, check=False)
    assert done.returncode == status, done.stdout + done.stderr
    return done.stdout if status == 0 else done.stderr


def _shown(pair: KinkPair, spi: str) -> dict[str, object]:
    """``sa show SPI``'s pair, but for the counters and the second its age is rounded to."""
    doc = pair.a.ctl("sa", "show", spi)
    assert set(doc) == {"sa_pair"}, doc
    shown: dict[str, object] = doc["sa_pair"]
    return {k: v for k, v in shown.items() if k not in ("in", "out", "established")}


@pytest.mark.esp
def test_initiate_rekey_and_terminate_by_kinkdctl(kink_pair: KinkPair) -> None:
    _start(kink_pair)
    a, b = kink_pair.a, kink_pair.b
    assert a.ctl("sa", "list") == {"sa_pairs": []}
    assert _table(a, "sa", "list").strip() == "no SA pair"
    assert a.ctl_refused("sa", "show", "0x0badf00d") == \
        "no SA pair with SPI '0x0badf00d' (an SPI of either direction as 0x…; see sa list)"
    assert "no SA pair with SPI 'host_b'" in _table(a, "sa", "sh", "host_b", status=1)
    assert "no selector, remote or peers_ipaddr 'nowhere'" in a.ctl_refused("initiate",
                                                                            "nowhere")
    assert "no SA pair, policy, remote or peer '0x0badf00d'" in a.ctl_refused("terminate",
                                                                              "0x0badf00d")
    # The remote's name: its first selector, whose policy A sends a CREATE for.
    assert a.ctl("initiate", "host_b") == {"initiated": "host_b_out", "policy": POLICY}
    sent = f"policy {POLICY}: CREATE to 192.0.2.2[910] (kink/host-b.example.com@KINK.TEST, " \
        "kinkdctl)"
    _wait(kink_pair, lambda: sent in a.log(), "A's CREATE")
    if not HAS_ESP:
        _wait(kink_pair, lambda: "peer sent KINK_ERROR INTERR" in a.log(), "B's refusal")
        assert "no SA pair, policy, remote or peer 'host_b'" in a.ctl_refused("rekey", "host_b")
        return
    # The logs, not kinkdctl, are polled: in the VM each kinkdctl run costs seconds.
    up = f"ESP SAs of policy {POLICY} up"
    _wait(kink_pair, lambda: up in a.log(), "the SA pair")
    (old,) = _pairs(kink_pair)
    # sa show: the pair sa list has, by its inbound or outbound SPI; its table says the same.
    listed = {k: v for k, v in old.items() if k not in ("in", "out", "established")}
    assert _shown(kink_pair, f"0x{old['spi_in']}") == listed
    assert _shown(kink_pair, f"0x{old['spi_out'].upper()}") == listed
    shown = _table(a, "sa", "show", f"0x{old['spi_out']}")
    assert f"SA pair {POLICY} with {b.principal}" in shown, shown
    assert f"ESP         spi in 0x{old['spi_in']} out 0x{old['spi_out']}, outbound installed" \
        in shown, shown
    assert f"ESP in 0x{old['spi_in']} out 0x{old['spi_out']}" in _table(a, "sa", "list")
    assert a.ctl("rekey", f"0x{old['spi_in']}") == {"rekeying": [
        {"name": f"{POLICY} with {b.principal}", "spi_in": old["spi_in"],
         "spi_out": old["spi_out"]}]}
    # The new pair comes up, then the old one goes on both sides: A told B (DELETE).
    _wait(kink_pair, lambda: "deleted: rekeyed by kinkdctl" in a.log() and
          "deleted: deleted by the peer" in b.log(), "the rekey")
    assert a.log().count(up) == 2
    (new,) = _pairs(kink_pair)
    assert new["spi_in"] != old["spi_in"] and new["kernel"] == "installed"
    assert int(old["spi_in"], 16) not in _esp_spis(a) | _esp_spis(b)
    assert a.ctl("terminate", "host_b")["terminated"][0]["spi_in"] == new["spi_in"]
    _wait(kink_pair, lambda: "deleted: terminated by kinkdctl" in a.log() and
          b.log().count("deleted by the peer") == 2, "the pair's end")
    assert not _pairs(kink_pair)
    wait_until(lambda: not _esp_spis(a) and not _esp_spis(b), 30, "no ESP SA left")
