"""Run inside the project's VM (Debian's kernel: ESP, AH, PF_KEY): the ESP matrix.

For each case: two namespaces joined by veth, SAs and policies installed through one backend
(netlink XFRM or PF_KEY) in both, a ping across, the SAs' packet counters read back.  Results go
to the JSON file named on the command line; tests/vm/test_esp.py asserts them.

    python tests/vm/esp_matrix.py RESULTS.json
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import subprocess
import sys
from dataclasses import dataclass

import pyroute2.netns

from racoon2.errors import KernelError
from racoon2.kernel import api
from racoon2.kernel.pfkey.backend import PfkeyBackend
from racoon2.kernel.xfrm.backend import XfrmBackend
from racoon2.net import Address

ip = ipaddress.ip_address
net = ipaddress.ip_network
UDP_ENCAP = 100
UDP_ENCAP_ESPINUDP = 2
KEY16, KEY32 = bytes(range(16)), bytes(range(32))


@dataclass(frozen=True)
class Case:
    backend: str
    mode: str
    family: int
    alg: str

    @property
    def name(self) -> str:
        return f"{self.backend}-{self.mode}-ipv{self.family}-{self.alg}"


def algorithms(alg: str) -> dict[str, object]:
    """SaSpec keyword arguments for an algorithm label."""
    if alg == "aes-cbc+sha256-128":
        return {"cipher": api.Cipher("cbc(aes)", KEY16),
                "integrity": api.Integrity("hmac(sha256)", KEY32, 128)}
    if alg == "aes-cbc+sha512-256":
        return {"cipher": api.Cipher("cbc(aes)", KEY16),
                "integrity": api.Integrity("hmac(sha512)", KEY32 * 2, 256)}
    if alg in ("aes-cbc+sha1-96", "espinudp"):
        return {"cipher": api.Cipher("cbc(aes)", KEY16),
                "integrity": api.Integrity("hmac(sha1)", KEY32[:20], 96)}
    if alg == "aes-gcm-16":
        return {"aead": api.Aead("rfc4106(gcm(aes))", KEY16 + b"salt", 128)}
    if alg == "chacha20-poly1305":
        return {"aead": api.Aead("rfc7539esp(chacha20,poly1305)", KEY32 + b"salt", 128)}
    if alg == "ah-sha256-128":
        return {"integrity": api.Integrity("hmac(sha256)", KEY32, 128)}
    if alg == "esp+ipcomp":
        return algorithms("aes-cbc+sha256-128")
    raise ValueError(alg)


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def addresses(family: int) -> tuple[Address, Address, Address, Address]:
    """Outer A, outer B, inner A, inner B."""
    if family == 4:
        return ip("192.0.2.1"), ip("192.0.2.2"), ip("198.51.100.1"), ip("203.0.113.1")
    return ip("2001:db8::1"), ip("2001:db8::2"), ip("2001:db8:a::1"), ip("2001:db8:b::1")


def make_namespaces() -> tuple[str, str]:
    """Namespaces A and B joined by veth, with both families' outer addresses and the inner
    ones routed through each other for the tunnel cases: made once for the whole matrix (each
    `ip` call costs the VM a tenth of a second under TCG), the cases' SAs and policies
    flushed after each."""
    a, b = "vmA", "vmB"
    for ns in (a, b):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    sh("ip", "link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b)
    for family in (4, 6):
        outer_a, outer_b, inner_a, inner_b = addresses(family)
        plen, full = (24, 32) if family == 4 else (64, 128)
        nodad = ["nodad"] if family == 6 else []
        sh("ip", "-n", a, "addr", "add", f"{outer_a}/{plen}", "dev", "va", *nodad)
        sh("ip", "-n", b, "addr", "add", f"{outer_b}/{plen}", "dev", "vb", *nodad)
        sh("ip", "-n", a, "addr", "add", f"{inner_a}/{full}", "dev", "lo", *nodad)
        sh("ip", "-n", b, "addr", "add", f"{inner_b}/{full}", "dev", "lo", *nodad)
    sh("ip", "-n", a, "link", "set", "va", "up")
    sh("ip", "-n", b, "link", "set", "vb", "up")
    for family in (4, 6):
        outer_a, outer_b, inner_a, inner_b = addresses(family)
        full = 32 if family == 4 else 128
        sh("ip", "-n", a, "route", "add", f"{inner_b}/{full}", "via", str(outer_b), "src",
           str(inner_a))
        sh("ip", "-n", b, "route", "add", f"{inner_a}/{full}", "via", str(outer_a), "src",
           str(inner_b))
    return a, b


def specs(case: Case, idx: int, here_is_a: bool
          ) -> tuple[list[api.SaSpec], list[api.PolicySpec], api.SaKey, api.SaKey]:
    outer_a, outer_b, inner_a, inner_b = addresses(case.family)
    tunnel = case.mode == "tunnel"
    mode = api.Mode.TUNNEL if tunnel else api.Mode.TRANSPORT
    encap = api.Encap(4500, 4500) if case.alg == "espinudp" else None
    kw = algorithms(case.alg)
    reqid = 100 + idx
    proto = api.Proto.AH if case.alg.startswith("ah-") else api.Proto.ESP
    comp = case.alg.endswith("+ipcomp")
    # As spmd's templates and iked's SAs: IPComp takes the tunnel mode, ESP is then transport.
    sa_mode = api.Mode.TRANSPORT if comp else mode
    ab = api.SaSpec(outer_a, outer_b, proto, 0x1000 + idx, sa_mode, reqid, encap=encap,
                    **kw)  # type: ignore[arg-type]
    ba = api.SaSpec(outer_b, outer_a, proto, 0x2000 + idx, sa_mode, reqid, encap=encap,
                    **kw)  # type: ignore[arg-type]
    comps = [api.SaSpec(outer_a, outer_b, api.Proto.IPCOMP, 0x3000 + idx, mode, reqid,
                        compression="deflate", replay_window=0),
             api.SaSpec(outer_b, outer_a, api.Proto.IPCOMP, 0x4000 + idx, mode, reqid,
                        compression="deflate", replay_window=0)] if comp else []
    ends_a, ends_b = (inner_a, inner_b) if tunnel else (outer_a, outer_b)
    plen = 32 if case.family == 4 else 128
    sel_ab = api.Selector(net(f"{ends_a}/{plen}"), net(f"{ends_b}/{plen}"))
    sel_ba = api.Selector(net(f"{ends_b}/{plen}"), net(f"{ends_a}/{plen}"))

    def tmpl(src: Address, dst: Address, inbound: bool = False) -> tuple[api.Template, ...]:
        t_src, t_dst = (src, dst) if tunnel else (None, None)
        if comp:
            # spmd's order and levels: IPComp innermost, optional inbound (RFC 3173 §2.2).
            return (api.Template(api.Proto.IPCOMP, mode, t_src, t_dst, reqid,
                                 api.Level.USE if inbound else api.Level.UNIQUE),
                    api.Template(proto, api.Mode.TRANSPORT, None, None, reqid,
                                 api.Level.UNIQUE))
        return (api.Template(proto, mode, t_src, t_dst, reqid, api.Level.UNIQUE),)

    mine, theirs = (outer_a, outer_b) if here_is_a else (outer_b, outer_a)
    out_sel, in_sel = (sel_ab, sel_ba) if here_is_a else (sel_ba, sel_ab)
    policies = [
        api.PolicySpec(out_sel, api.Direction.OUTBOUND, api.Owner.TESTS,
                       templates=tmpl(mine, theirs)),
        api.PolicySpec(in_sel, api.Direction.INBOUND, api.Owner.TESTS,
                       templates=tmpl(theirs, mine, inbound=True)),
    ]
    out_key = ab.key if here_is_a else ba.key
    in_key = ba.key if here_is_a else ab.key
    return [ab, ba, *comps], policies, out_key, in_key


async def install(case: Case, idx: int, here_is_a: bool) -> None:
    backend = await (XfrmBackend.open() if case.backend == "xfrm" else PfkeyBackend.open())
    try:
        sas, policies, _o, _i = specs(case, idx, here_is_a)
        for sa in sas:
            await backend.add_sa(sa)
        for sp in policies:
            await backend.add_policy(sp)
    finally:
        await backend.close()


async def counters(case: Case, idx: int) -> tuple[int, int, int]:
    backend = await (XfrmBackend.open() if case.backend == "xfrm" else PfkeyBackend.open())
    try:
        sas, _p, out_key, in_key = specs(case, idx, True)
        out = await backend.get_sa(out_key)
        inb = await backend.get_sa(in_key)
        comp = [sa for sa in sas if sa.proto is api.Proto.IPCOMP and sa.src == out_key.src]
        comp_out = (await backend.get_sa(comp[0].key)).current.packets if comp else 0
        return out.current.packets, inb.current.packets, comp_out
    finally:
        await backend.close()


def encap_socket(ns: str, family: int) -> socket.socket:
    pyroute2.netns.pushns(ns)
    try:
        sock = socket.socket(socket.AF_INET if family == 4 else socket.AF_INET6,
                             socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_UDP, UDP_ENCAP, UDP_ENCAP_ESPINUDP)
        sock.bind(("0.0.0.0" if family == 4 else "::", 4500))
        return sock
    finally:
        pyroute2.netns.popns()


def run_case(case: Case, idx: int, a: str, b: str) -> dict[str, object]:
    """One case between namespaces ``a`` and ``b``; they hold no SA or policy afterwards."""
    sockets: list[socket.socket] = []
    try:
        for ns, is_a in ((a, True), (b, False)):
            pyroute2.netns.pushns(ns)
            try:
                asyncio.run(install(case, idx, is_a))
            finally:
                pyroute2.netns.popns()
        if case.alg == "espinudp":
            sockets = [encap_socket(a, case.family), encap_socket(b, case.family)]
        _oa, _ob, inner_a, inner_b = addresses(case.family)
        outer_a, outer_b = _oa, _ob
        src, dst = (inner_a, inner_b) if case.mode == "tunnel" else (outer_a, outer_b)
        # IPComp: large compressible pings are compressed, the default small ones are not.
        size = ["-s", "1200", "-p", "00"] if case.alg.endswith("+ipcomp") else []
        ping = subprocess.run(["ip", "netns", "exec", a, "ping", "-c", "3", "-i", "0.2", "-W",
                               "3", *size, "-I", str(src), str(dst)], capture_output=True,
                              text=True)
        small = subprocess.run(["ip", "netns", "exec", a, "ping", "-c", "1", "-W", "3", "-I",
                                str(src), str(dst)], capture_output=True, text=True)
        pyroute2.netns.pushns(a)
        try:
            out, inb, comp_out = asyncio.run(counters(case, idx))
        finally:
            pyroute2.netns.popns()
        return {"ok": ping.returncode == 0 and small.returncode == 0, "packets_out": out,
                "packets_in": inb, "comp_out": comp_out,
                "ping": ping.stdout[-200:] + ping.stderr[-200:] + small.stdout[-120:]}
    except KernelError as e:
        return {"ok": False, "error": str(e), "errno": e.errno}
    finally:
        for sock in sockets:
            sock.close()
        for ns in (a, b):
            sh("ip", "-n", ns, "xfrm", "state", "flush")
            sh("ip", "-n", ns, "xfrm", "policy", "flush")


ALGS = ("aes-cbc+sha256-128", "aes-cbc+sha1-96", "aes-cbc+sha512-256", "aes-gcm-16",
        "chacha20-poly1305")


def cases() -> list[Case]:
    """Every backend × mode × family × algorithm, plus ESP-in-UDP tunnels (NAT-T's use), AH
    and ESP+IPComp."""
    out = []
    for backend in ("xfrm", "pfkey"):
        for mode in ("transport", "tunnel"):
            for family in (4, 6):
                out += [Case(backend, mode, family, alg) for alg in ALGS]
        out += [Case(backend, "tunnel", family, "espinudp") for family in (4, 6)]
    # AH and ESP+IPComp as iked negotiates them and spmd's templates expect them (netlink).
    out += [Case("xfrm", mode, family, alg) for alg in ("ah-sha256-128", "esp+ipcomp")
            for mode in ("transport", "tunnel") for family in (4, 6)]
    return out


def main() -> None:
    a, b = make_namespaces()
    try:
        results = {case.name: run_case(case, i, a, b) for i, case in enumerate(cases())}
    finally:
        for ns in (a, b):
            subprocess.run(["ip", "netns", "del", ns], check=False)
    with open(sys.argv[1], "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
