"""kinkd.krb5's ctypes structures match krb5.h: a C program prints each struct's size and each
field's offset and size, compiled against the installed header."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from kinkd import krb5

HEADER = Path("/usr/include/krb5/krb5.h")

STRUCTS: dict[type[ctypes.Structure], str] = {
    krb5._Data: "krb5_data",
    krb5._Keyblock: "krb5_keyblock",
    krb5._Checksum: "krb5_checksum",
    krb5._EncData: "krb5_enc_data",
    krb5._TicketTimes: "krb5_ticket_times",
    krb5._Transited: "krb5_transited",
    krb5._EncTktPart: "krb5_enc_tkt_part",
    krb5._Ticket: "krb5_ticket",
    krb5._Authenticator: "krb5_authenticator",
    krb5._Creds: "krb5_creds",
    krb5._Error: "krb5_error",
}


def _fields(cls: type[ctypes.Structure]) -> list[str]:
    return [f[0] for f in cls._fields_]


def _c_program() -> str:
    lines = ["#include <stddef.h>", "#include <stdio.h>", "#include <krb5.h>", "int main(void) {"]
    for cls, c_name in STRUCTS.items():
        lines.append(f'printf("{c_name} %zu\\n", sizeof({c_name}));')
        for name in _fields(cls):
            lines.append(
                f'printf("{c_name}.{name} %zu %zu\\n", offsetof({c_name}, {name}),'
                f" sizeof((({c_name} *)0)->{name}));"
            )
    lines += ["return 0;", "}"]
    return "\n".join(lines) + "\n"


def _python_layout() -> str:
    out = []
    for cls, c_name in STRUCTS.items():
        out.append(f"{c_name} {ctypes.sizeof(cls)}")
        for name in _fields(cls):
            f = getattr(cls, name)
            out.append(f"{c_name}.{name} {f.offset} {f.size}")
    return "\n".join(out) + "\n"


def test_struct_layouts_match_krb5_h(tmp_path: Path) -> None:
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler (apt-get install gcc) to check the layouts against krb5.h")
    if not HEADER.exists():
        pytest.skip(f"{HEADER} is missing (apt-get install libkrb5-dev)")
    source = tmp_path / "layout.c"
    source.write_text(_c_program())
    binary = tmp_path / "layout"
    subprocess.run([cc, "-o", str(binary), str(source)], check=True, capture_output=True)
    c_layout = subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout
    assert _python_layout() == c_layout
