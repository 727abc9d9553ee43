"""racoon's pre-shared key file (racoon.conf(5), "Pre-shared key File"): one ``ID KEY`` per
line, the ID an address, an FQDN or a user@FQDN, the key text or ``0x`` hex.  racoon2 reads
one file per remote whose bytes are the key, so :func:`keys_for` finds each converted
remote's key as racoon would have (by the peer's ID, else its address)."""

from __future__ import annotations

import binascii
from dataclasses import dataclass

from racoon2.convert.remotes import Remote
from racoon2.errors import RacoonConfError


@dataclass(frozen=True, slots=True)
class Key:
    """One line of psk.txt."""

    where: str
    ident: str
    key: bytes


def parse_psk(text: str, file: str) -> dict[str, Key]:
    """psk.txt → ID → key (the first line of an ID counts, as racoon's lookup)."""
    keys: dict[str, Key] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 1)
        where = f"{file}:{number}"
        if len(parts) != 2:
            raise RacoonConfError(f"found {parts[0]!r} alone, expected ID KEY", where)
        ident, value = parts
        if value.startswith("0x"):
            try:
                key = binascii.unhexlify(value[2:] + "0" * (len(value) % 2))
            except binascii.Error as e:
                raise RacoonConfError(f"found key {value!r}, expected 0x and hex digits",
                                      where) from e
        else:
            key = value.encode()
        keys.setdefault(ident, Key(where, ident, key))
    return keys


def keys_for(remote: Remote, keys: dict[str, Key]) -> tuple[str, Key | None]:
    """The key file racoon2 reads for ``remote`` and the psk.txt line for it (None: none)."""
    file = next((o.words[1].strip('"') for o in remote.body if o.words[0] == "pre_shared_key"),
                "")
    ids = [o.words[2].strip('"') for o in remote.body if o.words[0] == "peers_id"
           and len(o.words) > 2]
    if remote.address:
        ids.append(remote.address)
    return file, next((keys[i] for i in ids if i in keys), None)
