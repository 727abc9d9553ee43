"""What the running kernel can do with IPsec, so no daemon proposes what it cannot install.

Read from the kernel's own lists: /proc/crypto names the crypto algorithms that are loaded, and
the modules directory (/lib/modules/VERSION) names those that can be loaded on demand (the
kernel asks for "crypto-NAME" when an SA needs one).  ESP, AH and IPComp are usable when their
xfrm protocol modules are built in or loadable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from racoon2.kernel import api

CIPHERS = ("cbc(aes)", "rfc3686(ctr(aes))", "cbc(des3_ede)", "cbc(des)", "ecb(cipher_null)",
           "cbc(cast5)", "cbc(blowfish)", "cbc(twofish)", "cbc(camellia)", "cbc(serpent)")
INTEGRITY = ("hmac(sha1)", "hmac(sha256)", "hmac(sha384)", "hmac(sha512)", "hmac(md5)",
             "xcbc(aes)", "cmac(aes)", "digest_null")
AEAD = ("rfc4106(gcm(aes))", "rfc4309(ccm(aes))", "rfc7539esp(chacha20,poly1305)",
        "rfc4543(gcm(aes))")
COMPRESSION = ("deflate", "lzs", "lzjh")
#: The crypto modules that provide each algorithm's building blocks.
NEEDS = {
    "cbc(aes)": ("cbc", "aes"), "rfc3686(ctr(aes))": ("ctr", "aes"),
    "cbc(des3_ede)": ("cbc", "des3_ede"), "cbc(des)": ("cbc", "des"),
    "ecb(cipher_null)": ("ecb",), "cbc(cast5)": ("cbc", "cast5"),
    "cbc(blowfish)": ("cbc", "blowfish"), "cbc(twofish)": ("cbc", "twofish"),
    "cbc(camellia)": ("cbc", "camellia"), "cbc(serpent)": ("cbc", "serpent"),
    "hmac(sha1)": ("hmac", "sha1"), "hmac(sha256)": ("hmac", "sha256"),
    "hmac(sha384)": ("hmac", "sha512"), "hmac(sha512)": ("hmac", "sha512"),
    "hmac(md5)": ("hmac", "md5"), "xcbc(aes)": ("xcbc", "aes"), "cmac(aes)": ("cmac", "aes"),
    "digest_null": (), "rfc4106(gcm(aes))": ("gcm", "aes"),
    "rfc4543(gcm(aes))": ("gcm", "aes"), "rfc4309(ccm(aes))": ("ccm", "aes"),
    "rfc7539esp(chacha20,poly1305)": ("chacha20poly1305",), "deflate": ("deflate",),
    "lzs": ("lzs",), "lzjh": ("lzjh",),
}


def _crypto_names(text: str) -> set[str]:
    names = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("name", "driver", "module"):
            names.add(value.strip())
    return names


def _module_names(release: str) -> set[str]:
    names: set[str] = set()
    base = f"/lib/modules/{release}"
    for listing in ("modules.builtin", "modules.dep"):
        try:
            with open(os.path.join(base, listing)) as f:
                for line in f:
                    path = line.split(":", 1)[0]
                    names.add(re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(path))
                              .replace("-", "_"))
        except OSError:
            continue
    return names


def _available(algs: Iterable[str], loaded: set[str], modules: set[str]) -> frozenset[str]:
    out = set()
    for alg in algs:
        parts = NEEDS.get(alg, ())
        if alg in loaded or all(p in loaded or p in modules or
                                p.replace("_ede", "") in modules or p + "_generic" in modules
                                or p + "_generic" in loaded for p in parts):
            out.add(alg)
    return frozenset(out)


def probe_capabilities(proc_crypto: str = "/proc/crypto",
                       release: str | None = None) -> api.Capabilities:
    """What this kernel offers (see the module docstring)."""
    try:
        with open(proc_crypto) as f:
            loaded = _crypto_names(f.read())
    except OSError:
        loaded = set()
    modules = _module_names(release or os.uname().release)
    loaded_mods = set(os.listdir("/sys/module")) if os.path.isdir("/sys/module") else set()
    have = modules | loaded_mods
    protos = {p for p, mods in ((api.Proto.ESP, ("esp4", "esp6")), (api.Proto.AH, ("ah4",
                                                                                  "ah6")),
                                (api.Proto.IPCOMP, ("ipcomp", "ipcomp6")))
              if any(mod in have for mod in mods)}
    return api.Capabilities(
        protos=frozenset(protos), modes=frozenset({api.Mode.TRANSPORT, api.Mode.TUNNEL}),
        ciphers=_available(CIPHERS, loaded, have), integrity=_available(INTEGRITY, loaded, have),
        aead=_available(AEAD, loaded, have), compression=_available(COMPRESSION, loaded, have),
        esn=True, encap=api.Proto.ESP in protos,
        source=f"{proc_crypto} and the modules of {release or os.uname().release}")
