"""The pure modules stay pure: no I/O, clock or randomness, directly or through what they import.

The import graph is walked statically with :mod:`ast` over the project's source: a pure module,
every project module it imports (at any depth, imports inside functions included) and the
packages those live in must not import an I/O module.  To put a new module under the rule, add
it (or its package) to :data:`PURE`; a module that must stay impure for a reason goes in
:data:`EDGES` (its own imports are then neither checked nor followed) or, for one import,
:data:`ALLOWED`, with the reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("racoon2", "iked", "kinkd", "spmd", "pskgen")

#: Modules that do I/O, read the clock or draw randomness (the house rule, doc/design.md).
IMPURE = frozenset({
    "asyncio", "socket", "time", "random", "secrets", "subprocess", "threading", "select",
    "selectors",
})
#: Modules that reach the file system; pure code takes file contents from its caller.
FILE_SYSTEM = frozenset({"os", "glob", "pathlib", "shutil", "tempfile"})
FORBIDDEN = IMPURE | FILE_SYSTEM

#: The sans-I/O cores: a package name covers every module under it.
PURE = (
    "racoon2.config",
    "racoon2.convert.syntax",
    "racoon2.convert.grammar",
    "racoon2.convert.spd",
    "racoon2.convert.names",
    "racoon2.convert.output",
    "racoon2.convert.remotes",
    "racoon2.convert.modecfg",
    "racoon2.convert.policies",
    "racoon2.convert.mapper",
    "racoon2.convert.psk",
    "racoon2.ikev1",
    "racoon2.ikev2",
    "racoon2.wire",
    "racoon2.net",
    "racoon2.errors",
    "racoon2.ipsec",
    "racoon2.crypto",
    "racoon2.eap",
    "racoon2.radius",
    "racoon2.kernel.api",
    "racoon2.spmif.commands",
    "racoon2.spmif.replies",
    "racoon2.spmif.protocol",
    "iked.ikev1",
    "iked.ikev2",
    "iked.cores",
    "iked.queues",
    "iked.endpoints",
    "iked.ipsec_sas",
    "iked.events",
    "iked.sa_view",
    "racoon2.control.protocol",
    "racoon2.control.tables",
    "racoon2.control.targets",
    "iked.leases",
    "iked.reassembly",
    "kinkd.message",
    "kinkd.exchange",
    "kinkd.sas",
    "kinkd.settings",
    "kinkd.keymat",
    "kinkd.drops",
    "kinkd.policy",
    "kinkd.responder",
    "kinkd.tickets",
    "spmd.policies",
    "spmd.commands",
    "spmd.reconcile",
    "spmd.fqdn",
    "spmd.dns",
    "racoon2.setup.schema",
    "racoon2.setup.validate",
    "racoon2.setup.model",
    "racoon2.setup.conf",
    "racoon2.setup.peer",
)

#: Modules pure code may import that are the shells' edge, and why; a name covers the modules
#: under it.  Their own imports are neither checked nor followed.
EDGES = {
    "racoon2.crypto.rng": "the random source: the shells create it and hand it to the cores",
    "racoon2.config.files": "the configuration layer's one edge to the host: files (include, "
    "secrets) and the services and protocols databases",
    "kinkd.krb5": "the libkrb5 binding: the exchange is handed the shell's Context and does only "
    "local Kerberos work with it (doc/design.md, kinkd)",
    "kinkd.replay": "the replay cache the shell owns and keeps on disk; the exchange is handed it",
}

#: One forbidden import a pure module may keep, and why.
ALLOWED = {
    ("racoon2.config", "os"): "load_config, the configuration's entry point, reads the "
    "environment for $[NAME]",
    ("racoon2.config.addresses", "socket"): "inet_pton parses address text in memory (no I/O), "
    "several times faster than ipaddress at 10,000 peers",
}

#: Calls of the built-in open() allowed in a pure module, and why (none today: kinkd's
#: /etc/hosts lookup lives in kinkd/names.py, beside its other name lookups).
OPEN_ALLOWED: dict[str, str] = {}


@dataclass(frozen=True, slots=True)
class Source:
    """What one project module imports and whether it calls the built-in open()."""

    imports: frozenset[str]
    opens: bool


def _path(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _is_edge(module: str) -> bool:
    return any(module == e or module.startswith(e + ".") for e in EDGES)


def _is_project(module: str) -> bool:
    return module.split(".")[0] in PROJECT


@cache
def source(module: str) -> Source:
    """Parse ``module`` and list every module its import statements name (any nesting)."""
    path = _path(module)
    assert path is not None, f"{module}: no such project module"
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    opens = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            names.add(base)
            # ``from pkg import mod`` imports a submodule when one has that name.
            names.update(f"{base}.{a.name}" for a in node.names
                         if _is_project(base) and _path(f"{base}.{a.name}") is not None)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "open"):
            opens = True
    return Source(frozenset(names), opens)


def _with_parents(module: str) -> list[str]:
    """``a.b.c`` and the packages whose ``__init__`` importing it runs: ``a``, ``a.b``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def violations(start: str) -> list[str]:
    """Every forbidden import or open() reachable from ``start``, with the import path."""
    found: list[str] = []
    seen: set[str] = set()
    queue: list[tuple[str, tuple[str, ...]]] = [(start, (start,))]
    while queue:
        module, via = queue.pop()
        if module in seen or _path(module) is None:
            continue
        seen.add(module)
        if _is_edge(module) and module != start:
            continue
        src = source(module)
        chain = " -> ".join(via)
        if src.opens and module not in OPEN_ALLOWED:
            found.append(f"{chain} calls open()")
        for name in sorted(src.imports):
            top = name.split(".")[0]
            if top in FORBIDDEN and (module, top) not in ALLOWED:
                found.append(f"{chain} imports {name}")
            elif _is_project(name):
                queue.extend((m, (*via, m)) for m in _with_parents(name) if m not in seen)
    return found


def pure_modules() -> list[str]:
    """Every module a name in :data:`PURE` covers, except the :data:`EDGES`."""
    out: list[str] = []
    for name in PURE:
        path = _path(name)
        assert path is not None, f"PURE names {name}, which does not exist"
        if path.name == "__init__.py":
            for file in sorted(path.parent.rglob("*.py")):
                rel = file.relative_to(ROOT).with_suffix("")
                parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
                out.append(".".join(parts))
        else:
            out.append(name)
    return [m for m in dict.fromkeys(out) if not _is_edge(m)]


@pytest.mark.parametrize("module", pure_modules())
def test_pure_module_reaches_no_io(module: str) -> None:
    assert violations(module) == []


def test_every_exception_is_still_needed() -> None:
    """An exception that no longer matches anything is removed, so the list stays honest."""
    for module, top in ALLOWED:
        assert any(n.split(".")[0] == top for n in source(module).imports), (module, top)
    for module in OPEN_ALLOWED:
        assert source(module).opens, module
    for module in EDGES:
        assert _path(module) is not None, module


def test_the_walk_catches_a_transitive_import() -> None:
    """The check itself: a shell module fails, directly and through what it imports, and an
    edge is checked when it is the module under test."""
    assert "spmd.shell imports asyncio" in violations("spmd.shell")
    assert "spmd.tcpif -> racoon2.spmif.server imports asyncio" in violations("spmd.tcpif")
    assert any(v.endswith("racoon2.config.files calls open()")
               for v in violations("racoon2.config.files"))
