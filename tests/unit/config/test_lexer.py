"""Lexical rules of racoon2.conf (doc/config.md §1)."""

from __future__ import annotations

import pytest

from racoon2.config.lexer import KEYWORD, PUNCT, QUOTED, STRING, tokenize
from racoon2.errors import ConfigError


def kinds(text: str) -> list[tuple[int, str]]:
    return [(k, t) for k, t, _ in tokenize(text, "f")]


@pytest.mark.parametrize("word", [
    "10.0.0.0/24", "::1", "fe80::1%eth0", "MY_IPV6%fxp0", "kink/host@REALM", "-5",
    "10.0.0.1-10.0.0.9", "a*b?c", "0x1F",
])
def test_bare_word_is_one_token(word: str) -> None:
    assert kinds(word) == [(STRING, word)]


def test_keywords_exact_match_only_and_case_sensitive() -> None:
    assert kinds("on one ESP esp") == [(KEYWORD, "on"), (STRING, "one"), (STRING, "ESP"),
                                       (KEYWORD, "esp")]


def test_quoted_text_is_never_a_keyword_and_has_no_escapes() -> None:
    assert kinds('"main" "a\\b" ""') == [(QUOTED, "main"), (QUOTED, "a\\b"), (QUOTED, "")]


def test_punctuation_and_comments() -> None:
    assert kinds("a{b;c,d} # x y\nfoo#bar\n") == [
        (STRING, "a"), (PUNCT, "{"), (STRING, "b"), (PUNCT, ";"), (STRING, "c"),
        (PUNCT, ","), (STRING, "d"), (PUNCT, "}"), (STRING, "foo"),
    ]


def test_lines_count_crlf_and_newlines_inside_quotes() -> None:
    toks = tokenize('a\r\n"x\ny"\nb', "f")
    assert [(t, line) for _, t, line in toks] == [("a", 1), ("x\ny", 2), ("b", 4)]


@pytest.mark.parametrize(("text", "line", "char"), [
    ("a;\n$x;", 2, "'$'"), ("a = b;", 1, "'='"), ("\n\n[x]", 3, "'['"), ("!", 1, "'!'"),
])
def test_bad_character_names_line_and_character(text: str, line: int, char: str) -> None:
    with pytest.raises(ConfigError) as e:
        tokenize(text, "f.conf")
    assert str(e.value).startswith(f"f.conf:{line}: found character {char}")


def test_unterminated_quote() -> None:
    with pytest.raises(ConfigError, match=r"^f:2: found a quoted string that never ends"):
        tokenize('a;\n"abc', "f")
