"""racoon2.conf text for one IKEv1 peer, for the pair tests and the interop tests."""

from __future__ import annotations

from pathlib import Path

TEMPLATE = """
interface {{
\tike {{ {me} port {port}; }};
\tspmd {{ unix "{tmp}/spmif"; }};
\tspmd_password "{tmp}/spmd.pwd";
}};
resolver {{ resolver off; }};
remote peer {{
\tacceptable_kmp {{ ikev1; }};
\tikev1 {{
\t\texchange_mode {exchange_mode};
\t\tmy_id {my_id};
\t\tpeers_id {peers_id};
\t\tpeers_ipaddr {peer} port {peer_port};
\t\tkmp_enc_alg {{ aes128_cbc; 3des_cbc; }};
\t\tkmp_hash_alg {{ sha2_256; sha1; }};
\t\tkmp_dh_group {{ modp2048; }};
{auth}
\t\tkmp_sa_lifetime_time {p1_life} sec;
\t\tneed_pfs {pfs};
\t\tproposal_check {check};
\t\tinterval_to_send 1 sec;
\t\tmax_retry_to_send {retry};
{extra}
\t}};
}};
selector sel_out {{
\tdirection outbound; src {src}; dst {dst}; upper_layer_protocol any; policy_index pol;
}};
selector sel_in {{
\tdirection inbound; src {dst}; dst {src}; upper_layer_protocol any; policy_index pol;
}};
policy pol {{
\taction auto_ipsec; remote_index peer; ipsec_mode {mode}; ipsec_index {{ esp_ipsec; }};
\tipsec_level require;{tunnel_ends}
}};
ipsec esp_ipsec {{ ipsec_sa_lifetime_time {p2_life} sec; sa_index esp_sa; }};
sa esp_sa {{ sa_protocol esp; esp_enc_alg {{ aes128_cbc; }}; esp_auth_alg {{ hmac_sha1; }}; }};
"""


def ikev1_conf(tmp: Path, me: str, peer: str, *, psk: bytes = b"ikev1-secret",
               tunnel: bool = False, src: str | None = None, dst: str | None = None,
               aggressive: bool = False, pfs: bool = False, check: str = "obey",
               p1_life: int = 28800, p2_life: int = 3600, port: int = 500,
               peer_port: int = 500, extra: str = "", retry: int = 3,
               cert: tuple[str, str, str] | None = None, my_id: str = "",
               peers_id: str = "") -> str:
    """The configuration text; the PSK file is written into ``tmp``.  ``cert`` = (our
    certificate, our key, the CA certificate) files: RSA signatures instead of the PSK.
    ``my_id``/``peers_id``: an id_spec (``fqdn "a.example"``), else our/its address."""
    tmp.mkdir(parents=True, exist_ok=True)
    key = tmp / "peer.psk"
    key.write_bytes(psk)
    key.chmod(0o600)
    auth = f'\t\tkmp_auth_method {{ psk; }};\n\t\tpre_shared_key "{tmp}/peer.psk";'
    if cert is not None:
        auth = (f'\t\tkmp_auth_method {{ rsasig; }};\n\t\tmy_public_key x509pem "{cert[0]}" '
                f'"{cert[1]}";\n\t\tpeers_public_key x509pem "{cert[2]}";')
    return TEMPLATE.format(auth=auth,
        me=me, peer=peer, tmp=tmp, my_id=my_id or f"ipaddr {me}",
        peers_id=peers_id or f"ipaddr {peer}", port=port, peer_port=peer_port,
        exchange_mode="aggressive" if aggressive else "main", pfs="on" if pfs else "off",
        check=check, retry=retry, p1_life=p1_life, p2_life=p2_life, extra=extra,
        src=src or me, dst=dst or peer, mode="tunnel" if tunnel else "transport",
        tunnel_ends=f" my_sa_ipaddr {me}; peers_sa_ipaddr {peer};" if tunnel else "")
