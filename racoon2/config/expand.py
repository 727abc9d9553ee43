"""``${NAME}`` (setval) and ``$[NAME]`` (environment) expansion of string values (doc/config.md)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from racoon2.errors import ConfigError

_SETVAL = re.compile(r"\$\{([^}]*)\}")
_ENV = re.compile(r"\$\[([^\]]*)\]")
#: The C loader loops forever on a self-referencing setval; we stop after this many rounds.
MAX_ROUNDS = 64


def expand(
    text: str, setval: Mapping[str, str] | None, environ: Mapping[str, str], where: str,
    what: str = "value",
) -> str:
    """Replace every ``${NAME}`` from ``setval`` (repeatedly), then every ``$[NAME]``.

    ``setval`` is None where no table exists yet (include paths, the setval section itself).
    """
    if "$" not in text:
        return text
    for _ in range(MAX_ROUNDS):
        if "${" not in text:
            break
        m = _SETVAL.search(text)
        if m is None:
            raise ConfigError(f"found '${{' without '}}' in {what} {text!r}, expected ${{NAME}}",
                              where)
        name = m.group(1)
        if setval is None:
            raise ConfigError(
                f"found ${{{name}}} in {what} {text!r}, expected no setval reference here",
                where, "setval values are not available in include paths or in setval itself",
            )
        if name not in setval:
            raise ConfigError(f"found ${{{name}}}, expected a name defined by setval", where)
        text = text[: m.start()] + setval[name] + text[m.end():]
    else:
        raise ConfigError(f"found a setval reference that never ends expanding in {what}",
                          where, "a setval value refers to itself")
    return expand_env(text, environ, where, what)


def expand_env(text: str, environ: Mapping[str, str], where: str, what: str = "value") -> str:
    """Replace every ``$[NAME]`` by the environment variable; ``${NAME}`` is an error here."""
    if "$" not in text:
        return text
    if "${" in text:
        return expand(text, None, environ, where, what)
    for _ in range(MAX_ROUNDS):
        if "$[" not in text:
            return text
        m = _ENV.search(text)
        if m is None:
            raise ConfigError(f"found '$[' without ']' in {what} {text!r}, expected $[NAME]",
                              where)
        name = m.group(1)
        if name not in environ:
            raise ConfigError(f"found $[{name}], expected a set environment variable", where)
        text = text[: m.start()] + environ[name] + text[m.end():]
    raise ConfigError(f"found an environment reference that never ends expanding in {what}",
                      where)
