"""Everything in the configuration layer that touches the host (doc/config.md, "Variables and
includes").

``read_tree`` reads a file and splices ``include`` statements in place (``$[ENV]`` expansion,
glob, depth limit 10); ``check_safe_file`` and ``read_secret`` apply the original's safe-file
rules so that a world-readable key is refused with a message that says how to fix it;
``system_service_port`` and ``system_protocol_number`` read the host's services and protocols
databases for names outside the built-in table (racoon2.config.names).

While a :class:`Deps` is :func:`recording`, every one of these notes what it looked at (a file's
identity, whether a path exists, what a glob matched): racoon2.confcache keeps a loaded and
checked configuration only as long as all of it is unchanged.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from racoon2.config.expand import expand_env
from racoon2.config.lexer import KEYWORD, PUNCT, describe
from racoon2.config.parser import Statement, parse
from racoon2.errors import ConfigError

MAX_INCLUDE_DEPTH = 10

#: What a file's ``os.stat`` says that its content or the safe-file rules depend on; ctime
#: moves on chmod, chown and every write, even one that keeps size and mtime.
Identity = tuple[int, int, int, int, int, int, int]

#: The databases ``system_service_port`` and ``system_protocol_number`` read (via NSS).
SYSTEM_DATABASES = ("/etc/services", "/etc/protocols", "/etc/nsswitch.conf")


def identity(st: os.stat_result) -> Identity:
    """dev, inode, size, mtime_ns, ctime_ns, mode and owner of a stat result."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode,
            st.st_uid)


def probe(path: str) -> Identity | None:
    """The :func:`identity` of ``path`` (links followed), None when there is nothing."""
    try:
        return identity(os.stat(path))
    except (OSError, ValueError):
        return None


@dataclass(slots=True)
class Deps:
    """Everything on the host a load or a check looked at, and what it found."""

    files: dict[str, Identity | None] = field(default_factory=dict)
    present: dict[str, bool] = field(default_factory=dict)
    globs: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def unchanged(self) -> str | None:
        """None when the host still looks the same, else the first path that changed."""
        for path, ident in self.files.items():
            if probe(path) != ident:
                return path
        for path, there in self.present.items():
            # A file checked above exists (the usual key file): no second system call.
            if (self.files.get(path) is None or not there) and os.path.lexists(path) != there:
                return path
        for pattern, matches in self.globs.items():
            if glob_of(pattern) != matches:
                return pattern
        return None


_deps: Deps | None = None


@dataclass(slots=True)
class Source:
    """One configuration file as a load read it (racoon2.config.incremental): its identity
    when it was checked, its text, its own top-level statements (``include`` ones in place)
    and, by the index of each include statement, the pattern it expanded to and the files
    that matched."""

    path: str
    ident: Identity | None
    text: str
    statements: list[Statement]
    included: dict[int, tuple[str, tuple[str, ...]]] = field(default_factory=dict)


_sources: list[Source] | None = None


def glob_of(pattern: str) -> tuple[str, ...]:
    """What an include of ``pattern`` (already expanded) matches now, sorted."""
    # ~ follows $HOME when it is checked again, as when it was first read.
    return tuple(sorted(glob.glob(os.path.expanduser(pattern))))


@contextlib.contextmanager
def sourcing(sources: list[Source]) -> Iterator[list[Source]]:
    """Append to ``sources`` each file :func:`read_tree` reads inside the block."""
    global _sources  # as _deps: one load at a time
    saved, _sources = _sources, sources
    try:
        yield sources
    finally:
        _sources = saved


@contextlib.contextmanager
def recording(deps: Deps) -> Iterator[Deps]:
    """Note in ``deps`` what the functions of this module look at inside the block."""
    global _deps  # one load at a time per process: the loaders are synchronous
    saved, _deps = _deps, deps
    try:
        yield deps
    finally:
        _deps = saved


def read_tree(path: str, environ: Mapping[str, str]) -> list[Statement]:
    """Parse ``path`` and every file it includes into one top-level statement list."""
    return _read(path, environ, 0, None)


def _read(path: str, environ: Mapping[str, str], depth: int, where: str | None) -> list[Statement]:
    # The identity before the read: a file replaced in between is read again next time.
    ident = identity(check_safe_file(path, secret=False, where=where))
    return tree_of_text(read_text(path, where), path, environ, depth, ident)


def read_text(path: str, where: str | None = None) -> str:
    """The text of configuration file ``path`` (undecodable bytes kept as surrogates)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror}", where) from None
    return data.decode("utf-8", "surrogateescape")


def tree_of_text(text: str, path: str, environ: Mapping[str, str], depth: int = 0,
                 ident: Identity | None = None) -> list[Statement]:
    """Parse ``text`` (read from ``path``, whose identity was ``ident``) and splice in what
    it includes."""
    statements = parse(text, path)
    source = Source(path, ident, text, statements)
    if _sources is not None:
        _sources.append(source)
    if not any(s.words[0][1] == "include" for s in statements):
        return statements
    out: list[Statement] = []
    for index, s in enumerate(statements):
        head = s.words[0]
        if head[0] == KEYWORD and head[1] == "include":
            out.extend(_include(s, environ, depth, source, index))
        else:
            out.append(s)
    return out


def _include(s: Statement, environ: Mapping[str, str], depth: int, source: Source,
             index: int) -> list[Statement]:
    if s.block is not None or len(s.words) != 2 or s.words[1][0] in (KEYWORD, PUNCT):
        found = s.words[1] if len(s.words) > 1 else None
        raise ConfigError(
            f"found {describe(found)}, expected a file name after 'include'", s.where,
            'write include "PATH";',
        )
    if depth + 1 > MAX_INCLUDE_DEPTH:
        raise ConfigError(
            f"found include nested {depth + 1} deep, expected at most {MAX_INCLUDE_DEPTH}",
            s.where, "look for a file that includes itself",
        )
    pattern = expand_env(s.words[1][1], environ, s.where, what="include path")
    if "\0" in pattern:  # glob would raise ValueError on it
        raise ConfigError(f"found a NUL byte in include path {pattern!r}, expected a file name",
                          s.where)
    matches = glob_of(pattern)
    if _deps is not None:
        _deps.globs[pattern] = matches
    if not matches:
        raise ConfigError(f"found no file matching {pattern!r}, expected at least one", s.where)
    source.included[index] = (pattern, matches)
    out: list[Statement] = []
    for match in matches:
        out.extend(_read(match, environ, depth + 1, s.where))
    return out


def exists(path: str) -> bool:
    """Whether anything (even a dangling link) is at ``path``: `-n` reports a key file that is
    not deployed yet as a warning, and a present one must pass :func:`check_safe_file`."""
    there = os.path.lexists(path)
    if _deps is not None:
        _deps.present[path] = there
    return there


def check_safe_file(path: str, *, secret: bool, where: str | None = None) -> os.stat_result:
    """Apply the safe-file rules: regular file owned by the running user (0600 if ``secret``)."""
    if os.geteuid() != os.getuid():
        raise ConfigError(f"{path}: access from a set-uid process is not allowed", where)
    if "\0" in path:
        raise ConfigError(f"{path!r}: a file name cannot contain a NUL byte", where)
    try:
        st = os.stat(path)
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or 'cannot be read'}", where,
                          "create it or correct the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise ConfigError(f"{path}: not a regular file", where)
    if _deps is not None:
        _deps.files[path] = identity(st)
    if st.st_uid != os.geteuid():
        raise ConfigError(
            f"{path}: owned by uid {st.st_uid}, expected the running user (uid {os.geteuid()})",
            where, f"chown {os.geteuid()} {path}",
        )
    if secret and st.st_mode & 0o077:
        mode = stat.S_IMODE(st.st_mode)
        raise ConfigError(
            f"{path}: mode {mode:04o} lets others read a secret; chmod 600 it", where,
        )
    return st


def read_secret(path: str, where: str | None = None) -> bytes:
    """The raw bytes of a secret file after the owner and 0600 checks (no newline stripping)."""
    check_safe_file(path, secret=True, where=where)
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or 'cannot be read'}", where) from None


def system_service_port(name: str) -> int | None:
    """The port /etc/services (or NSS) gives service ``name``, UDP first, or None."""
    _note_databases()
    for proto in ("udp", "tcp"):
        try:
            return socket.getservbyname(name, proto)
        except (OSError, ValueError, UnicodeError):  # unknown, or a NUL in the name
            continue
    return None


def system_protocol_number(name: str) -> int | None:
    """The number /etc/protocols (or NSS) gives protocol ``name``, or None."""
    _note_databases()
    try:
        return socket.getprotobyname(name)
    except (OSError, ValueError, UnicodeError):
        return None


def _note_databases() -> None:
    if _deps is not None:
        for path in SYSTEM_DATABASES:
            _deps.files[path] = probe(path)
