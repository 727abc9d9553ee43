"""Desired policies vs what spmd finds of its own in the kernel → the operations to apply (pure).

Only entries in spmd's priority band (racoon2.kernel.api.Owner.SPMD) are ever compared, so
policies of the admin, of iked/kinkd or of another IKE daemon are never touched.  A policy is
the same when direction, selector, mark and if_id match; it is up to date when its action,
templates and priority match too.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from racoon2.kernel import api

Key = tuple[api.Direction, api.Selector, api.Mark | None, int]


@dataclass(slots=True)
class Changes:
    """What to do: ``add`` new policies, ``update`` changed ones, ``delete`` stale ones."""

    add: list[api.PolicySpec] = field(default_factory=list)
    update: list[api.PolicySpec] = field(default_factory=list)
    delete: list[api.PolicyKey] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.add or self.update or self.delete)

    def __str__(self) -> str:
        return f"{len(self.add)} to add, {len(self.update)} to update, {len(self.delete)} to delete"


def key_of(spec: api.PolicySpec) -> Key:
    """Identity of a policy regardless of its kernel index."""
    return (spec.direction, spec.selector, spec.mark, spec.if_id)


def same(a: api.PolicySpec, b: api.PolicySpec) -> bool:
    """True when installing ``a`` over ``b`` would change nothing that matters."""
    return (a.action, a.templates, a.priority) == (b.action, b.templates, b.priority)


def diff(desired: Iterable[api.PolicySpec], installed: Sequence[api.PolicyInfo],
         owner: api.Owner = api.Owner.SPMD) -> Changes:
    """The operations that turn ``owner``'s ``installed`` policies into ``desired``."""
    want: dict[Key, api.PolicySpec] = {}
    for spec in desired:
        want.setdefault(key_of(spec), spec)
    have: dict[Key, api.PolicyInfo] = {}
    changes = Changes()
    for info in installed:
        if info.owner is not owner:
            continue
        k = key_of(info.spec)
        if k in have or k not in want:
            changes.delete.append(info.key)
        else:
            have[k] = info
    for k, spec in want.items():
        found = have.get(k)
        if found is None:
            changes.add.append(spec)
        elif not same(spec, found.spec):
            changes.update.append(spec)
    return changes
