"""``@frozen``: the immutable records of the IKE path, frozen for the type checker only.

A ``dataclass(frozen=True)`` sets each field through ``object.__setattr__`` (it must get past
its own ``__setattr__``, which raises): a record of four fields takes 0.45 us to make against
0.13 us for a plain slotted dataclass, and an IKE SA's setup makes some 140 of them (payloads,
events, kernel requests).  ``@frozen`` classes are plain slotted dataclasses at run time, with
the field-wise ``__eq__`` and ``__hash__`` a frozen one has; mypy (``--strict``, in every CI
run) treats them as frozen (PEP 681's ``frozen_default``) and rejects any assignment to a
field, which is where the project's code is held to immutability.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

T = TypeVar("T")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def frozen(cls: type[T]) -> type[T]:
    """A slotted dataclass, immutable to the type checker; a class's own ``__hash__`` (one
    worked out once, say) is kept."""
    return dataclass(slots=True, unsafe_hash="__hash__" not in cls.__dict__)(cls)
