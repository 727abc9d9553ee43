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

from racoon2.config.build import build as _build
from racoon2.config.files import read_tree, tree_of_text
from racoon2.config.model import Config

__all__ = ["Config", "load_config", "loads"]


def load_config(path: str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (and what it includes) into a :class:`Config`; raises ConfigError."""
    env = os.environ if environ is None else environ
    return _without_gc(lambda: _build(read_tree(path, env), path, env))


def loads(text: str, file: str = "<text>", *, environ: Mapping[str, str] | None = None
          ) -> Config:
    """Like :func:`load_config` for configuration text already in memory (named ``file``)."""
    env = os.environ if environ is None else environ
    return _without_gc(lambda: _build(tree_of_text(text, file, env), file, env))


def _without_gc(load: Callable[[], Config]) -> Config:
    # A large configuration makes millions of small acyclic objects; the cyclic collector
    # would rescan them again and again (it doubled the load time of 10,000 remotes).
    collecting = gc.isenabled()
    gc.disable()
    try:
        return load()
    finally:
        if collecting:
            gc.enable()
