"""ISAKMP/IKEv1 registry values (IANA "Internet Security Association and Key Management Protocol
(ISAKMP) Identifiers" and "Internet Key Exchange (IKE) Attributes"; RFC 2407, 2408, 2409, 3706,
3947 and the mode-config draft)."""

from __future__ import annotations

import enum


class ExchangeType(enum.IntEnum):
    """Exchange types (RFC 2408 §3.1, RFC 2409 §5 and §9)."""

    NONE = 0
    BASE = 1
    IDENTITY_PROTECTION = 2
    MAIN_MODE = 2
    AUTHENTICATION_ONLY = 3
    AGGRESSIVE = 4
    INFORMATIONAL = 5
    TRANSACTION = 6
    QUICK_MODE = 32
    NEW_GROUP_MODE = 33


class PayloadType(enum.IntEnum):
    """Next Payload values (RFC 2408 §3.1; 14 mode-config, 15-19 GDOI, 20-21 RFC 3947, 130-131
    the NAT-T drafts, 132 the Cisco/strongSwan/racoon fragment)."""

    NONE = 0
    SA = 1
    PROPOSAL = 2
    TRANSFORM = 3
    KE = 4
    ID = 5
    CERT = 6
    CR = 7
    HASH = 8
    SIG = 9
    NONCE = 10
    NOTIFICATION = 11
    DELETE = 12
    VENDOR_ID = 13
    ATTRIBUTE = 14
    SAK = 15
    SAT = 16
    KD = 17
    SEQ = 18
    POP = 19
    NAT_D = 20
    NAT_OA = 21
    NAT_D_DRAFT = 130
    NAT_OA_DRAFT = 131
    FRAGMENT = 132


class NotifyType(enum.IntEnum):
    """Notify message types: errors (RFC 2408 §3.14.1), status (RFC 2407 §4.6.3, RFC 3706)."""

    INVALID_PAYLOAD_TYPE = 1
    DOI_NOT_SUPPORTED = 2
    SITUATION_NOT_SUPPORTED = 3
    INVALID_COOKIE = 4
    INVALID_MAJOR_VERSION = 5
    INVALID_MINOR_VERSION = 6
    INVALID_EXCHANGE_TYPE = 7
    INVALID_FLAGS = 8
    INVALID_MESSAGE_ID = 9
    INVALID_PROTOCOL_ID = 10
    INVALID_SPI = 11
    INVALID_TRANSFORM_ID = 12
    ATTRIBUTES_NOT_SUPPORTED = 13
    NO_PROPOSAL_CHOSEN = 14
    BAD_PROPOSAL_SYNTAX = 15
    PAYLOAD_MALFORMED = 16
    INVALID_KEY_INFORMATION = 17
    INVALID_ID_INFORMATION = 18
    INVALID_CERT_ENCODING = 19
    INVALID_CERTIFICATE = 20
    CERT_TYPE_UNSUPPORTED = 21
    INVALID_CERT_AUTHORITY = 22
    INVALID_HASH_INFORMATION = 23
    AUTHENTICATION_FAILED = 24
    INVALID_SIGNATURE = 25
    ADDRESS_NOTIFICATION = 26
    NOTIFY_SA_LIFETIME = 27
    CERTIFICATE_UNAVAILABLE = 28
    UNSUPPORTED_EXCHANGE_TYPE = 29
    UNEQUAL_PAYLOAD_LENGTHS = 30
    CONNECTED = 16384
    RESPONDER_LIFETIME = 24576
    REPLAY_STATUS = 24577
    INITIAL_CONTACT = 24578
    R_U_THERE = 36136
    R_U_THERE_ACK = 36137


class Doi(enum.IntEnum):
    """Domains of interpretation."""

    ISAKMP = 0
    IPSEC = 1
    GDOI = 2


class Situation(enum.IntFlag):
    """IPsec DOI situation bits (RFC 2407 §4.2)."""

    IDENTITY_ONLY = 0x01
    SECRECY = 0x02
    INTEGRITY = 0x04


class ProtocolId(enum.IntEnum):
    """Protocol identifiers (RFC 2407 §4.4.1)."""

    RESERVED = 0
    ISAKMP = 1
    IPSEC_AH = 2
    IPSEC_ESP = 3
    IPCOMP = 4


class IsakmpTransformId(enum.IntEnum):
    """Transform IDs of PROTO_ISAKMP (RFC 2407 §4.4.2)."""

    KEY_IKE = 1


class AhTransformId(enum.IntEnum):
    """Transform IDs of PROTO_IPSEC_AH (RFC 2407 §4.4.3 and later)."""

    MD5 = 2
    SHA = 3
    DES = 4
    SHA2_256 = 5
    SHA2_384 = 6
    SHA2_512 = 7
    RIPEMD = 8
    AES_XCBC_MAC = 9
    RSA = 10
    AES_128_GMAC = 11
    AES_192_GMAC = 12
    AES_256_GMAC = 13


class EspTransformId(enum.IntEnum):
    """Transform IDs of PROTO_IPSEC_ESP (RFC 2407 §4.4.4 and later)."""

    DES_IV64 = 1
    DES = 2
    TRIPLE_DES = 3
    RC5 = 4
    IDEA = 5
    CAST = 6
    BLOWFISH = 7
    TRIPLE_IDEA = 8
    DES_IV32 = 9
    RC4 = 10
    NULL = 11
    AES = 12
    AES_CTR = 13
    AES_CCM_8 = 14
    AES_CCM_12 = 15
    AES_CCM_16 = 16
    AES_GCM_8 = 18
    AES_GCM_12 = 19
    AES_GCM_16 = 20
    SEED_CBC = 21
    CAMELLIA = 22
    NULL_AUTH_AES_GMAC = 23


class IpcompTransformId(enum.IntEnum):
    """Transform IDs of PROTO_IPCOMP (RFC 2407 §4.4.5)."""

    OUI = 1
    DEFLATE = 2
    LZS = 3
    LZJH = 4


class Phase1Attr(enum.IntEnum):
    """Phase 1 SA attribute classes (RFC 2409 Appendix A); B = basic (TV), V = variable."""

    ENCRYPTION_ALGORITHM = 1
    HASH_ALGORITHM = 2
    AUTHENTICATION_METHOD = 3
    GROUP_DESCRIPTION = 4
    GROUP_TYPE = 5
    GROUP_PRIME = 6
    GROUP_GENERATOR_ONE = 7
    GROUP_GENERATOR_TWO = 8
    GROUP_CURVE_A = 9
    GROUP_CURVE_B = 10
    LIFE_TYPE = 11
    LIFE_DURATION = 12
    PRF = 13
    KEY_LENGTH = 14
    FIELD_SIZE = 15
    GROUP_ORDER = 16


class EncryptionAlgorithm(enum.IntEnum):
    """Phase 1 Encryption Algorithm values."""

    DES_CBC = 1
    IDEA_CBC = 2
    BLOWFISH_CBC = 3
    RC5_R16_B64_CBC = 4
    TRIPLE_DES_CBC = 5
    CAST_CBC = 6
    AES_CBC = 7
    CAMELLIA_CBC = 8


class HashAlgorithm(enum.IntEnum):
    """Phase 1 Hash Algorithm values."""

    MD5 = 1
    SHA = 2
    TIGER = 3
    SHA2_256 = 4
    SHA2_384 = 5
    SHA2_512 = 6


class AuthMethod(enum.IntEnum):
    """Phase 1 Authentication Method values (with RFC 4754 ECDSA and the XAUTH/hybrid ones)."""

    PRE_SHARED_KEY = 1
    DSS_SIGNATURES = 2
    RSA_SIGNATURES = 3
    RSA_ENCRYPTION = 4
    RSA_REVISED_ENCRYPTION = 5
    ECDSA_SHA256_P256 = 9
    ECDSA_SHA384_P384 = 10
    ECDSA_SHA512_P521 = 11
    HYBRID_INIT_RSA = 64221
    HYBRID_RESP_RSA = 64222
    HYBRID_INIT_DSS = 64223
    HYBRID_RESP_DSS = 64224
    XAUTH_INIT_PRE_SHARED = 65001
    XAUTH_RESP_PRE_SHARED = 65002
    XAUTH_INIT_DSS = 65003
    XAUTH_RESP_DSS = 65004
    XAUTH_INIT_RSA = 65005
    XAUTH_RESP_RSA = 65006
    XAUTH_INIT_RSA_ENCRYPTION = 65007
    XAUTH_RESP_RSA_ENCRYPTION = 65008
    XAUTH_INIT_RSA_REVISED_ENCRYPTION = 65009
    XAUTH_RESP_RSA_REVISED_ENCRYPTION = 65010


class GroupType(enum.IntEnum):
    """Phase 1 Group Type values."""

    MODP = 1
    ECP = 2
    EC2N = 3


class LifeType(enum.IntEnum):
    """Life Type values (the same numbers in Phase 1 and the IPsec DOI)."""

    SECONDS = 1
    KILOBYTES = 2


class IpsecAttr(enum.IntEnum):
    """IPsec DOI SA attribute classes (RFC 2407 §4.5, RFC 3168 for ECN)."""

    SA_LIFE_TYPE = 1
    SA_LIFE_DURATION = 2
    GROUP_DESCRIPTION = 3
    ENCAPSULATION_MODE = 4
    AUTHENTICATION_ALGORITHM = 5
    KEY_LENGTH = 6
    KEY_ROUNDS = 7
    COMPRESS_DICTIONARY_SIZE = 8
    COMPRESS_PRIVATE_ALGORITHM = 9
    ECN_TUNNEL = 10


class EncapsulationMode(enum.IntEnum):
    """Encapsulation Mode values (RFC 2407; UDP modes of RFC 3947 and of the NAT-T drafts)."""

    TUNNEL = 1
    TRANSPORT = 2
    UDP_TUNNEL = 3
    UDP_TRANSPORT = 4
    UDP_TUNNEL_DRAFT = 61443
    UDP_TRANSPORT_DRAFT = 61444


class AuthAlgorithm(enum.IntEnum):
    """IPsec DOI Authentication Algorithm values."""

    HMAC_MD5 = 1
    HMAC_SHA = 2
    DES_MAC = 3
    KPDK = 4
    HMAC_SHA2_256 = 5
    HMAC_SHA2_384 = 6
    HMAC_SHA2_512 = 7
    HMAC_RIPEMD = 8
    AES_XCBC_MAC = 9
    SIG_RSA = 10
    AES_128_GMAC = 11
    AES_192_GMAC = 12
    AES_256_GMAC = 13


class IdType(enum.IntEnum):
    """Identification types (RFC 2407 §4.6.2.1)."""

    IPV4_ADDR = 1
    FQDN = 2
    USER_FQDN = 3
    IPV4_ADDR_SUBNET = 4
    IPV6_ADDR = 5
    IPV6_ADDR_SUBNET = 6
    IPV4_ADDR_RANGE = 7
    IPV6_ADDR_RANGE = 8
    DER_ASN1_DN = 9
    DER_ASN1_GN = 10
    KEY_ID = 11


class CertEncoding(enum.IntEnum):
    """CERT/CR encodings (RFC 2408 §3.9)."""

    NONE = 0
    PKCS7 = 1
    PGP = 2
    DNS_SIGNED_KEY = 3
    X509_SIGNATURE = 4
    X509_KEY_EXCHANGE = 5
    KERBEROS_TOKEN = 6
    CRL = 7
    ARL = 8
    SPKI = 9
    X509_ATTRIBUTE = 10


class CfgType(enum.IntEnum):
    """Attribute payload types (mode-config, draft-dukes-ike-mode-cfg §3.2)."""

    REQUEST = 1
    REPLY = 2
    SET = 3
    ACK = 4


class CfgAttr(enum.IntEnum):
    """Mode-config and XAUTH attribute types."""

    INTERNAL_IP4_ADDRESS = 1
    INTERNAL_IP4_NETMASK = 2
    INTERNAL_IP4_DNS = 3
    INTERNAL_IP4_NBNS = 4
    INTERNAL_ADDRESS_EXPIRY = 5
    INTERNAL_IP4_DHCP = 6
    APPLICATION_VERSION = 7
    INTERNAL_IP6_ADDRESS = 8
    INTERNAL_IP6_NETMASK = 9
    INTERNAL_IP6_DNS = 10
    INTERNAL_IP6_NBNS = 11
    INTERNAL_IP6_DHCP = 12
    INTERNAL_IP4_SUBNET = 13
    SUPPORTED_ATTRIBUTES = 14
    INTERNAL_IP6_SUBNET = 15
    XAUTH_TYPE = 16520
    XAUTH_USER_NAME = 16521
    XAUTH_USER_PASSWORD = 16522
    XAUTH_PASSCODE = 16523
    XAUTH_MESSAGE = 16524
    XAUTH_CHALLENGE = 16525
    XAUTH_DOMAIN = 16526
    XAUTH_STATUS = 16527
    XAUTH_NEXT_PIN = 16528
    XAUTH_ANSWER = 16529


FLAG_ENCRYPTION = 0x01
FLAG_COMMIT = 0x02
FLAG_AUTHENTICATION_ONLY = 0x04
ISAKMP_VERSION = 0x10
FRAGMENT_LAST = 0x01
