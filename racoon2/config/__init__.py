"""racoon2.conf: read a configuration file into one immutable, typed model.

``load_config(path)`` is the only entry point daemons need: it reads the file and its includes,
checks the syntax of every directive, resolves references and returns a
:class:`~racoon2.config.model.Config`.  Any problem raises :class:`~racoon2.errors.ConfigError`
whose text starts with ``file:line:``.  Per-daemon checks live in :mod:`racoon2.config.check`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Callable, Mapping
from typing import TypeVar

from racoon2.config.model import Config

__all__ = ["Config", "load_config", "loads", "without_gc"]

T = TypeVar("T")


def load_config(path: str, *, environ: Mapping[str, str] | None = None,
                freeze: bool = False) -> Config:
    """Read ``path`` (and what it includes) into a :class:`Config`; raises ConfigError.
    ``freeze``: see :func:`without_gc`."""
    # Imported here: a daemon that starts from the load cache (racoon2.confcache) never
    # parses, and these imports were a tenth of spmd's start.
    from racoon2.config.build import build
    from racoon2.config.files import read_tree

    env = os.environ if environ is None else environ
    return without_gc(lambda: build(read_tree(path, env), path, env), freeze=freeze)


def loads(text: str, file: str = "<text>", *, environ: Mapping[str, str] | None = None
          ) -> Config:
    """Like :func:`load_config` for configuration text already in memory (named ``file``)."""
    from racoon2.config.build import build
    from racoon2.config.files import tree_of_text

    env = os.environ if environ is None else environ
    return without_gc(lambda: build(tree_of_text(text, file, env), file, env))


def without_gc(load: Callable[[], T], *, freeze: bool = False) -> T:
    """``load()`` with the cyclic collector off: a large configuration makes millions of small
    acyclic objects that it would rescan again and again (it doubled the load time of 10,000
    remotes, and made unpickling them from the cache ten times slower).

    With ``freeze`` (a daemon's first configuration, or ``-n``'s) what is in memory then is
    moved out of the collector's sight (``gc.freeze``) before it is turned back on: otherwise
    its next collection scans the whole model once, which costs as much as a quarter of the
    load.  racoon2.confcache unfreezes before every later load, so a replaced configuration
    is collected as usual.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        return load()
    finally:
        if freeze:
            gc.freeze()
        if collecting:
            gc.enable()
