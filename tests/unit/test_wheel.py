"""The wheel carries what an installed system needs besides the code: the man pages
(PREFIX/share/man) and the systemd units with their installer (PREFIX/share/racoon2/systemd),
the installer executable and finding the units beside itself (README, "Under systemd")."""

from __future__ import annotations

import stat
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_ships_man_pages_and_units(tmp_path: Path) -> None:
    # pip's build isolation fetches the setuptools pyproject.toml asks for (>=77: its license
    # fields), whatever the virtualenv holds.
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("racoon2-*.whl")
    with zipfile.ZipFile(wheel) as z:
        data = {Path(i.filename).relative_to(Path(i.filename).parts[0], "data").as_posix(): i
                for i in z.infolist() if ".data/data/" in i.filename}
    pages = {p.name for p in (ROOT / "doc/man").iterdir()}
    assert {Path(name).name for name in data if name.startswith("share/man/")} == pages
    units = {p.name for p in (ROOT / "systemd").iterdir()}
    assert units == {"spmd.service", "iked.service", "kinkd.service", "install-units.sh"}
    assert {name for name in data if name.startswith("share/racoon2/systemd/")} == {
        f"share/racoon2/systemd/{unit}" for unit in units}
    installer = data["share/racoon2/systemd/install-units.sh"]
    assert (installer.external_attr >> 16) & stat.S_IXUSR


def test_the_installer_installs_the_units_beside_it(tmp_path: Path) -> None:
    dest = tmp_path / "units"
    done = subprocess.run(["sh", str(ROOT / "systemd/install-units.sh"), str(dest)],
                          capture_output=True, text=True, check=True)
    assert sorted(p.name for p in dest.iterdir()) == ["iked.service", "kinkd.service",
                                                     "spmd.service"], done.stdout
    assert (dest / "iked.service").read_text() == (ROOT / "systemd/iked.service").read_text()
