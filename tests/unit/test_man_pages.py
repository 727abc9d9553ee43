"""The man pages in doc/man keep step with the code: every command pyproject.toml installs has
an mdoc page, every option its click command takes is written there as ``.Fl``, and every page
passes ``mandoc -T lint``.  A new command or a new option fails here until it is documented.
(racoon2.conf(5)'s directives: tests/unit/config/test_man_directives.py.)"""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import click
import pytest

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "doc" / "man"
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
    "scripts"]
#: Pages that document no command of [project.scripts].
OTHER_PAGES = {"racoon2.conf.5"}
#: An mdoc macro name: ends the flag words of a ``Fl`` (``.Op Fl f Ar file``).
MACRO = re.compile(r"^[A-Z][a-z][a-z]?$")
#: Punctuation mdoc keeps apart from the words of a macro.
DELIMITERS = {"|", ",", ";", ":", ".", "(", ")", "[", "]"}
#: mandoc's messages about this host's manual database, not about the page.
HOST_DEPENDENT = re.compile(r"referenced manual not found|outdated mandoc\.db")


def commands(script: str) -> list[click.Command]:
    """The click command(s) of the module an entry point names."""
    module = importlib.import_module(SCRIPTS[script].split(":", 1)[0])
    found = [v for v in vars(module).values() if isinstance(v, click.Command)]
    assert found, f"{SCRIPTS[script]} defines no click command"
    return found


def option_names(command: click.Command, script: str) -> set[str]:
    """Every spelling of every visible option, click's own help option included."""
    ctx = click.Context(command, info_name=script, **command.context_settings)
    names: set[str] = set()
    for param in command.get_params(ctx):
        if isinstance(param, click.Option) and not param.hidden:
            names.update(param.opts, param.secondary_opts)
    return names


def documented_flags(page: Path) -> set[str]:
    """The flags an mdoc page writes with ``Fl``, dash included: ``.Fl f`` is ``-f``,
    ``.Fl \\-keep\\-sas`` is ``--keep-sas``; ``.Fl a b`` is both ``-a`` and ``-b``."""
    flags: set[str] = set()
    for line in page.read_text().splitlines():
        if not line.startswith("."):
            continue
        words = line[1:].replace("\\-", "-").replace("\\&", "").split()
        for i, word in enumerate(words):
            if word != "Fl":
                continue
            for arg in words[i + 1:]:
                if MACRO.match(arg):
                    break
                if arg not in DELIMITERS:  # mdoc: .Fl a | b is "-a | -b"
                    flags.add("-" + arg)
    return flags


def test_every_command_has_an_mdoc_page() -> None:
    pages = {p.name for p in MAN.iterdir()}
    assert sorted(f"{s}.8" for s in SCRIPTS if f"{s}.8" not in pages) == []
    assert sorted(pages - {f"{s}.8" for s in SCRIPTS} - OTHER_PAGES) == [], "page of no command"
    for page in MAN.iterdir():
        first = next(line for line in page.read_text().splitlines()
                     if not line.startswith('.\\"'))
        assert first.startswith(".Dd "), f"{page.name}: not mdoc (the first macro must be .Dd)"


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_every_option_is_in_the_page(script: str) -> None:
    page = MAN / f"{script}.8"
    assert page.exists(), f"{script} has no man page {page.relative_to(ROOT)}"
    flags = documented_flags(page)
    for command in commands(script):
        missing = sorted(option_names(command, script) - flags)
        assert missing == [], f"{page.relative_to(ROOT)} lacks .Fl for {missing}"


def test_the_flag_reader_reads_mdoc(tmp_path: Path) -> None:
    """What documented_flags takes from the usual mdoc forms, and what it does not."""
    page = tmp_path / "sample.8"
    page.write_text(".Op Fl 46 Ar x\n.It Fl f Ar file , Fl \\-config\\-file Ns = Ns Ar file\n"
                    ".Fl a b | Fl c\n.Op Fl x | y\ntext with Fl z\n")
    assert documented_flags(page) == {"-46", "-f", "--config-file", "-a", "-b", "-c", "-x",
                                      "-y"}


@pytest.mark.skipif(shutil.which("mandoc") is None,
                    reason="mandoc is not installed (tests/harness/setup-host.sh installs it)")
@pytest.mark.parametrize("page", sorted(p.name for p in MAN.iterdir()))
def test_mandoc_lint_is_clean(page: str) -> None:
    # -T lint reports style messages too (line length, sentence ends): every one counts but
    # whether an .Xr page is installed on this host (ours are not, swanctl.conf(5) may be).
    run = subprocess.run(["mandoc", "-T", "lint", str(MAN / page)],
                         capture_output=True, text=True, check=False)
    messages = [m for m in (run.stdout + run.stderr).splitlines()
                if not HOST_DEPENDENT.search(m)]
    assert messages == []
