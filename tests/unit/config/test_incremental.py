"""The incremental reload (racoon2.config.incremental) against a full load of the same files:
for each edit the model is equal, the selectors that did not change are the same objects, and
what it cannot scope (another kind of statement, moved lines, an include, a policy no selector
reached, an error) is left to a full load, which reports the error it always did."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from racoon2 import confcache
from racoon2.config import load_config
from racoon2.config.check import check_config
from racoon2.config.incremental import Baseline, full, update
from racoon2.config.model import Config
from racoon2.errors import ConfigError

HEAD = """setval {{ NET "198.51.100"; }};
interface {{ spmd {{ unix "{d}/spmif"; }}; spmd_password "{d}/spmd.pwd"; }};
remote r {{ acceptable_kmp {{ ikev2; }}; ikev2 {{ peers_ipaddr 203.0.113.9; }}; }};
policy p {{ action auto_ipsec; remote_index r; ipsec_mode transport; ipsec_level require;
	ipsec_index i; }};
policy q {{ action auto_ipsec; ipsec_mode transport; ipsec_level require; ipsec_index i; }};
policy unused {{ action auto_ipsec; ipsec_index i; }};
ipsec i {{ sa_index e; }};
sa e {{ sa_protocol esp; }};
"""


def sel(i: int, dst: str | None = None, policy: str = "p", extra: str = "") -> str:
    dst = dst or '"${NET}.' + str(i) + '"'
    return (f"selector s{i} {{ direction outbound; src 192.0.2.1; "
            f"dst {dst}; upper_layer_protocol any; policy_index {policy};"
            f"{extra} }};\n")


class Files:
    """A configuration in ``tmp_path`` and its last good load."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "racoon2.conf"
        self.selectors = [sel(i) for i in range(20)]
        self.tail = ""
        self.write()
        self.config, base = full(str(self.conf), os.environ)
        assert base is not None and self.config == load_config(str(self.conf))
        self.base: Baseline = base

    def write(self) -> None:
        self.conf.write_text(HEAD.format(d=self.root) + "".join(self.selectors) + self.tail)
        # The identity includes mtime and ctime: make each write visibly a new one.
        st = self.conf.stat()
        os.utime(self.conf, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))

    def reload(self) -> Config | None:
        """The incremental result after the files changed (None: it left it to a full load),
        checked against a full load; the new baseline is kept."""
        found = update(self.base, self.config, os.environ)
        if found is None:
            return None
        assert found.config == load_config(str(self.conf))
        assert found.config.notes == load_config(str(self.conf)).notes
        self.config, self.base = found.config, found.baseline
        return found.config


@pytest.fixture
def files(tmp_path: Path) -> Files:
    pwd = tmp_path / "spmd.pwd"
    pwd.write_text("secret")
    pwd.chmod(0o600)
    return Files(tmp_path)


def same_objects(old: Config, new: Config, changed: set[str]) -> None:
    """Every selector not named in ``changed`` is the previous load's object."""
    before = {s.name: s for s in old.selectors}
    for s in new.selectors:
        if s.name not in changed and s.name in before:
            assert s is before[s.name]


def test_nothing_changed_is_the_same_config(files: Files) -> None:
    old = files.config
    assert files.reload() is old


def test_one_selector_changed(files: Files) -> None:
    old = files.config
    files.selectors[7] = sel(7, "203.0.113.0/24")
    files.write()
    new = files.reload()
    assert new is not None
    assert str(new.selector("s7").dst[0].address) == "203.0.113.0"  # type: ignore[union-attr]
    assert new.selector("s7").policy is old.selector("s7").policy  # type: ignore[union-attr]
    same_objects(old, new, {"s7"})


def test_selector_moved_to_another_reached_policy(files: Files) -> None:
    files.selectors[3] = sel(3, policy="q")
    files.selectors[5] = sel(5, policy="q")
    files.write()
    assert files.reload() is None  # q is reached by no selector yet: a full load links it
    files.config, base = full(str(files.conf), os.environ)
    assert base is not None
    files.base = base
    files.selectors[9] = sel(9, policy="q")
    files.write()
    new = files.reload()
    assert new is not None and new.selector("s9").policy.name == "q"  # type: ignore[union-attr]


def test_selector_added_and_removed_at_the_end(files: Files) -> None:
    old = files.config
    files.selectors.append(sel(20))
    files.write()
    new = files.reload()
    assert new is not None and len(new.selectors) == 21
    same_objects(old, new, {"s20"})
    del files.selectors[-2:]
    files.write()
    new = files.reload()
    assert new is not None and [s.name for s in new.selectors][-1] == "s18"


def test_two_selectors_on_one_line_become_one(files: Files) -> None:
    files.selectors[-1] = sel(19).rstrip("\n") + " " + sel(21)
    files.write()
    files.config, base = full(str(files.conf), os.environ)
    assert base is not None
    files.base = base
    files.selectors[-1] = sel(21)
    files.write()
    new = files.reload()
    assert new is not None and "s19" not in [s.name for s in new.selectors]


def test_an_edit_that_moves_lines_is_a_full_load(files: Files) -> None:
    files.selectors.insert(4, sel(99))
    files.write()
    assert files.reload() is None


def test_the_selectors_notes_are_where_a_full_load_has_them(files: Files) -> None:
    files.selectors[2] = sel(2, extra=" direction inbound;")  # a repeated directive: a note
    files.write()
    new = files.reload()
    assert new is not None
    assert any("repeated" in n.message for n in new.notes)
    files.selectors[2] = sel(2)
    files.write()
    new = files.reload()
    assert new is not None and not any("repeated" in n.message for n in new.notes)


@pytest.mark.parametrize("edit", [
    lambda text: text.replace("ipsec_level require;\n\tipsec_index i; };",
                              "ipsec_level use;\n\tipsec_index i; };"),  # policy changed
    lambda text: text.replace("peers_ipaddr 203.0.113.9;", "peers_ipaddr 203.0.113.10;"),
    lambda text: text.replace('"198.51.100"', '"198.51.101"'),  # a macro the selectors use
    lambda text: text.replace("sa_protocol esp;", "sa_protocol ah;"),
], ids=["policy", "remote", "setval", "sa"])
def test_other_statements_are_a_full_load(files: Files, edit: Callable[[str], str]) -> None:
    text = files.conf.read_text()
    files.conf.write_text(edit(text))
    assert edit(text) != text
    assert files.reload() is None


def test_the_policy_reach_changing_is_a_full_load(files: Files) -> None:
    for i in range(20):
        files.selectors[i] = sel(i, policy="q" if i == 0 else "p")
    files.write()
    files.config, base = full(str(files.conf), os.environ)
    assert base is not None
    files.base = base
    files.selectors[0] = sel(0)  # q no longer reached: remote r's policies stay, q unlinked
    files.write()
    assert files.reload() is None


def test_include(files: Files) -> None:
    inc = files.root / "more.conf"
    inc.write_text(sel(50) + sel(51))
    files.tail = f'include "{files.root}/more*.conf";\n' + sel(60)
    files.write()
    files.config, base = full(str(files.conf), os.environ)
    assert base is not None
    files.base = base
    old = files.config
    inc.write_text(sel(50) + sel(51, "203.0.113.51"))  # a selector in the included file
    new = files.reload()
    assert new is not None
    assert [s.name for s in new.selectors][-3:] == ["s50", "s51", "s60"]
    same_objects(old, new, {"s51"})
    (files.root / "more2.conf").write_text(sel(52))  # the include matches one more file
    assert files.reload() is None
    (files.root / "more2.conf").unlink()
    files.tail = f'include "{files.root}/mor*.conf";\n' + sel(60)  # the include changed
    files.write()
    assert files.reload() is None


@pytest.mark.parametrize("bad", [
    sel(7, "203.0.113.0/33"),  # a value error in the changed statement
    sel(7).replace("};", "}"),  # a syntax error
    sel(7, policy="nosuch"),  # a reference to nothing
    "selector s7 { direction outbound; src 192.0.2.1; dst \"unclosed; };\n",
], ids=["value", "syntax", "reference", "quote"])
def test_an_error_is_a_full_load_with_its_message(files: Files, bad: str) -> None:
    old = files.config
    files.selectors[7] = bad
    files.write()
    assert update(files.base, files.config, os.environ) is None
    with pytest.raises(ConfigError) as e:
        load_config(str(files.conf))
    assert str(e.value).startswith(f"{files.conf}:")
    assert str(old.selector("s7").dst[0].address) == "198.51.100.7"  # type: ignore[union-attr]


def test_reload_checked_reads_only_the_selector_and_refuses_as_a_full_load(
        files: Files, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confcache, "MIN_SIZE", 0)
    cache = files.root / "cache"
    cache.mkdir(mode=0o700)
    env = {**os.environ, "RACOON2_CACHE_DIR": str(cache)}
    conf = str(files.conf)
    first, _ = confcache.load_checked(conf, "spmd", environ=env)
    same = confcache.reload_checked(conf, "spmd", environ=env)
    assert same.previous is None and same.config == first  # nothing changed: a whole reload
    first = same.config
    files.selectors[7] = sel(7, "203.0.113.0/24")
    files.write()
    found = confcache.reload_checked(conf, "spmd", environ=env)
    assert found.previous is first
    assert found.config == load_config(conf)
    assert found.warnings == check_config(load_config(conf), "spmd")
    found.save()
    assert confcache.load_checked(conf, "spmd", environ=env)[0] == found.config  # cached
    files.selectors[7] = sel(7, "203.0.113.0/33")
    files.write()
    with pytest.raises(ConfigError) as incremental:
        confcache.reload_checked(conf, "spmd", environ=env)
    with pytest.raises(ConfigError) as whole:
        load_config(conf)
    assert str(incremental.value) == str(whole.value)
    files.selectors[7] = sel(7)
    files.tail = "selector s99 { direction outbound; src 192.0.2.1; dst 192.0.2.2; };\n"
    files.write()  # no policy_index: spmd's check refuses it, as a full load's does
    with pytest.raises(ConfigError, match="has no policy_index"):
        confcache.reload_checked(conf, "spmd", environ=env)


def test_a_comment_and_a_selector_over_several_lines(files: Files) -> None:
    files.selectors[5] = sel(5).replace("; ", ";\n\t")  # one directive a line
    files.write()
    files.config, base = full(str(files.conf), os.environ)
    assert base is not None
    files.base = base
    old = files.config
    files.selectors[5] = sel(5, "203.0.113.5").replace("; ", ";\n\t")
    files.selectors[9] = sel(9).rstrip("\n") + "  # a comment\n"
    files.write()
    new = files.reload()
    assert new is not None
    same_objects(old, new, {"s5"})
    assert new.selector("s5").where_of("dst") == f"{files.conf}:17"  # type: ignore[union-attr]
