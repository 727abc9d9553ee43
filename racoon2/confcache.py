"""A cache of the loaded and checked configuration (doc/config.md, "The load cache").

A big racoon2.conf (10,000 remotes) takes seconds to parse and check; iked, kinkd and spmd all
load the same file, and ``-n`` is run again and again.  The model each one built is kept in one
file per configuration in the run directory, with everything it depended on
(:class:`racoon2.config.files.Deps`: every file read or checked, includes and their globs, the
environment variables the file expands) and, per daemon, that daemon's check warnings with
what the check looked at.  A later load uses it only when the key (package, Python and
cryptography versions, user, working directory, path) and every dependency are unchanged;
anything else (a missing, foreign, unsafe, stale or corrupt cache) is a full load, the
corrupt case with a log line.  Errors are never cached: a configuration that fails is parsed
again each time and reports its ``file:line`` as before.

An entry also holds the :class:`racoon2.config.incremental.Baseline` of its load, and the
last entry :func:`load_checked` used stays in memory: :func:`reload_checked` (spmd's SIGHUP)
then reads again only the selectors whose text changed when nothing else did.  A daemon may
keep in it what it computed from that configuration and nothing else (:func:`save`,
:func:`derived`: spmd's packed start policies); it is valid exactly as long as the entry.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import gc
import hashlib
import io
import ipaddress
import logging
import os
import pickle
import signal
import stat
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, BinaryIO

import cryptography

import racoon2
from racoon2.config import model, without_gc
from racoon2.config.files import Deps, recording
from racoon2.config.incremental import Baseline, full, update
from racoon2.config.model import Config, ConfigWarning
from racoon2.errors import ConfigError
from racoon2.paths import LAYOUT

log = logging.getLogger("racoon2.config")

#: ``RACOON2_CACHE_DIR=DIR`` puts the cache there; empty turns it off.
ENV_DIR = "RACOON2_CACHE_DIR"
#: Bumped when the file's layout changes (the package version covers the model's).
FORMAT = 3
#: Configurations smaller than this (bytes of every file read) load in milliseconds: keeping
#: them would only leave files behind in the run directory.
MIN_SIZE = 64 * 1024


def default_dir(environ: Mapping[str, str]) -> str | None:
    """Where the cache lives: ``$RACOON2_CACHE_DIR``, else systemd's ``$RUNTIME_DIRECTORY``,
    else the layout's run directory for racoon2 (/run/racoon2 or /var/run/racoon2)."""
    if ENV_DIR in environ:
        return environ[ENV_DIR] or None
    if runtime := environ.get("RUNTIME_DIRECTORY", "").split(":")[0]:
        return runtime
    # fhs: /run/racoon2 is racoon2's own; local: pid files are in /var/run itself.
    run = LAYOUT.rundir
    return run if os.path.basename(run) == "racoon2" else os.path.join(run, "racoon2")


class Env(Mapping[str, str]):
    """The environment as the loader sees it, noting each variable looked up (set or not)."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ
        self.seen: dict[str, str | None] = {}

    def __getitem__(self, name: str) -> str:
        self.seen[name] = self.environ.get(name)
        return self.environ[name]

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        self.seen[name] = self.environ.get(name)
        return name in self.environ

    def __iter__(self) -> Iterator[str]:
        self.seen.update(self.environ)  # whoever lists it depends on all of it
        return iter(self.environ)

    def __len__(self) -> int:
        return len(self.environ)


@dataclass(slots=True)
class Entry:
    """What one cache file holds."""

    key: tuple[object, ...]
    deps: Deps
    env: dict[str, str | None]
    config: Config
    checks: dict[str, tuple[Deps, list[ConfigWarning]]] = field(default_factory=dict)
    baseline: Baseline | None = None
    #: What a daemon computed from ``config`` alone, by name: (its key, the value)
    #: (:func:`derived`).  An entry made from another configuration starts without.
    derived: dict[str, tuple[object, Any]] = field(default_factory=dict)

    def valid(self, key: tuple[object, ...], environ: Mapping[str, str]) -> str | None:
        """None when this entry may stand for the load now, else why not."""
        if self.key != key:
            return "a different version, user or file"
        for name, value in self.env.items():
            if environ.get(name) != value:
                return f"${name} changed"
        changed = self.deps.unchanged()
        return None if changed is None else f"{changed} changed"


class Cache:
    """The cache file of configuration ``path`` in ``directory``."""

    def __init__(self, directory: str, path: str) -> None:
        self.key = (FORMAT, racoon2.__version__, sys.version, cryptography.__version__,
                    os.geteuid(), os.getuid(), os.getcwd(), path)
        digest = hashlib.sha256(repr(self.key).encode("utf-8", "surrogateescape")).hexdigest()
        self.directory = directory
        self.file = os.path.join(directory, f"config-{digest[:24]}.cache")

    def read(self, freeze: bool = False) -> Entry | None:
        """The entry on disk if the directory and file are safe and it unpickles."""
        if not _safe_directory(self.directory):
            return None
        try:
            fd = os.open(self.file, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with open(fd, "rb") as f:
            st = os.fstat(f.fileno())
            if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
                log.warning("ignoring configuration cache %s: not a private file of ours",
                            self.file)
                return None
            try:
                entry = without_gc(lambda: _unpickle(f), freeze=freeze)
                if not isinstance(entry, Entry):
                    raise TypeError(f"holds a {type(entry).__name__}")
            except Exception as e:  # noqa: BLE001 - whatever a damaged file raises: reload
                log.warning("ignoring corrupt configuration cache %s (%s: %s); loading %s",
                            self.file, type(e).__name__, e, self.key[-1])
                return None
        return entry

    def write(self, entry: Entry, background: bool = False) -> None:
        """Replace the file with ``entry`` (atomically; a failure only costs the next load).

        ``background``: in a detached grandchild (double fork; signals reset, descriptors
        closed), so that neither ``-n`` nor a starting daemon waits the seconds 10,000
        remotes take to pickle; the child only pickles, writes and ``_exit``s (no logging: a
        lock another thread held at the fork would never be released in it).
        """
        if not _safe_directory(self.directory):
            return
        if not background:
            self._write(entry)
            return
        try:
            child = os.fork()
        except OSError:
            self._write(entry)
            return
        if child:
            os.waitpid(child, 0)
            return
        try:  # the child: fork again so init, not the daemon, reaps the writer
            if os.fork() == 0:
                _detach()
                self._write(entry, quiet=True)
        finally:
            os._exit(0)

    def _write(self, entry: Entry, quiet: bool = False) -> None:
        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
        pickler.dispatch_table = _REDUCERS
        without_gc(lambda: pickler.dump(entry))
        tmp = f"{self.file}.{os.getpid()}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            with open(fd, "wb") as f:
                f.write(buf.getbuffer())
            os.replace(tmp, self.file)
        except OSError as e:
            if not quiet:
                log.debug("cannot write configuration cache %s: %s", self.file, e)
            with contextlib.suppress(OSError):
                os.unlink(tmp)


def _detach() -> None:
    # asyncio's handlers write the signal to a descriptor the daemon's loop reads: a signal
    # meant for the writer (a service manager stopping everything) must not reach them.
    with contextlib.suppress(ValueError, OSError):
        signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
        signal.signal(sig, signal.SIG_DFL)
    # Nor may it hold what the daemon's caller waits on: out=$(iked -n) reads to EOF.
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def _safe_directory(directory: str) -> bool:
    """Ours and writable by nobody else: another user must not plant a pickle there."""
    try:
        st = os.stat(directory)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.geteuid() and not st.st_mode & 0o022


def load_checked(path: str, daemon: str, *, environ: Mapping[str, str] | None = None,
                 freeze: bool = False, background: bool = False, defer: bool = False
                 ) -> tuple[Config, list[ConfigWarning]]:
    """:func:`~racoon2.config.load_config` and :func:`~racoon2.config.check.check_config` as
    ``daemon``, from the cache when nothing they depend on changed; raises ConfigError.

    ``freeze`` (a daemon's start and ``-n``): the model is kept out of the cyclic collector's
    scans (:func:`racoon2.config.without_gc`); every load unfreezes what a start froze.
    ``background`` (the same): a new entry is written by a detached process
    (:meth:`Cache.write`).  ``defer``: a new entry is written by the caller's :func:`save`
    instead (one write with what the daemon adds to it).
    """
    env = os.environ if environ is None else environ
    config, cache, entry, dirty = load(path, env, default_dir(env), freeze)
    if cache is None or entry is None:
        return config, check_config(config, daemon)
    found = entry.checks.get(daemon)
    if found is not None and found[0].unchanged() is None:
        warnings = list(found[1])
    else:
        with recording(Deps()) as deps:
            warnings = check_config(config, daemon)
        entry.checks[daemon] = (deps, list(warnings))
        dirty = True
    if dirty and defer:
        _unsaved.add((cache.key[-1], daemon))
    elif dirty:  # one write for the load and the check: pickling 10,000 remotes takes a while
        cache.write(entry, background)
    _kept[(cache.key[-1], daemon)] = (cache, entry)
    return config, warnings


def derived(path: str, daemon: str, name: str, key: object) -> Any:
    """What :func:`save` kept as ``name`` with ``key`` in the entry of the last load of
    ``path`` as ``daemon``, or None (no entry, none kept, another key)."""
    kept = _kept.get((os.path.abspath(path), daemon))
    found = kept[1].derived.get(name) if kept is not None else None
    return found[1] if found is not None and found[0] == key else None


def save(path: str, daemon: str, value: tuple[str, object, Any] | None = None, *,
         background: bool = False) -> None:
    """Write the entry of the last load of ``path`` as ``daemon`` when :func:`load_checked`
    deferred it or ``value`` = (name, key, value) is new to it.  The value must follow from
    the entry's configuration and the key alone: it is used as long as the entry is."""
    where = (os.path.abspath(path), daemon)
    kept = _kept.get(where)
    if kept is None:
        return
    cache, entry = kept
    dirty = where in _unsaved
    _unsaved.discard(where)
    if value is not None and entry.derived.get(value[0]) != value[1:]:
        entry.derived[value[0]] = value[1:]
        dirty = True
    if dirty:
        cache.write(entry, background)


def check_config(config: Config, daemon: str) -> list[ConfigWarning]:
    """:func:`racoon2.config.check.check_config`, imported only when a check runs: a start
    from the cache needs none, and its imports were a tenth of spmd's start."""
    from racoon2.config import check

    return check.check_config(config, daemon)


def preload() -> None:
    """Import what a reload needs and a start from the cache did not (the parser, builder
    and checks): a daemon calls it once it serves, so that its first SIGHUP does not wait
    for them."""
    import racoon2.config.build
    import racoon2.config.check  # noqa: F401


#: The entry of the last :func:`load_checked` of a file as a daemon, for its next reload.
_kept: dict[tuple[object, str], tuple[Cache, Entry]] = {}
#: Those of ``_kept`` whose write :func:`load_checked` left to :func:`save`.
_unsaved: set[tuple[object, str]] = set()


def _nothing() -> None:
    pass


@dataclass(slots=True)
class Reloaded:
    """What :func:`reload_checked` found.  ``previous``: the configuration this one was made
    from by reading only selectors again (None after a full load); ``save`` writes its cache
    entry (in the background when asked), for the caller to run once it has applied it."""

    config: Config
    warnings: list[ConfigWarning]
    previous: Config | None = None
    save: Callable[[], None] = _nothing


def reload_checked(path: str, daemon: str, *, environ: Mapping[str, str] | None = None,
                   background: bool = False) -> Reloaded:
    """:func:`load_checked` for a reload: when only selectors of the files the last load of
    ``path`` as ``daemon`` read have changed and nothing else it depended on has, only those
    are read again (racoon2.config.incremental) and the whole configuration checked; anything
    else, an error included, is :func:`load_checked` (so an error reads as it always did)."""
    env = os.environ if environ is None else environ
    kept = _kept.get((os.path.abspath(path), daemon))
    if kept is not None:
        found = _incremental(kept[0], kept[1], daemon, env, background)
        if found is not None:
            return found
    config, warnings = load_checked(path, daemon, environ=env, background=background)
    return Reloaded(config, warnings)


def _incremental(cache: Cache, entry: Entry, daemon: str, environ: Mapping[str, str],
                 background: bool) -> Reloaded | None:
    base = entry.baseline
    if base is None:
        return None
    for name, value in entry.env.items():
        if environ.get(name) != value:
            return None
    # Everything but the configuration files themselves must be as it was.
    others = Deps({p: i for p, i in entry.deps.files.items() if p not in base.files},
                  entry.deps.present, entry.deps.globs)
    if others.unchanged() is not None:
        return None
    env = Env(environ)
    found = update(base, entry.config, env)
    if found is None or not found.changed:
        return None  # nothing changed: the cache's load, and the caller reconciles it all
    try:
        with recording(Deps()) as deps:
            warnings = check_config(found.config, daemon)
    except ConfigError:
        return None
    files = dict(entry.deps.files)
    files.update((p, found.baseline.files[p].ident) for p in found.changed)
    new = Entry(entry.key, Deps(files, dict(entry.deps.present), dict(entry.deps.globs)),
                {**entry.env, **env.seen}, found.config, {daemon: (deps, list(warnings))},
                found.baseline)
    _kept[(cache.key[-1], daemon)] = (cache, new)
    return Reloaded(found.config, warnings, entry.config, lambda: cache.write(new, background))


def load_cached(path: str, *, environ: Mapping[str, str] | None = None,
                freeze: bool = False, background: bool = False) -> Config:
    """:func:`~racoon2.config.load_config` from the cache when nothing changed (SIGHUP);
    ``freeze`` and ``background`` as for :func:`load_checked`."""
    env = os.environ if environ is None else environ
    config, cache, entry, dirty = load(path, env, default_dir(env), freeze)
    if cache is not None and entry is not None and dirty:
        cache.write(entry, background)
    return config


def load(path: str, environ: Mapping[str, str], directory: str | None, freeze: bool = False
         ) -> tuple[Config, Cache | None, Entry | None, bool]:
    """The configuration at ``path``: the cached one when still valid, else a fresh load;
    with the cache and entry to keep it in (None: not kept), and whether the entry is new."""
    # What the start froze is the configuration this load replaces: give it back to the
    # collector.  A reload does not freeze again, or each replaced model would stay frozen.
    gc.unfreeze()
    for kept in [k for k in _kept if k[0] == os.path.abspath(path)]:
        del _kept[kept]  # a full load replaces what an incremental reload would start from
        _unsaved.discard(kept)
    if directory is None:
        return full(path, environ, freeze=freeze)[0], None, None, False
    try:
        cache = Cache(directory, os.path.abspath(path))
    except OSError:  # the working directory is gone: relative includes would mean nothing
        return full(path, environ, freeze=freeze)[0], None, None, False
    entry = cache.read(freeze)
    if entry is not None:
        why = entry.valid(cache.key, environ)
        if why is None:
            return entry.config, cache, entry, False
        log.debug("configuration cache %s is stale: %s", cache.file, why)
    env = Env(environ)
    with recording(Deps()) as deps:
        config, baseline = full(path, env, freeze=freeze)
    if sum(ident[2] for ident in deps.files.values() if ident is not None) < MIN_SIZE:
        return config, None, None, False
    return config, cache, Entry(cache.key, deps, env.seen, config, baseline=baseline), True


# -- pickling ---------------------------------------------------------------------------------
# The model is frozen slotted dataclasses.  Their own pickling calls a Python __setstate__ that
# sets each of their fields (KmpBlock has 71) with object.__setattr__: most of the time of a
# load.  Instead each object is made as an instance of a mutable twin class with the same
# slots, filled by the unpickler's C code, and given its real class once the whole model is
# in (``__class__`` assignment is allowed between classes of the same layout).  The model is
# frozen for its users, so no code sees it before that.  Config's effective_cache is keyed
# by id() and starts empty in the loading process.

_made: list[Any] = []


def _blank(cls: type) -> Any:
    obj: Any = object.__new__(_TWIN[cls])
    _made.append(obj)
    return obj


def _unpickle(f: BinaryIO) -> Any:
    """pickle.load with the model's objects turned into what they are."""
    _made.clear()
    try:
        found = pickle.load(f)
        for obj in _made:
            cls = _REAL[type(obj)]
            obj.__class__ = cls
            for name, factory in _FRESH.get(cls, ()):
                object.__setattr__(obj, name, factory())
        return found
    finally:
        _made.clear()


def _reducer(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    names = tuple(n for n in _slots(cls) if n not in dict(_FRESH.get(cls, ())))

    def reduce(obj: Any) -> tuple[Any, ...]:
        return _blank, (cls,), (None, {n: getattr(obj, n) for n in names})

    return reduce


def _slots(cls: type) -> tuple[str, ...]:
    slots: tuple[str, ...] = vars(cls)["__slots__"]
    return slots


def _proxy(items: dict[str, Any]) -> MappingProxyType[str, Any]:
    return MappingProxyType(items)


def _network(cls: type, address: int, prefixlen: int) -> Any:
    return cls((address, prefixlen))


def _address(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> tuple[Any, ...]:
    # The default pickles the text, which the constructor parses again: an int does not.
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        return type(addr), (str(addr),)
    return type(addr), (int(addr),)


def _net(net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> tuple[Any, ...]:
    return _network, (type(net), int(net.network_address), net.prefixlen)


_MODEL = [cls for cls in vars(model).values() if isinstance(cls, type)
          and dataclasses.is_dataclass(cls) and cls.__module__ == model.__name__]
#: Fields that are no part of the value (memos): made afresh, never pickled.
_FRESH: dict[type, tuple[tuple[str, Callable[[], Any]], ...]] = {
    cls: fresh for cls in _MODEL
    if (fresh := tuple((f.name, f.default_factory) for f in dataclasses.fields(cls)
                       if not f.init and f.default_factory is not dataclasses.MISSING))}
_TWIN: dict[type, type] = {
    cls: type(cls.__name__, cls.__bases__, {"__slots__": _slots(cls), "__module__": __name__})
    for cls in _MODEL}
_REAL: dict[type, type] = {twin: cls for cls, twin in _TWIN.items()}
_REDUCERS: dict[type, Any] = dict(copyreg.dispatch_table)
_REDUCERS[MappingProxyType] = lambda m: (_proxy, (dict(m),))
_REDUCERS.update({ipaddress.IPv4Address: _address, ipaddress.IPv6Address: _address,
                  ipaddress.IPv4Network: _net, ipaddress.IPv6Network: _net})
_REDUCERS.update((cls, _reducer(cls)) for cls in _MODEL)
