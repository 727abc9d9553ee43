"""iked's saved-state file (``--keep-sas``, doc/iked.md "Restart"): the impure half of
:mod:`iked.ikev2.snapshot`.

It holds IKE SA keys, so it is written at mode 0600 and atomically (a temporary file in the
same directory, fsync, rename, fsync of the directory): a crash while writing leaves the old
file or none, never half of one.  It is read once: :func:`take` removes it before it is used,
so a restored iked that dies again starts as after a crash instead of replaying message IDs
from an old state.
"""

from __future__ import annotations

import contextlib
import os
import stat

from racoon2.errors import StateError


def write(path: str, data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically, mode 0600; StateError when it cannot."""
    # Imported here: only a --keep-sas stop writes the file, and tempfile (with shutil, bz2
    # and lzma) is several ms of every start.
    import tempfile

    directory = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".iked-state.", dir=directory)  # mode 0600
    except OSError as e:
        raise StateError(f"cannot create a file in {directory}: {e.strerror}",
                         hint="give --state-file a directory iked may write") from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dirfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(f"cannot write {path}: {e.strerror}") from None


def take(path: str) -> bytes | None:
    """The contents of ``path``, which is removed; None when there is none.  StateError
    when it cannot be read, or others than its owner (this user) could read or write it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise StateError(f"cannot open {path}: {e.strerror}") from None
    with os.fdopen(fd, "rb") as f:
        try:
            st = os.fstat(f.fileno())
            os.unlink(path)
            data = f.read()
        except OSError as e:
            raise StateError(f"cannot read {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode) or st.st_mode & 0o077 or st.st_uid != os.geteuid():
        raise StateError(f"{path}: mode {stat.filemode(st.st_mode)}, owner uid {st.st_uid}: "
                         "refused (it holds keys)",
                         hint="iked writes it at mode 0600; its SAs are removed as after a "
                         "crash")
    return data
