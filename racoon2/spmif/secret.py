"""Reading the spmif password file (``spmd_password``, made by ``pskgen -r``).

The file is a secret shared by spmd and its clients: it must be a regular file owned by the user
reading it, with no group or other permission bits, as the C ``rc_safefile`` check demands.
"""

from __future__ import annotations

import os
import stat

from racoon2.errors import SpmifError


def read_password(path: str | os.PathLike[str]) -> bytes:
    """Return the raw bytes of the password file after checking owner, type and mode."""
    name = os.fsdecode(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        raise SpmifError(
            f"{name}: cannot open the spmif password file: {err.strerror}",
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpmifError(f"{name}: the spmif password file is not a regular file")
        if st.st_uid != os.geteuid():
            raise SpmifError(
                f"{name}: owned by uid {st.st_uid}, not by uid {os.geteuid()} that reads it",
            )
        mode = stat.S_IMODE(st.st_mode)
        if mode & 0o077:
            raise SpmifError(
                f"{name}: mode {mode:04o} lets others read a secret; chmod 600 it",
            )
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
    finally:
        os.close(fd)
    if not data:
        raise SpmifError(f"{name}: the spmif password file is empty; create it with pskgen -r")
    return data
