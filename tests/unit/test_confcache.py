"""The configuration cache (racoon2.confcache) with real files: used while nothing changed,
dropped when any file, glob, key file or environment variable the load or check read changes,
ignored with a log line when damaged or unsafe, never holding an error."""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import racoon2
from racoon2 import confcache
from racoon2.config import load_config, model
from racoon2.config.check import check_config
from racoon2.config.incremental import Baseline, full
from racoon2.errors import ConfigError

MAIN = """interface {{ ike {{ 192.0.2.1; }}; spmd {{ unix "{d}/spmif"; }};
	spmd_password "{d}/spmd.pwd"; }};
include "{d}/inc/*.conf";
"""
PEER = """remote {name} {{ acceptable_kmp {{ ikev2; }}; ikev2 {{
	my_id fqdn "gw.example.net"; peers_id fqdn "{name}.example.net";
	peers_ipaddr {addr}; kmp_enc_alg {{ aes128_cbc; }}; kmp_auth_method {{ psk; }};
	pre_shared_key "{d}/{name}.psk"; }}; }};
"""


class Tree:
    """A configuration in ``tmp_path``: main file, an include glob, PSK files, a cache."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "inc").mkdir()
        self.cache = root / "cache"
        self.cache.mkdir(mode=0o700)
        self.env = {"RACOON2_CACHE_DIR": str(self.cache), "PEERADDR": "198.51.100.7"}
        self.conf = root / "racoon2.conf"
        self.conf.write_text(MAIN.format(d=root))
        self.secret("spmd.pwd")
        self.peer("a", "192.0.2.10")
        self.peer("b", '"$[PEERADDR]"')

    def secret(self, name: str) -> Path:
        path = self.root / name
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        os.write(fd, b"0123456789abcdef")
        os.close(fd)
        return path

    def peer(self, name: str, addr: str) -> Path:
        self.secret(f"{name}.psk")
        path = self.root / "inc" / f"{name}.conf"
        path.write_text(PEER.format(name=name, addr=addr, d=self.root))
        return path

    def load(self, daemon: str = "iked") -> tuple[model.Config, list[model.ConfigWarning]]:
        return confcache.load_checked(str(self.conf), daemon, environ=self.env)

    def cache_file(self) -> Path:
        (found,) = self.cache.iterdir()
        return found


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Tree:
    monkeypatch.setattr(confcache, "MIN_SIZE", 0)
    return Tree(tmp_path)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths the real loader was called for (a cache hit adds none)."""
    calls: list[str] = []

    def counting(path: str, environ: Mapping[str, str], *, freeze: bool = False
                 ) -> tuple[model.Config, Baseline | None]:
        calls.append(path)
        return full(path, environ, freeze=freeze)

    monkeypatch.setattr(confcache, "full", counting)
    return calls


def peer_addr(config: model.Config, name: str) -> str:
    remote = config.remote(name)
    assert remote is not None and remote.ikev2 is not None
    return remote.ikev2.peers_ipaddr[0].text


def test_a_second_load_comes_from_the_cache_and_equals_a_fresh_one(
        tree: Tree, loads: list[str]) -> None:
    first, warnings = tree.load()
    second, again = tree.load()
    assert len(loads) == 1
    assert second == first == load_config(str(tree.conf), environ=tree.env)
    assert again == warnings == check_config(first, "iked")
    assert type(second.remotes[0]) is model.Remote and not second.effective_cache
    assert second.remote("a") is second.remotes[0]  # the name index survives, shared
    assert second.remotes[0].policies == ()
    assert oct(tree.cache_file().stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("change", ["included", "main", "glob", "env", "version"])
def test_any_input_changing_reloads(tree: Tree, loads: list[str], change: str,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    tree.load()
    edits: dict[str, Callable[[], None]] = {
        # Same size, so only mtime/ctime (and the content) tell.
        "included": lambda: tree.peer("a", "192.0.2.11"),
        "main": lambda: tree.conf.write_text(tree.conf.read_text() + "# edited\n"),
        "glob": lambda: tree.peer("c", "192.0.2.12"),
        "env": lambda: tree.env.update(PEERADDR="198.51.100.8"),
        "version": lambda: monkeypatch.setattr(racoon2, "__version__", "0-other"),
    }
    edits[change]()
    config, _ = tree.load()
    assert len(loads) == 2
    assert config == load_config(str(tree.conf), environ=tree.env)
    if change == "included":
        assert peer_addr(config, "a") == "192.0.2.11"
    elif change == "glob":
        assert config.remote("c") is not None
    elif change == "env":
        assert peer_addr(config, "b") == "198.51.100.8"


def test_a_key_file_changing_reruns_the_check(tree: Tree, loads: list[str]) -> None:
    assert tree.load()[1] == []
    os.chmod(tree.root / "a.psk", 0o644)
    with pytest.raises(ConfigError, match="a.psk: mode 0644 lets others read a secret"):
        tree.load()
    os.unlink(tree.root / "a.psk")
    config, warnings = tree.load()
    assert [w.message for w in warnings] == [
        f"pre-shared key file {tree.root}/a.psk does not exist yet; create it with: "
        f"pskgen -r -o {tree.root}/a.psk"]
    assert len(loads) == 1  # the model itself never changed
    tree.secret("a.psk")
    assert tree.load()[1] == []


def test_each_daemon_keeps_its_own_check(tree: Tree, loads: list[str]) -> None:
    tree.load("iked")
    _, spmd = tree.load("spmd")
    assert spmd == check_config(load_config(str(tree.conf), environ=tree.env), "spmd")
    tree.load("iked")
    tree.load("spmd")
    assert len(loads) == 1


def test_an_error_is_never_cached_and_keeps_its_line(tree: Tree, loads: list[str]) -> None:
    tree.load()
    bad = tree.root / "inc" / "bad.conf"
    bad.write_text("remote x { ikev2 { peers_ipaddr 192.0.2.300; }; };\n")
    for _ in range(2):
        with pytest.raises(ConfigError) as e:
            tree.load()
        assert str(e.value).startswith(f"{bad}:1: ")
    bad.unlink()
    tree.load()  # the failed loads wrote nothing: the first entry is valid again
    assert len(loads) == 3


def test_a_corrupt_cache_is_ignored_with_a_log_line(
        tree: Tree, loads: list[str], caplog: pytest.LogCaptureFixture) -> None:
    first, _ = tree.load()
    tree.cache_file().write_bytes(b"\x80\x05garbage")
    with caplog.at_level(logging.WARNING, logger="racoon2.config"):
        config, _ = tree.load()
    assert config == first and len(loads) == 2
    (line,) = [r.getMessage() for r in caplog.records]
    assert line.startswith(f"ignoring corrupt configuration cache {tree.cache_file()} (")
    assert line.endswith(f"; loading {tree.conf}")
    tree.load()  # rewritten whole
    assert len(loads) == 2


def test_a_cache_others_could_write_is_not_used(
        tree: Tree, loads: list[str], caplog: pytest.LogCaptureFixture) -> None:
    tree.load()
    os.chmod(tree.cache_file(), 0o644)
    with caplog.at_level(logging.WARNING, logger="racoon2.config"):
        tree.load()
    assert "not a private file of ours" in caplog.text
    os.chmod(tree.cache, 0o777)
    tree.load()
    tree.load()
    assert len(loads) == 4  # an open directory is never read nor written


def test_an_empty_cache_dir_turns_it_off(tree: Tree, loads: list[str]) -> None:
    tree.env["RACOON2_CACHE_DIR"] = ""
    tree.load()
    tree.load()
    assert len(loads) == 2 and not list(tree.cache.iterdir())


def test_a_small_configuration_is_not_kept(tree: Tree, loads: list[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(confcache, "MIN_SIZE", 64 * 1024)
    tree.load()
    tree.load()
    assert len(loads) == 2 and not list(tree.cache.iterdir())


def test_freeze_keeps_the_model_out_of_the_collector_until_the_next_load(tree: Tree) -> None:
    try:
        first, _ = confcache.load_checked(str(tree.conf), "iked", environ=tree.env, freeze=True)
        frozen = gc.get_freeze_count()
        assert frozen > 0
        second, _ = confcache.load_checked(str(tree.conf), "iked", environ=tree.env,
                                           freeze=True)
        assert second == first  # from the cache, frozen again
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_a_background_write_lands_and_is_used(tree: Tree, loads: list[str]) -> None:
    first, _ = confcache.load_checked(str(tree.conf), "iked", environ=tree.env, background=True)
    deadline = time.monotonic() + 30
    while not list(tree.cache.glob("*.cache")):  # a detached grandchild writes it
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert tree.load()[0] == first and len(loads) == 1


def test_a_derived_value_lives_and_dies_with_its_entry(tree: Tree, loads: list[str]) -> None:
    """What a daemon keeps with :func:`confcache.save` comes back on the next load under the
    same key only, is written once with a deferred entry, and is gone once any input
    changes (the entry's own rules)."""
    path = str(tree.conf)
    confcache.load_checked(path, "spmd", environ=tree.env, defer=True)
    assert not list(tree.cache.iterdir())  # left to save
    assert confcache.derived(path, "spmd", "plan", 1) is None
    confcache.save(path, "spmd", ("plan", 1, [b"a", b"b"]))
    written = tree.cache_file().stat().st_mtime_ns
    confcache.load_checked(path, "spmd", environ=tree.env, defer=True)
    assert len(loads) == 1
    assert confcache.derived(path, "spmd", "plan", 1) == [b"a", b"b"]
    assert confcache.derived(path, "spmd", "plan", 2) is None  # another key: never used
    confcache.save(path, "spmd", ("plan", 1, [b"a", b"b"]))
    assert tree.cache_file().stat().st_mtime_ns == written  # nothing new: no write
    tree.peer("a", "192.0.2.11")
    confcache.load_checked(path, "spmd", environ=tree.env, defer=True)
    assert len(loads) == 2
    assert confcache.derived(path, "spmd", "plan", 1) is None
