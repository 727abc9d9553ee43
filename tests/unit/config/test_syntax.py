"""Statement shape and its errors (doc/config.md §1), through load_config."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from racoon2.config import Config
from racoon2.errors import ConfigError

Load = Callable[..., Config]


@pytest.mark.parametrize(("text", "where", "message"), [
    ("sa a { spi 1 };", ":1:", "found '}', expected ';' after '1'"),
    ("sa a { spi 1; }\nsa b { spi 2; };", ":1:", "expected ';' after the '}' of 'sa a'"),
    ("sa a { spi 1;\n", ":1:", "found end of file, expected '}' to close 'sa a' opened at line 1"),
    ("sa a { spi 1; };\n};", ":2:", "found '}', expected a directive (no block is open)"),
    ("sa a { spi 1; };;", ":1:", "found ';', expected a directive"),
    ("{ spi 1; };", ":1:", "found '{', expected a directive name before it"),
    ("sa a { spi 1; }", ":1:", "found end of file, expected ';' after the '}'"),
    ("sa a { spi 1; };\nfoo;", ":2:", "found 'foo', expected a section"),
    ("remote main { };", ":1:", "found 'main', expected a name for the remote"),
])
def test_syntax_errors(load: Load, text: str, where: str, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        load(text)
    assert where in str(e.value) and message in str(e.value)


def test_quoted_reserved_word_is_a_name(load: Load) -> None:
    cfg = load('remote "main" { acceptable_kmp ikev2; };')
    assert cfg.remote("main") is not None


def test_script_one_line_form_anywhere(load: Load) -> None:
    """The C grammar needed 'script T P;;' unless last; we accept it anywhere (doc/config.md)."""
    cfg = load("""remote r { ikev2 {
        script phase1_up "/a"; passive on; script { child_up "/b"; }; }; };
        remote s { ikev1 { script phase1_up "/c";; passive on; }; };""")
    block = cfg.remote("r").ikev2  # type: ignore[union-attr]
    assert block is not None and block.passive is True
    # rcf_fix_script keeps one path per hook type: the two directives fill different types.
    assert [s.path for s in block.script or ()] == ["/a", "/b"]


def test_empty_braced_list_is_an_error_except_where_allowed(load: Load) -> None:
    with pytest.raises(ConfigError, match="found an empty list, expected at least one"):
        load("sa a { esp_enc_alg { }; };")
    cfg = load("remote r { ikev2 { request { }; provide { }; script { }; }; };"
               "addresspool p { };")
    assert cfg.addresspool("p") is not None
