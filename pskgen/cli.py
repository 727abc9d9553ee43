"""pskgen: make pre-shared keys and the spmif password file (doc/pskgen.md).

    pskgen -r [-s LEN] [-o FILE] [-d]    LEN random bytes (default 16), raw
    pskgen -i FILE [-h] [-o FILE] [-d]   import FILE's first line, or hex bytes with -h
    pskgen -e FILE [-o FILE] [-d]        export FILE as "0x.. 0x.." text

Output goes to stdout unless ``-o FILE``; the file is created anew, mode 0600 and owned by the
running user, and renamed over what was there (a symlink at FILE is replaced, never followed).
Random keys come from :mod:`secrets`, not from the original's time-and-pid seeded Perl ``rand``.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sys
from typing import BinaryIO

import click

DEFAULT_KEY_SIZE = 16
USAGE = f"""\
Usage: pskgen -r [-s length] [-o file] [-d]
       pskgen -i file [-h] [-o file] [-d]
       pskgen -e file [-o file] [-d]

  randomized key mode:
    -r  output random bytes.
    -s  specify the byte length of the key.
        the default is {DEFAULT_KEY_SIZE} bytes.
    -o  specify the output file.
    -d  debug mode. no harm to any file.

  file specific mode:
    -i  specify the input file.  '-' means the standard input.
    -h  assumed that the input file is written in the following syntax:
        0x leading one or two of hexadecimal number separated space
        characters.  for example: 0x72 0x61 0x63 0x6f 0x6f 0x6e
    -o  specify the output file.
    -d  debug mode. no harm to any file.

  export mode:
    -e  export the key file.  the format is like the option -h defined.
    -o  specify the output file.
    -d  debug mode. no harm to any file.
"""


class PskgenError(Exception):
    """A file could not be read or written; the message names it."""


def random_key(size: int) -> bytes:
    """``size`` random bytes from the operating system's CSPRNG."""
    return secrets.token_bytes(size)


def import_line(data: bytes) -> bytes:
    """The first line of ``data`` without its line end (the rest is ignored)."""
    return data.split(b"\n", 1)[0]


def import_hex(data: bytes) -> bytes:
    """Bytes written as ``0x72 0x61 …``: per line, drop every ``0x``, pair the hex digits.

    As in the original, the remaining non-blank characters are taken two at a time, so a
    single-digit value pairs with the next one.
    """
    out = bytearray()
    for line in data.decode("latin-1").splitlines():
        digits = re.sub(r"\s", "", line.replace("0x", ""))
        for i in range(0, len(digits), 2):
            pair = digits[i:i + 2]
            try:
                out.append(int(pair, 16) & 0xFF)
            except ValueError:
                raise PskgenError(f"{pair!r} is not a hexadecimal byte") from None
    return bytes(out)


def export_hex(data: bytes) -> str:
    """``0x%02x`` per byte; one space between, two after every 8th, a newline after every 16th."""
    parts = []
    for i, b in enumerate(data):
        n = i % 64 + 1  # the original counted within 64-byte reads; 64 is a multiple of 16
        sep = "\n" if n % 16 == 0 else ("  " if n % 8 == 0 else " ")
        parts.append(f"0x{b:02x}{sep}")
    return "".join(parts)


def read_input(path: str) -> bytes:
    """The bytes of ``path`` (``-``: standard input)."""
    if path == "-":
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise PskgenError(f"can't open {path}: {e.strerror}") from None


def write_output(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` (``-``: standard output) as a new 0600 file of ours.

    The secret goes into a fresh file (``O_CREAT|O_EXCL``) beside ``path`` that is then renamed
    over it: an existing file's owner never becomes the owner of the new secret, a symlink at
    ``path`` is replaced rather than followed, and a reader never sees half a key.
    """
    if path == "-":
        out: BinaryIO = sys.stdout.buffer
        out.write(data)
        out.flush()
        return
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.{secrets.token_hex(8)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600)
    except OSError as e:
        raise PskgenError(f"can't create a file beside {path}: {e.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o600)  # whatever the caller's umask
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # rename(2) replaces the last component itself, a symlink included, in one step.
        os.rename(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise PskgenError(f"can't write {path}: {e.strerror}") from None


@click.command(add_help_option=False, context_settings={"allow_interspersed_args": True})
@click.option("-r", "random_mode", is_flag=True)
@click.option("-s", "size", type=int, default=None)
@click.option("-o", "output", default="-")
@click.option("-d", "debug", is_flag=True)
@click.option("-i", "infile", default=None)
@click.option("-h", "hex_input", is_flag=True)
@click.option("-e", "exportfile", default=None)
def command(random_mode: bool, size: int | None, output: str, debug: bool, infile: str | None,
            hex_input: bool, exportfile: str | None) -> None:
    """pskgen (see the module docstring)."""
    os.umask(0o077)
    if random_mode:
        if size is None:
            size = DEFAULT_KEY_SIZE
        if size <= 0:
            raise PskgenError(f"-s {size}: the key length must be a positive number of bytes")
        write_output(output, random_key(size))
    elif infile:
        data = read_input(infile)
        write_output(output, import_hex(data) if hex_input else import_line(data))
    elif exportfile:
        write_output(output, export_hex(read_input(exportfile)).encode())
    else:
        click.echo(USAGE, nl=False)


def main(argv: list[str] | None = None) -> int:
    """Entry point: 0 on success and for the usage text, 1 on errors."""
    try:
        command.main(args=argv, prog_name="pskgen", standalone_mode=False)
    except click.UsageError as e:
        click.echo(f"pskgen: {e.format_message()}\n{USAGE}", err=True, nl=False)
        return 1
    except PskgenError as e:
        click.echo(f"pskgen: {e}", err=True)
        return 1
    return 0

