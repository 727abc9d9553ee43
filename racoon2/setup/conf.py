"""racoon2.conf text for a :class:`~racoon2.setup.model.Setup`, in the samples' house style.

Every block carries a comment saying what it does.  Algorithms: AES-GCM and AES-CBC with
SHA-2 and Curve25519/ECP256/MODP groups, which strongSwan, libreswan and the native clients
(Apple, Android) propose by default; ``legacy_windows`` adds
MODP1024 and HMAC-SHA1, all that Windows offers without its registry key.  IKEv1 (the L2TP
case) gets what Windows and Apple L2TP clients send: 3DES/AES, SHA-1, MODP1024/2048.
"""

from __future__ import annotations

import ipaddress

from racoon2.setup.model import Setup

IKE_ENC = ("aes256_gcm16", "aes128_gcm16", "aes256_cbc", "aes128_cbc")
IKE_HASH = ("hmac_sha2_256", "hmac_sha2_384", "hmac_sha2_512")
IKE_DH = ("curve25519", "ecp256", "modp3072", "modp2048")
SERVER_DH = (*IKE_DH, "modp4096")  # Android's built-in client proposes no ECP group
ESP_ENC = ("aes256_gcm16", "aes128_gcm16", "aes256_cbc", "aes128_cbc")
ESP_AUTH = ("hmac_sha2_256",)
IKEV1_ENC = ("aes256_cbc", "aes128_cbc", "3des_cbc")
IKEV1_HASH = ("sha2_256", "sha1")
IKEV1_DH = ("modp2048", "modp1024")
L2TP_PORT = 1701

CERT = "${CONFDIR}/certs/host.pem"
USERS = "eap.users"  # relative to confdir: the EAP users' NT hashes, mode 0600
KEY = "${CONFDIR}/certs/host.key"
CA = "${CONFDIR}/certs/ca.pem"


def psk_file(s: Setup) -> str:
    """The pre-shared key's file name, relative to confdir."""
    return f"psk/{s.name}.psk"


def _list(items: tuple[str, ...] | list[str]) -> str:
    return "{ " + " ".join(f"{i};" for i in items) + " }"


def _q(text: str) -> str:
    return f'"{text}"'


def _header(s: Setup, what: str) -> str:
    return f"""\
# racoon2.conf written by racoon2-setup: {what}.
# Check it with `spmd -n -f FILE` and `iked -n -f FILE` (`kinkd -n` for KINK); doc/config.md
# explains every directive, doc/setup.md the answers it came from.

# Paths used below: this host's racoon2 directory and spmd's socket directory.
setval {{
\tCONFDIR\t\t{_q(s.confdir)};
\tRUNDIR\t\t{_q(s.run_dir)};
}};

"""


def local_address(s: Setup) -> str:
    """This host's endpoint: its address, or a client's interface address (a macro iked and
    spmd follow as DHCP changes it)."""
    if s.local:
        return _q(s.local)
    family = "MY_IPV4" if ":" not in (s.peer or "") else "MY_IPV6_GLOBAL"
    return f"{family}%{s.interface or 'eth0'}"


def _interface(s: Setup, kmp: str) -> str:
    where = local_address(s)
    if kmp == "kink":
        sockets = f"\tkink {{ {where}; }};\n"
        why = "KINK on this host's address (UDP 910)"
    else:
        sockets = f"\tike {{ {where} port 500; {where} port 4500; }};\n"
        why = "IKE on this host's address (4500: NAT traversal)"
    return f"""\
# The daemons' sockets: {why};
# spmd's control socket and its password.
interface {{
{sockets}\tspmd {{ unix "${{RUNDIR}}/spmif"; }};
\tspmd_password "${{CONFDIR}}/spmd.pwd";
}};

"""


def _auth_lines(s: Setup) -> str:
    if s.eap:
        return (f"\t\tkmp_auth_method {{ rsasig; }};\n"
                f"\t\t# Our certificate and key: the clients check it before they send a "
                f"password.\n"
                f"\t\tmy_public_key x509pem {_q(CERT)} {_q(KEY)};\n"
                f"\t\t# The clients log in with a user name and password (EAP-MSCHAPv2).\n"
                f"\t\teap {{ method mschapv2; users \"${{CONFDIR}}/{USERS}\"; }};\n")
    if s.certificates:
        return (f"\t\tkmp_auth_method {{ rsasig; }};\n"
                f"\t\t# Our certificate and key; the CA whose certificates we accept.\n"
                f"\t\tmy_public_key x509pem {_q(CERT)} {_q(KEY)};\n"
                f"\t\tpeers_public_key x509pem {_q(CA)};\n")
    return (f"\t\tkmp_auth_method {{ psk; }};\n"
            f"\t\tpre_shared_key \"${{CONFDIR}}/{psk_file(s)}\";\n")


def _ikev2_remote(s: Setup) -> str:
    server = s.case == "vpn-server"
    lines = []
    if server:
        lines.append("\t\tpassive on;\t# clients connect to us, we never initiate\n")
    assert s.local_id is not None
    lines.append(f"\t\tmy_id {s.local_id.conf()};\n")
    if s.peer_id is not None:
        lines.append(f"\t\tpeers_id {s.peer_id.conf()};\n")
    lines.append(f"\t\tpeers_ipaddr {_q(s.peer) + ' port 500' if s.peer else 'IP_RW'};\n")
    enc = IKE_ENC
    hashes: tuple[str, ...] = IKE_HASH
    dh: tuple[str, ...] = SERVER_DH if server else IKE_DH
    if s.legacy_windows:
        hashes, dh = (*hashes, "hmac_sha1"), (*dh, "modp1024")
    lines += [f"\t\tkmp_enc_alg {_list(enc)};\n", f"\t\tkmp_prf_alg {_list(hashes)};\n",
              f"\t\tkmp_hash_alg {_list(hashes)};\n", f"\t\tkmp_dh_group {_list(dh)};\n",
              _auth_lines(s), "\t\tdpd_delay 60 sec;\t# check the peer's liveness after "
              "a minute of silence\n"]
    if server:
        assert s.pool is not None
        dns = f"\t\t\tdns {_list(s.dns)};\n" if s.dns else ""
        lines.append(f"\t\t# What each client gets: an address of the pool, DNS servers.\n"
                     f"\t\tprovide {{\n\t\t\taddresspool \"{s.name}_pool\";\n{dns}\t\t}};\n")
    if s.case == "vpn-client":
        v = _family(s.peer_nets[0])
        lines.append(f"\t\t# Ask the server for an inner address and its DNS servers.\n"
                     f"\t\trequest {{ ip{v}; ip{v}_dns; }};\n")
    what = ("the clients, at any address" if server else
            "the VPN server" if s.case == "vpn-client" else "the peer")
    return (f"# IKEv2 with {what}: who we are and who it is, how the IKE SA is\n"
            f"# protected and authenticated.\nremote {_q(s.name)} {{\n"
            f"\tacceptable_kmp {{ ikev2; }};\n"
            f"\tikev2 {{\n{''.join(lines)}\t}};\n}};\n\n")


def _ikev1_remote(s: Setup) -> str:
    assert s.local_id is not None
    return f"""\
# IKEv1 (main mode) with the L2TP clients, at any address, by pre-shared key.
remote {_q(s.name)} {{
\tacceptable_kmp {{ ikev1; }};
\tikev1 {{
\t\tpassive on;
\t\texchange_mode main;
\t\tmy_id {s.local_id.conf()};
\t\tpeers_ipaddr IP_RW;
\t\tkmp_enc_alg {_list(IKEV1_ENC)};
\t\tkmp_hash_alg {_list(IKEV1_HASH)};
\t\tkmp_dh_group {_list(IKEV1_DH)};
\t\tkmp_auth_method {{ psk; }};
\t\tpre_shared_key "${{CONFDIR}}/{psk_file(s)}";
\t\tnat_traversal on;
\t\tdpd on;
\t\tdpd_delay 30 sec;
\t}};
}};

"""


def _kink(s: Setup) -> str:
    return f"""\
# KINK: this host's Kerberos principal (its key is in the keytab, doc/kinkd.md).
default {{
\tremote {{
\t\tacceptable_kmp {{ kink; }};
\t\tkink {{ my_principal {_q(s.local_principal or "")}; }};
\t}};
}};

# The peer and its principal; kinkd gets a ticket for it from the KDC.
remote {_q(s.name)} {{
\tacceptable_kmp {{ kink; }};
\tkink {{
\t\tpeers_ipaddr {_q(s.peer or "")};
\t\tpeers_principal {_q(s.peer_principal or "")};
\t}};
}};

"""


def _family(net: str) -> int:
    return ipaddress.ip_network(net, strict=False).version


def _selector(name: str, direction: str, src: str, dst: str, policy: str, proto: str = "any",
              order: str = "") -> str:
    return (f"selector {_q(name)} {{\n\tdirection {direction};\n\tsrc {src};\n\tdst {dst};\n"
            f"\tupper_layer_protocol {proto};\n{order}\tpolicy_index {_q(policy)};\n}};\n")


def _traffic(s: Setup) -> tuple[list[tuple[str, str]], str]:
    """(src, dst) pairs of the outbound selectors, and a comment saying what they cover."""
    if s.case == "vpn-server":
        return [(_q(n), "IP_RW") for n in s.local_nets], \
            f"the networks {', '.join(s.local_nets)} and each client's leased address"
    if s.case == "vpn-client":
        anywhere = {4: "0.0.0.0/0", 6: "::/0"}
        return [(_q(anywhere[_family(n)]), _q(n)) for n in s.peer_nets], \
            f"our leased address and {', '.join(s.peer_nets)} behind the server"
    if s.case == "l2tp-server":
        # Windows, Apple and Android send L2TP from port 1701 too, and IKEv1's Quick Mode
        # IDs must match the policy exactly (RFC 2409 §5.5 has no narrowing).
        return [(f"{_q(s.local or '')} port {L2TP_PORT}", f"IP_RW port {L2TP_PORT}")], \
            f"L2TP (UDP {L2TP_PORT}) between us and each client"
    if s.tunnel:
        return [(_q(a), _q(b)) for a, b in s.pairs()], "traffic between " + "; ".join(
            f"{a} and {b}" for a, b in s.pairs())
    return [(_q(s.local or ""), _q(s.peer or ""))], f"all traffic between {s.local} and {s.peer}"


def _policies(s: Setup) -> str:
    pairs, what = _traffic(s)
    mode = "tunnel" if s.tunnel else "transport"
    out = [f"# The traffic IPsec protects (ESP {mode} mode): {what}.\n"
           f"# spmd installs these selectors as kernel policies; the key daemon negotiates "
           f"the SAs\n# when traffic meets them.\n"]
    proto = "udp" if s.case == "l2tp-server" else "any"
    if not s.tunnel and s.local and s.peer and _family(s.local) == 6:
        out.append("# ICMPv6 (neighbour discovery) passes in the clear: it must work before "
                   "the SA\n# exists (doc/iked.md).\n")
        for direction, a, b in (("outbound", s.local, s.peer), ("inbound", s.peer, s.local)):
            out.append(_selector(f"{s.name}_icmp6_{direction[:-5]}", direction, _q(a or ""),
                                 _q(b or ""), f"{s.name}_icmp6", "ipv6-icmp", "\torder 0;\n"))
        out.append(f"policy {_q(s.name + '_icmp6')} {{\n\taction none;\n\tipsec_mode transport;"
                   f"\n\tipsec_level use;\n}};\n\n")
    ends = ""
    if s.tunnel:
        me = local_address(s)
        him = _q(s.peer) if s.peer else "IP_RW"
        ends = f"\tmy_sa_ipaddr {me};\n\tpeers_sa_ipaddr {him};\n"
    for i, (src, dst) in enumerate(pairs, 1):
        policy = f"{s.name}_policy_{i}"
        out.append(_selector(f"{s.name}_out_{i}", "outbound", src, dst, policy, proto))
        out.append(_selector(f"{s.name}_in_{i}", "inbound", dst, src, policy, proto))
        out.append(f"policy {_q(policy)} {{\n\taction auto_ipsec;\n\tremote_index "
                   f"{_q(s.name)};\n\tipsec_mode {mode};\n\tipsec_index {{ "
                   f"{_q(s.name + '_esp')}; }};\n\tipsec_level unique;\n{ends}}};\n\n")
    esp_auth = (*ESP_AUTH, "hmac_sha1") if s.legacy_windows or s.case == "l2tp-server" \
        else ESP_AUTH
    esp_enc = IKEV1_ENC if s.case == "l2tp-server" else ESP_ENC
    lifetime = "8 hours" if s.case == "kink-host" else "1 hour"
    out.append(f"""\
# The ESP SAs: lifetime, then the algorithms offered (AEAD first).
ipsec {_q(s.name + '_esp')} {{
\tipsec_sa_lifetime_time {lifetime};
\tsa_index {_q(s.name + '_esp_sa')};
}};

sa {_q(s.name + '_esp_sa')} {{
\tsa_protocol esp;
\tesp_enc_alg {_list(esp_enc)};
\tesp_auth_alg {_list(esp_auth)};
}};
""")
    return "".join(out)


def render(s: Setup) -> str:
    """The complete racoon2.conf of ``s``."""
    if s.case == "kink-host":
        head = _header(s, f"KINK transport mode, {s.local} <-> {s.peer}")
        return head + _interface(s, "kink") + _kink(s) + _policies(s)
    if s.case == "l2tp-server":
        head = _header(s, f"L2TP/IPsec (IKEv1) server on {s.local}")
        return head + _interface(s, "ike") + _ikev1_remote(s) + _policies(s)
    what = {"host-to-host": f"IKEv2 transport mode, {s.local} <-> {s.peer}",
            "site-to-site": f"IKEv2 tunnel, gateway {s.local} <-> gateway {s.peer}",
            "vpn-server": f"IKEv2 VPN server on {s.local}",
            "vpn-client": f"IKEv2 VPN client of {s.peer}"}[s.case]
    text = _header(s, what) + _interface(s, "ike") + _ikev2_remote(s) + _policies(s)
    if s.pool is not None:
        text += (f"\n# The addresses clients are given (one each, while connected).\n"
                 f"addresspool {_q(s.name + '_pool')} {{\n\t{s.pool[0]} - {s.pool[1]};\n}};\n")
    return text
