"""Property tests: any input gives a Config or a ConfigError with file:line, nothing else.

Two generators: random token streams over the language's own vocabulary (so that deep
structures are reached, not just lexer errors), and random mutations of real samples.  The
per-daemon checks run on every input that loads.  CI runs 10,000 examples per property
(tests/conftest.py).  ``include`` is left out of the vocabulary: it would read arbitrary host
files, which is the include tests' business.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from racoon2.config import loads
from racoon2.config.check import check_config
from racoon2.config.lexer import RESERVED
from racoon2.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = [p.read_text() for p in sorted((ROOT / "samples").glob("*.conf"))]
ORIGINAL = ROOT / "tests" / "samples" / "original"
SAMPLES += [p.read_text() for p in sorted(ORIGINAL.glob("*.conf"))]
WHERE = re.compile(r"^fuzz\.conf:\d+: ")

WORDS = sorted(RESERVED - {"include"}) + [
    "{", "}", ";", ";", ";", ",", "-", "0", "1", "-1", "0x10", "65536", "2147483648", "16",
    "192.0.2.1", "192.0.2.0/24", "2001:db8::1", "fe80::1%lo", "::/0", "MY_IP", "IP_RW",
    "MY_IP%lo", "host.example.net", "a-b", "r", "p", "i", "s", "any", "icmp", "tcp", "135",
    '"q"', '"${X}"', '"$[HOME]"', '"${"', '""', '"/nonexistent/key"', '"a b"', "\n",
]
SECTIONS = ["remote r {", "selector s {", "policy p {", "ipsec i {", "sa s {", "interface {",
            "resolver {", "default {", "setval {", "addresspool a {", "remote r { ikev2 {",
            "remote r { ikev1 {", "remote r { kink {", "remote r { ikev2 { provide {"]


def must_load_or_fail_cleanly(text: str) -> None:
    try:
        config = loads(text, "fuzz.conf", environ={"HOME": "/root"})
    except ConfigError as e:
        assert WHERE.match(str(e)), str(e)
        return
    for daemon in ("spmd", "iked", "kinkd"):
        try:
            check_config(config, daemon)
        except ConfigError as e:
            assert str(e).startswith("fuzz.conf") or str(e).startswith("/"), str(e)


tokens = st.lists(st.sampled_from(WORDS), max_size=60)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SECTIONS), tokens, st.integers(0, 4))
def test_random_token_streams(head: str, body: list[str], closes: int) -> None:
    must_load_or_fail_cleanly(head + " " + " ".join(body) + " };" * closes)


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(SAMPLES))
    parts = re.findall(r'"[^"]*"|[^\s"]+|\s+', text)
    for _ in range(draw(st.integers(1, 4))):
        if not parts:
            break
        i = draw(st.integers(0, len(parts) - 1))
        op = draw(st.sampled_from(["delete", "insert", "replace", "duplicate", "cut"]))
        if op == "delete":
            del parts[i]
        elif op == "insert":
            parts.insert(i, " " + draw(st.sampled_from(WORDS)) + " ")
        elif op == "replace":
            parts[i] = draw(st.sampled_from(WORDS))
        elif op == "duplicate":
            j = draw(st.integers(i, min(len(parts), i + 20)))
            parts[i:i] = parts[i:j]
        else:
            parts = parts[:i]
    return "".join(parts)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_samples(text: str) -> None:
    must_load_or_fail_cleanly(text)


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200))
def test_arbitrary_text(text: str) -> None:
    must_load_or_fail_cleanly(text)
