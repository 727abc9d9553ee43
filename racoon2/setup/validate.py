"""The setup YAML checked against :data:`racoon2.setup.schema.SCHEMA`, with line numbers.

pyyaml's composer gives every node its mark, so each error is ``FILE:LINE: found X, expected
Y`` like racoon2.conf's (doc/config.md).  The validator knows the JSON Schema keywords the
schema uses (type, const, enum, properties, required, additionalProperties, items,
minItems, maxItems, pattern, oneOf chosen by a ``const`` property, default) and this tool's
formats; the result is plain data with the defaults filled in.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

import yaml

from racoon2.errors import ConfigError
from racoon2.setup.schema import SCHEMA

_LABEL = r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)"
_DNS = re.compile(rf"^{_LABEL}(\.{_LABEL})*\.?$")
_EMAIL = re.compile(rf"^[A-Za-z0-9._+-]+@{_LABEL}(\.{_LABEL})*$")
_PRINCIPAL = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)?@[A-Z0-9._-]+$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]*$")

#: What each ``type`` means in YAML's terms.
_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "integer": (int,), "boolean": (bool,), "array": (list,),
    "object": (dict,),
}
_TYPE_WORDS = {"string": "a string", "integer": "a number", "boolean": "true or false",
               "array": "a list", "object": "a mapping"}


def _address(text: str) -> str | None:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return "an IPv4 or IPv6 address such as 192.0.2.1 or 2001:db8::1"
    return None


def _prefix(text: str) -> str | None:
    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        try:
            net = ipaddress.ip_network(text, strict=False)
        except ValueError:
            return "a network such as 192.0.2.0/24 or 2001:db8:1::/64"
        return f"a network address without host bits ({net})"
    return None


def _identity(text: str) -> str | None:
    if _address(text) is None or _DNS.match(text) or _EMAIL.match(text):
        return None
    return "an IP address, a DNS name (vpn.example.net) or user@domain"


def _principal(text: str) -> str | None:
    return None if _PRINCIPAL.match(text) else \
        "a Kerberos principal such as kink/host.example.com@EXAMPLE.COM"


def _path(text: str) -> str | None:
    return None if _PATH.match(text) else \
        "an absolute path of letters, digits and . _ / + - (racoon2.conf quotes it)"


FORMATS: dict[str, Callable[[str], str | None]] = {
    "ip-address": _address, "ip-prefix": _prefix, "identity": _identity,
    "principal": _principal, "conf-path": _path,
}

#: libyaml's parser when pyyaml has it (five times faster, the same nodes and marks).
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Checker:
    def __init__(self, file: str, loader: yaml.SafeLoader) -> None:
        self.file = file
        self.loader = loader

    def fail(self, node: yaml.Node, found: str, expected: str, hint: str | None = None
             ) -> ConfigError:
        return ConfigError(f"found {found}, expected {expected}",
                           f"{self.file}:{node.start_mark.line + 1}", hint)

    def found(self, node: yaml.Node) -> str:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        value = self.loader.construct_object(node)
        return "nothing" if value is None else repr(value)

    def check(self, node: yaml.Node, schema: dict[str, Any], what: str) -> Any:
        """The plain value of ``node`` if it matches ``schema``; else ConfigError."""
        if "oneOf" in schema:
            node_value = self.check(node, {k: v for k, v in schema.items() if k != "oneOf"},
                                    what)
            return self.check(node, self._branch(node, schema["oneOf"], node_value), what)
        if isinstance(node, yaml.MappingNode):
            value: Any = self._mapping(node, schema, what)
        elif isinstance(node, yaml.SequenceNode):
            value = [self.check(item, schema.get("items", {}), what) for item in node.value]
        else:
            value = self.loader.construct_object(node)
        self._scalar_rules(node, value, schema, what)
        return value

    def _branch(self, node: yaml.Node, branches: list[dict[str, Any]], value: dict[str, Any]
                ) -> dict[str, Any]:
        # Each branch is told apart by one const property ("case"): pick the one that fits.
        for branch in branches:
            consts = {k: p["const"] for k, p in branch["properties"].items() if "const" in p}
            if all(value.get(k, c) == c for k, c in consts.items()):
                return branch
        raise self.fail(node, "no branch", "one of the cases")  # the enum before says which

    def _mapping(self, node: yaml.MappingNode, schema: dict[str, Any], what: str
                 ) -> dict[str, Any]:
        props: dict[str, Any] = schema.get("properties", {})
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self.loader.construct_object(key_node)
            if not isinstance(key, str):
                raise self.fail(key_node, self.found(key_node), f"a key of {what}")
            if key in out:
                raise self.fail(key_node, f"'{key}' a second time", f"each key of {what} once")
            if key not in props:
                if schema.get("additionalProperties", True) is False:
                    raise self.fail(key_node, f"key '{key}'", f"one of {', '.join(props)}",
                                    _unknown_hint(key))
                out[key] = self.loader.construct_object(value_node, deep=True)
                continue
            out[key] = self.check(value_node, props[key], f"'{key}'")
        for key in schema.get("required", []):
            if key not in out:
                hint = props.get(key, {}).get("description")
                raise self.fail(node, f"no '{key}'", f"'{key}' in {what}", hint)
        for key, prop in props.items():
            if key not in out and "default" in prop:
                out[key] = prop["default"]
        return out

    def _scalar_rules(self, node: yaml.Node, value: Any, schema: dict[str, Any], what: str
                      ) -> None:
        hint = schema.get("description")
        if "type" in schema:
            types = _TYPES[schema["type"]]
            if not isinstance(value, types) or (bool not in types and isinstance(value, bool)):
                raise self.fail(node, self.found(node), f"{_TYPE_WORDS[schema['type']]} for "
                                f"{what}", hint)
        if "const" in schema and value != schema["const"]:
            raise self.fail(node, self.found(node), f"{schema['const']!r} for {what}", hint)
        if "enum" in schema and value not in schema["enum"]:
            raise self.fail(node, self.found(node), f"one of {', '.join(schema['enum'])} for "
                            f"{what}", _unknown_hint(str(value)) or hint)
        if isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                raise self.fail(node, "an empty list", f"at least one entry in {what}")
            if len(value) > schema.get("maxItems", len(value)):
                raise self.fail(node, f"{len(value)} entries",
                                f"at most {schema['maxItems']} in {what}")
        if isinstance(value, str):
            if "pattern" in schema and not re.search(schema["pattern"], value):
                raise self.fail(node, repr(value), f"{what} to match {schema['pattern']}", hint)
            problem = FORMATS[schema["format"]](value) if "format" in schema else None
            if problem is not None:
                raise self.fail(node, repr(value), f"{problem} for {what}")


def _unknown_hint(word: str) -> str | None:
    if word.lower() in ("eap", "eap_users", "users", "eap-mschapv2", "mschapv2"):
        return ("EAP user names and passwords are for case vpn-server: auth: eap, the users "
                "in clients")
    return None


def validate(text: str, file: str) -> tuple[dict[str, Any], dict[str, int]]:
    """The setup answers in ``text`` (YAML, named ``file`` in errors), checked against the
    schema, defaults filled in, and the line of each top-level key (for the checks that span
    several answers); raises ConfigError ``FILE:LINE: found X, expected Y``."""
    loader = _LOADER(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError("found an empty document, expected a mapping with 'case'",
                              f"{file}:1")
        values = dict(_Checker(file, loader).check(node, SCHEMA, "the setup"))
        lines = {str(k.value): k.start_mark.line + 1 for k, _ in node.value}
        return values, lines
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = str(e.problem or "a syntax error")
        m = re.match(r"expected (.*), but found (.*)", problem)
        found, expected = (m.group(2), m.group(1)) if m else (
            f"a YAML syntax error ({problem})", "valid YAML")
        raise ConfigError(f"found {found}, expected {expected}", f"{file}:{line}",
                          e.context) from None
    finally:
        loader.dispose()
