"""What the other side configures: a strongSwan swanctl.conf and the summary an admin reads.

The swanctl.conf proposals are exactly the racoon2.conf's (racoon2.setup.conf), in
strongSwan's spelling, and one child per selector pair, as racoon2 has one policy per pair.
"""

from __future__ import annotations

from racoon2.setup.conf import USERS, psk_file
from racoon2.setup.model import Identity, Setup

_DH = "curve25519-ecp256-modp3072-modp2048"
IKE_PROPOSALS = f"aes256gcm16-aes128gcm16-prfsha256-{_DH},aes256-aes128-sha256-{_DH}"
ESP_PROPOSALS = "aes256gcm16-aes128gcm16,aes256-aes128-sha256"


def _id(ident: Identity | None) -> str:
    if ident is None:
        return "%any"
    return ident.value


def swanctl(s: Setup, secret: str | None, cert: str = "host.pem") -> str:
    """swanctl.conf for a strongSwan peer of ``s`` (the mirrored side: ``s`` is strongSwan's
    own view).  ``secret`` is the PSK, or with EAP the user's password (None with
    certificates: ``cert`` in x509/, the CA in x509ca/, the key in private/)."""
    auth = "pubkey" if s.certificates else "psk"
    certs = f"\n      certs = {cert}" if s.certificates else ""
    local_auth, remote_auth = auth, auth
    if s.eap:  # we log in with EAP-MSCHAPv2, the server with its certificate (CA in x509ca/)
        assert s.local_id is not None
        local_auth, remote_auth = "eap-mschapv2", "pubkey"
        certs = f"\n      eap_id = {s.local_id.value}"
    vips = ""
    if s.case == "vpn-client":
        v4 = ":" not in s.peer_nets[0]
        vips = f"\n    vips = {'0.0.0.0' if v4 else '::'}"
    remote_addrs = s.peer or "%any"
    children = []
    if s.case == "vpn-client":
        pairs = [("dynamic", ",".join(s.peer_nets))]
    elif s.tunnel:
        pairs = s.pairs()
    else:
        pairs = [("dynamic", "dynamic")]
    for i, (mine, theirs) in enumerate(pairs, 1):
        name = s.name if len(pairs) == 1 else f"{s.name}_{i}"
        children.append(f"""\
      {name} {{
        local_ts = {mine}
        remote_ts = {theirs}
        esp_proposals = {ESP_PROPOSALS}
        mode = {"tunnel" if s.tunnel else "transport"}
        start_action = {"start" if s.case == "vpn-client" else "trap"}
      }}
""")
    secrets = ""
    if secret is not None and s.eap:
        secrets = f"""
secrets {{
  eap-{s.name} {{
    id = {_id(s.local_id)}
    secret = "{secret}"
  }}
}}
"""
    elif secret is not None:
        secrets = f"""
secrets {{
  ike-{s.name} {{
    id-local = {_id(s.local_id)}
    id-remote = {_id(s.peer_id)}
    secret = "{secret}"
  }}
}}
"""
    return f"""\
# swanctl.conf (strongSwan 5.x/6.x) written by racoon2-setup: the other end of the racoon2
# configuration.  Load it with `swanctl --load-all`; its proposals are racoon2.conf's.
connections {{
  {s.name} {{
    version = 2
    local_addrs = {s.local or "%any"}
    remote_addrs = {remote_addrs}{vips}
    proposals = {IKE_PROPOSALS}
    dpd_delay = 60s
    local {{
      auth = {local_auth}
      id = {_id(s.local_id)}{certs}
    }}
    remote {{
      auth = {remote_auth}
      id = {_id(s.peer_id)}
    }}
    children {{
{"".join(children)}    }}
  }}
}}
{secrets}"""


def _eap_phones(server: Setup, client: str) -> str:
    addr, sid = server.local or "", _id(server.local_id)
    # Windows and Apple check that the server's certificate names the address typed
    # (native-clients.md): the certificate carries server_id and the address.
    return f"""\
  (the user name is {client}, the password the text of password.txt; first install
   certs/ca.pem as a trusted CA: the clients check the server's certificate against it)
  iOS / macOS: open ca.pem, install the profile, then Settings > General > About >
    Certificate Trust Settings: on for it; VPN > Add VPN Configuration: Type IKEv2,
    Server {addr}, Remote ID {sid}, Local ID empty,
    User Authentication Username, Username {client}, Password: the password.
  Android 11+: Settings > Security > Install a certificate > CA certificate: ca.pem;
    VPN > +: Type "IKEv2/IPSec MSCHAPv2", Server address {addr}, IPSec identifier
    {client}, IPSec CA certificate: ca.pem, Username {client}, Password: the password.
    (Or the strongSwan app: type "IKEv2 EAP (Username/Password)", the same answers.)
  Windows 10/11: import ca.pem into Local Computer > Trusted Root Certification
    Authorities, then in PowerShell as administrator:
{_windows(sid if server.local_id and server.local_id.kind == "fqdn" else addr, "Eap")}\
    and log in as {client} with the password.
"""


def _windows(server: str, method: str) -> str:
    """The PowerShell lines of a Windows 10/11 IKEv2 profile: the connection, then the
    proposal racoon2-setup's server accepts without ``legacy_windows``."""
    return f"""\
    Add-VpnConnection -Name racoon2 -ServerAddress {server} -TunnelType Ikev2 `
      -AuthenticationMethod {method} -EncryptionLevel Required
    Set-VpnConnectionIPsecConfiguration -ConnectionName racoon2 `
      -CipherTransformConstants GCMAES256 -EncryptionMethod GCMAES256 `
      -IntegrityCheckMethod SHA256 -DHGroup Group14 -PfsGroup None `
      -AuthenticationTransformConstants GCMAES256
    (or answer legacy_windows: true for Windows' defaults, MODP1024 and SHA-1)
"""


def phones(server: Setup, client: str) -> str:
    """What a user taps on iOS/macOS, Android and Windows to reach ``server`` as ``client``."""
    if server.eap:
        return _eap_phones(server, client)
    psk = not server.certificates
    addr, sid = server.local or "", _id(server.local_id)
    app = ("(The strongSwan app has no PSK profiles: use certificates for it.)" if psk else
           '(Or the strongSwan app: type "IKEv2 Certificate", the same answers.)')
    windows = ("  Windows: its built-in IKEv2 client has no PSK (machine certificates or EAP\n"
               "    only): answer auth: certificates or auth: eap for Windows clients.\n"
               if psk else f"""\
  Windows 10/11: import {client}.p12 into Local Computer > Personal (its CA goes to
    Trusted Root), then in PowerShell as administrator:
{_windows(addr, "MachineCertificate")}""")
    first = ("the key is the text of psk.txt" if psk else
             f"first import {client}.p12 (its password is in p12-password.txt)")
    return f"""\
  ({first})
  iOS / macOS: Settings > General > VPN & Device Management > VPN > Add VPN Configuration:
    Type IKEv2, Server {addr}, Remote ID {sid}, Local ID {client},
    User Authentication None, {"Secret: the key" if psk else "Use Certificate: on, that one"}.
  Android 11+: Settings > Network & internet > VPN > +: Type
    "IKEv2/IPSec {"PSK" if psk else "RSA"}", Server address {addr}, IPSec identifier {client},
    {"IPSec pre-shared key: the key" if psk else
     "IPSec user certificate: that one, IPSec CA certificate: ca.pem"}.
    {app}
{windows}"""


def summary(s: Setup, files: list[str], clients: list[str]) -> str:
    """The text racoon2-setup prints: what it wrote and what to do on the other side."""
    lines = [f"racoon2-setup: {s.case}, files in {s.confdir}:"]
    lines += [f"  {f}" for f in files]
    lines.append("Start: spmd, then iked" + (" (kinkd for KINK)" if s.case == "kink-host"
                                             else "") + " (doc/spmd.md, doc/iked.md).")
    if s.case in ("host-to-host", "site-to-site"):
        lines += ["The other end:",
                  "  racoon2: copy peer/ to its " + s.confdir + " (the key files keep mode "
                  "0600).",
                  "  strongSwan: peer/swanctl.conf" + (" with peer/certs/host.pem in x509/, "
                                                       "ca.pem in x509ca/, host.key in private/"
                                                       if s.certificates else "") + "."]
        lines.append("  anything else: " + ("the key in " + psk_file(s) if not s.certificates
                                             else "peer/certs") + "; proposals as in "
                     "swanctl.conf.")
    elif s.case == "vpn-server":
        if s.eap:
            lines += ["The clients: each clients/NAME/ holds its password.txt, certs/ca.pem "
                      "and a strongSwan",
                      "swanctl.conf (ca.pem in x509ca/); iked itself is no EAP client. This "
                      "server keeps",
                      f"the passwords' NT hashes in {USERS}."]
        else:
            lines.append("The clients: each clients/ID/ holds its racoon2.conf, swanctl.conf "
                         "and credentials.")
        for client in clients or ["(any ID)"]:
            lines.append(f" {client}:")
            lines.append(phones(s, client).rstrip("\n"))
    elif s.case == "vpn-client":
        lines.append(f"The server ({s.peer}): racoon2-setup's vpn-server case, or any IKEv2 "
                     f"server that accepts ID {s.local_id.value if s.local_id else ''} "
                     f"and leases an address.")
    elif s.case == "kink-host":
        lines += ["Kerberos (doc/kinkd.md): on the KDC",
                  f"  kadmin -q 'addprinc -randkey {s.local_principal}'",
                  f"  kadmin -q 'ktadd -k /etc/krb5.keytab {s.local_principal}'",
                  f"and the same for {s.peer_principal} on the peer, which runs this tool "
                  f"with local and peer swapped (peer/racoon2.conf)."]
    else:
        lines += ["Clients behind NAT: iked's IKEv1 floats to port 4500 and sends NAT-OA "
                  "(RFC 3947); the",
                  "interface ike line needs the address with port 4500 too (doc/iked.md, "
                  "IKEv1).",
                  "L2TP itself: xl2tpd (or accel-ppp) listening on UDP 1701 with a PPP "
                  "address pool;",
                  f"clients: Windows 'L2TP/IPsec with pre-shared key', iOS/Android "
                  f"'L2TP/IPSec PSK', the key in {psk_file(s)}."]
    return "\n".join(lines) + "\n"
