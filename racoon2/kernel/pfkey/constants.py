"""PF_KEYv2 numbers: RFC 2367, the KAME extensions and Linux's additions (pfkeyv2.h, ipsec.h).

Where BSD numbers differ from Linux's the Linux value is used and the difference is noted.
"""

from enum import IntEnum

PF_KEY_V2 = 2
AF_KEY = 15  # Linux; PF_KEY is 29 on FreeBSD/NetBSD/OpenBSD


class MsgType(IntEnum):
    """sadb_msg_type."""

    RESERVED = 0
    GETSPI = 1
    UPDATE = 2
    ADD = 3
    DELETE = 4
    GET = 5
    ACQUIRE = 6
    REGISTER = 7
    EXPIRE = 8
    FLUSH = 9
    DUMP = 10
    X_PROMISC = 11
    X_PCHANGE = 12
    X_SPDUPDATE = 13
    X_SPDADD = 14
    X_SPDDELETE = 15
    X_SPDGET = 16
    X_SPDACQUIRE = 17
    X_SPDDUMP = 18
    X_SPDFLUSH = 19
    X_SPDSETIDX = 20
    X_SPDEXPIRE = 21
    X_SPDDELETE2 = 22
    X_NAT_T_NEW_MAPPING = 23
    X_MIGRATE = 24


class SaType(IntEnum):
    """sadb_msg_satype."""

    UNSPEC = 0
    AH = 2
    ESP = 3
    RSVP = 5
    OSPFV2 = 6
    RIPV2 = 7
    MIP = 8
    X_IPCOMP = 9


class ExtType(IntEnum):
    """sadb_ext_type (Linux numbering; KAME puts NAT_T_OAI/OAR/FRAG at 23/24/25)."""

    SA = 1
    LIFETIME_CURRENT = 2
    LIFETIME_HARD = 3
    LIFETIME_SOFT = 4
    ADDRESS_SRC = 5
    ADDRESS_DST = 6
    ADDRESS_PROXY = 7
    KEY_AUTH = 8
    KEY_ENCRYPT = 9
    IDENTITY_SRC = 10
    IDENTITY_DST = 11
    SENSITIVITY = 12
    PROPOSAL = 13
    SUPPORTED_AUTH = 14
    SUPPORTED_ENCRYPT = 15
    SPIRANGE = 16
    X_KMPRIVATE = 17
    X_POLICY = 18
    X_SA2 = 19
    X_NAT_T_TYPE = 20
    X_NAT_T_SPORT = 21
    X_NAT_T_DPORT = 22
    X_NAT_T_OA = 23
    X_SEC_CTX = 24
    X_KMADDRESS = 25
    X_FILTER = 26


class SaState(IntEnum):
    """sadb_sa_state."""

    LARVAL = 0
    MATURE = 1
    DYING = 2
    DEAD = 3


class AuthAlg(IntEnum):
    """sadb_sa_auth / sadb_alg_id in SUPPORTED_AUTH."""

    NONE = 0
    MD5HMAC = 2
    SHA1HMAC = 3
    SHA2_256HMAC = 5
    SHA2_384HMAC = 6
    SHA2_512HMAC = 7
    RIPEMD160HMAC = 8
    AES_XCBC_MAC = 9
    SM3_256HMAC = 10
    NULL = 251


class EncAlg(IntEnum):
    """sadb_sa_encrypt / sadb_alg_id in SUPPORTED_ENCRYPT."""

    NONE = 0
    DESCBC = 2
    TRIPLEDESCBC = 3
    CASTCBC = 6
    BLOWFISHCBC = 7
    NULL = 11
    AESCBC = 12
    AESCTR = 13
    AES_CCM_ICV8 = 14
    AES_CCM_ICV12 = 15
    AES_CCM_ICV16 = 16
    AES_GCM_ICV8 = 18
    AES_GCM_ICV12 = 19
    AES_GCM_ICV16 = 20
    CAMELLIACBC = 22
    NULL_AES_GMAC = 23
    SM4CBC = 24
    SERPENTCBC = 252
    TWOFISHCBC = 253


class CompAlg(IntEnum):
    """sadb_sa_encrypt for SaType.X_IPCOMP."""

    NONE = 0
    OUI = 1
    DEFLATE = 2
    LZS = 3
    LZJH = 4


class Mode(IntEnum):
    """sadb_x_sa2_mode and sadb_x_ipsecrequest_mode (ipsec.h)."""

    ANY = 0
    TRANSPORT = 1
    TUNNEL = 2
    BEET = 3  # Linux only


class PolicyType(IntEnum):
    """sadb_x_policy_type."""

    DISCARD = 0
    NONE = 1
    IPSEC = 2
    ENTRUST = 3
    BYPASS = 4


class Dir(IntEnum):
    """sadb_x_policy_dir."""

    ANY = 0
    INBOUND = 1
    OUTBOUND = 2
    FWD = 3  # Linux only (KAME: MAX = 3)


class Level(IntEnum):
    """sadb_x_ipsecrequest_level."""

    DEFAULT = 0
    USE = 1
    REQUIRE = 2
    UNIQUE = 3


class NatTType(IntEnum):
    """sadb_x_nat_t_type_type (UDP_ENCAP_* values)."""

    ESPINUDP_NON_IKE = 1
    ESPINUDP = 2


SAFLAGS_PFS = 0x1
SAFLAGS_NOPMTUDISC = 0x20000000
SAFLAGS_DECAP_DSCP = 0x40000000
SAFLAGS_NOECN = 0x80000000

IPSEC_ULPROTO_ANY = 255
IPSEC_PROTO_ANY = 255
