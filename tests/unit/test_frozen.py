"""racoon2.frozen: records that mypy holds immutable and that behave at run time as frozen
dataclasses do (field-wise equality and hash, a class's own hash kept, pickles, replace)."""

from __future__ import annotations

import dataclasses
import pickle
import textwrap
from pathlib import Path

from mypy import api

from racoon2.frozen import frozen
from racoon2.net import Endpoint, parse_address


@frozen
class Pair:
    """Two fields, one with a default."""

    a: int
    b: bytes = b""


@dataclasses.dataclass(frozen=True, slots=True)
class FrozenPair:
    """What Pair stands in for."""

    a: int
    b: bytes = b""


def test_equality_hash_and_copies_are_those_of_a_frozen_dataclass() -> None:
    assert Pair(1, b"x") == Pair(1, b"x") != Pair(2, b"x")
    assert hash(Pair(1, b"x")) == hash(FrozenPair(1, b"x")) == hash((1, b"x"))
    assert {Pair(1): "one"}[Pair(1)] == "one"
    assert pickle.loads(pickle.dumps(Pair(3, b"y"))) == Pair(3, b"y")
    assert dataclasses.replace(Pair(1, b"x"), b=b"z") == Pair(1, b"z")
    assert not hasattr(Pair(1), "__dict__")  # slotted


@frozen
class Hashed:
    """A record with a hash of its own."""

    a: int

    def __hash__(self) -> int:
        return 7


def test_a_class_of_its_own_hash_keeps_it() -> None:
    assert hash(Hashed(1)) == hash(Hashed(2)) == 7
    ep = Endpoint(parse_address("192.0.2.1"), 500)  # hashes once, in __post_init__
    copy = pickle.loads(pickle.dumps(ep))
    assert copy == ep and hash(copy) == hash(ep) == hash((ep.addr, ep.port))


def test_mypy_rejects_assigning_a_field(tmp_path: Path) -> None:
    source = tmp_path / "assign.py"
    source.write_text(textwrap.dedent("""
        from racoon2.frozen import frozen

        @frozen
        class Pair:
            a: int

        Pair(1).a = 2
        """))
    out, _, status = api.run(["--strict", "--no-incremental", "--follow-imports=silent",
                              str(source)])
    assert status == 1 and 'Property "a" defined in "Pair" is read-only' in out, out
