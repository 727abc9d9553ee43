"""kinkd.krb5._lib's ctypes structures match krb5.h: a C program prints each struct's size and each
field's offset and size, compiled against the installed header."""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from pathlib import Path

import pytest

from kinkd.krb5 import _lib

HEADER = Path("/usr/include/krb5/krb5.h")

STRUCTS: dict[type[ctypes.Structure], str] = {
    _lib.Data: "krb5_data",
    _lib.Keyblock: "krb5_keyblock",
    _lib.Checksum: "krb5_checksum",
    _lib.EncData: "krb5_enc_data",
    _lib.TicketTimes: "krb5_ticket_times",
    _lib.Transited: "krb5_transited",
    _lib.EncTktPart: "krb5_enc_tkt_part",
    _lib.Ticket: "krb5_ticket",
    _lib.Authenticator: "krb5_authenticator",
    _lib.Creds: "krb5_creds",
    _lib.Error: "krb5_error",
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
