"""libkrb5's C side for :mod:`kinkd.krb5`: struct layouts, entry points and their signatures.

The layouts are those of /usr/include/krb5/krb5.h (tests/kdc/test_krb5_layout.py compiles a
program against the header and compares); the names drop the ``krb5_`` prefix, so
``krb5_creds`` is :class:`Creds`.  Nothing here owns memory: :mod:`kinkd.krb5.api` does.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from collections.abc import Callable
from typing import Any

# krb5.h's AP options, get_credentials options and auth context flags used by kinkd.
AP_OPTS_USE_SESSION_KEY = 0x40000000
AP_OPTS_MUTUAL_REQUIRED = 0x20000000
AP_OPTS_USE_SUBKEY = 0x00000001
GC_USER_USER = 1
AUTH_CONTEXT_DO_TIME = 0x00000001


class Data(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("length", ctypes.c_uint), ("data", ctypes.c_void_p)]


class Keyblock(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("enctype", ctypes.c_int32),
        ("length", ctypes.c_uint),
        ("contents", ctypes.c_void_p),
    ]


class Checksum(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("checksum_type", ctypes.c_int32),
        ("length", ctypes.c_uint),
        ("contents", ctypes.c_void_p),
    ]


class EncData(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("enctype", ctypes.c_int32),
        ("kvno", ctypes.c_uint),
        ("ciphertext", Data),
    ]


class TicketTimes(ctypes.Structure):
    _fields_ = [
        ("authtime", ctypes.c_int32),
        ("starttime", ctypes.c_int32),
        ("endtime", ctypes.c_int32),
        ("renew_till", ctypes.c_int32),
    ]


class Transited(ctypes.Structure):
    _fields_ = [("magic", ctypes.c_int32), ("tr_type", ctypes.c_uint8), ("tr_contents", Data)]


class EncTktPart(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("flags", ctypes.c_int32),
        ("session", ctypes.POINTER(Keyblock)),
        ("client", ctypes.c_void_p),
        ("transited", Transited),
        ("times", TicketTimes),
        ("caddrs", ctypes.c_void_p),
        ("authorization_data", ctypes.c_void_p),
    ]


class Ticket(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("server", ctypes.c_void_p),
        ("enc_part", EncData),
        ("enc_part2", ctypes.POINTER(EncTktPart)),
    ]


class Authenticator(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("client", ctypes.c_void_p),
        ("checksum", ctypes.POINTER(Checksum)),
        ("cusec", ctypes.c_int32),
        ("ctime", ctypes.c_int32),
        ("subkey", ctypes.POINTER(Keyblock)),
        ("seq_number", ctypes.c_uint32),
        ("authorization_data", ctypes.c_void_p),
    ]


class Creds(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("client", ctypes.c_void_p),
        ("server", ctypes.c_void_p),
        ("keyblock", Keyblock),
        ("times", TicketTimes),
        ("is_skey", ctypes.c_uint),
        ("ticket_flags", ctypes.c_int32),
        ("addresses", ctypes.c_void_p),
        ("ticket", Data),
        ("second_ticket", Data),
        ("authdata", ctypes.c_void_p),
    ]


class Error(ctypes.Structure):
    _fields_ = [
        ("magic", ctypes.c_int32),
        ("ctime", ctypes.c_int32),
        ("cusec", ctypes.c_int32),
        ("susec", ctypes.c_int32),
        ("stime", ctypes.c_int32),
        ("error", ctypes.c_uint32),
        ("client", ctypes.c_void_p),
        ("server", ctypes.c_void_p),
        ("text", Data),
        ("e_data", Data),
    ]


# --- the library ---

Fn = Callable[..., Any]
_P = ctypes.POINTER
_VP = ctypes.c_void_p
_I32 = ctypes.c_int32
_CODE = ctypes.c_int32  # krb5_error_code


class Api:
    """The libkrb5/libk5crypto entry points kinkd uses, with their C signatures."""

    def __init__(self) -> None:
        krb5 = ctypes.CDLL(ctypes.util.find_library("krb5") or "libkrb5.so.3")
        crypto = ctypes.CDLL(ctypes.util.find_library("k5crypto") or "libk5crypto.so.3")

        def fn(lib: ctypes.CDLL, name: str, restype: Any, *argtypes: Any) -> Fn:
            f = getattr(lib, name)
            f.restype = restype
            f.argtypes = argtypes
            return f  # type: ignore[no-any-return]

        pvp = _P(_VP)
        self.profile_init_path = fn(krb5, "profile_init_path", ctypes.c_long, ctypes.c_char_p, pvp)
        self.profile_release = fn(krb5, "profile_release", None, _VP)
        self.init_context = fn(krb5, "krb5_init_context", _CODE, pvp)
        self.init_context_profile = fn(krb5, "krb5_init_context_profile", _CODE, _VP, _I32, pvp)
        self.free_context = fn(krb5, "krb5_free_context", None, _VP)
        self.get_error_message = fn(krb5, "krb5_get_error_message", _VP, _VP, _CODE)
        self.free_error_message = fn(krb5, "krb5_free_error_message", None, _VP, _VP)
        self.set_real_time = fn(krb5, "krb5_set_real_time", _CODE, _VP, _I32, _I32)
        self.us_timeofday = fn(krb5, "krb5_us_timeofday", _CODE, _VP, _P(_I32), _P(_I32))

        self.parse_name = fn(krb5, "krb5_parse_name", _CODE, _VP, ctypes.c_char_p, pvp)
        self.unparse_name = fn(krb5, "krb5_unparse_name", _CODE, _VP, _VP, pvp)
        self.free_unparsed_name = fn(krb5, "krb5_free_unparsed_name", None, _VP, _VP)
        self.free_principal = fn(krb5, "krb5_free_principal", None, _VP, _VP)

        self.kt_resolve = fn(krb5, "krb5_kt_resolve", _CODE, _VP, ctypes.c_char_p, pvp)
        self.kt_default = fn(krb5, "krb5_kt_default", _CODE, _VP, pvp)
        self.kt_close = fn(krb5, "krb5_kt_close", _CODE, _VP, _VP)
        self.cc_resolve = fn(krb5, "krb5_cc_resolve", _CODE, _VP, ctypes.c_char_p, pvp)
        self.cc_default = fn(krb5, "krb5_cc_default", _CODE, _VP, pvp)
        self.cc_new_unique = fn(
            krb5, "krb5_cc_new_unique", _CODE, _VP, ctypes.c_char_p, ctypes.c_char_p, pvp
        )
        self.cc_get_full_name = fn(krb5, "krb5_cc_get_full_name", _CODE, _VP, _VP, pvp)
        self.free_string = fn(krb5, "krb5_free_string", None, _VP, _VP)
        self.cc_initialize = fn(krb5, "krb5_cc_initialize", _CODE, _VP, _VP, _VP)
        self.cc_store_cred = fn(krb5, "krb5_cc_store_cred", _CODE, _VP, _VP, _P(Creds))
        self.cc_close = fn(krb5, "krb5_cc_close", _CODE, _VP, _VP)
        self.cc_destroy = fn(krb5, "krb5_cc_destroy", _CODE, _VP, _VP)

        self.gic_opt_alloc = fn(krb5, "krb5_get_init_creds_opt_alloc", _CODE, _VP, pvp)
        self.gic_opt_free = fn(krb5, "krb5_get_init_creds_opt_free", None, _VP, _VP)
        self.gic_opt_set_tkt_life = fn(
            krb5, "krb5_get_init_creds_opt_set_tkt_life", None, _VP, _I32
        )
        self.get_init_creds_keytab = fn(
            krb5, "krb5_get_init_creds_keytab", _CODE,
            _VP, _P(Creds), _VP, _VP, _I32, ctypes.c_char_p, _VP,
        )
        self.get_credentials = fn(
            krb5, "krb5_get_credentials", _CODE, _VP, _I32, _VP, _P(Creds), _P(_P(Creds))
        )
        self.free_creds = fn(krb5, "krb5_free_creds", None, _VP, _P(Creds))
        self.free_cred_contents = fn(krb5, "krb5_free_cred_contents", None, _VP, _P(Creds))

        self.auth_con_init = fn(krb5, "krb5_auth_con_init", _CODE, _VP, pvp)
        self.auth_con_free = fn(krb5, "krb5_auth_con_free", _CODE, _VP, _VP)
        self.auth_con_getflags = fn(krb5, "krb5_auth_con_getflags", _CODE, _VP, _VP, _P(_I32))
        self.auth_con_setflags = fn(krb5, "krb5_auth_con_setflags", _CODE, _VP, _VP, _I32)
        self.auth_con_setuseruserkey = fn(
            krb5, "krb5_auth_con_setuseruserkey", _CODE, _VP, _VP, _P(Keyblock)
        )
        pkb = _P(_P(Keyblock))
        self.auth_con_getkey = fn(krb5, "krb5_auth_con_getkey", _CODE, _VP, _VP, pkb)
        self.auth_con_getsendsubkey = fn(
            krb5, "krb5_auth_con_getsendsubkey", _CODE, _VP, _VP, pkb
        )
        self.auth_con_getrecvsubkey = fn(
            krb5, "krb5_auth_con_getrecvsubkey", _CODE, _VP, _VP, pkb
        )
        self.auth_con_getauthenticator = fn(
            krb5, "krb5_auth_con_getauthenticator", _CODE, _VP, _VP, _P(_P(Authenticator))
        )
        self.free_authenticator = fn(krb5, "krb5_free_authenticator", None, _VP, _P(Authenticator))
        self.free_keyblock = fn(krb5, "krb5_free_keyblock", None, _VP, _P(Keyblock))

        self.mk_req_extended = fn(
            krb5, "krb5_mk_req_extended", _CODE, _VP, pvp, _I32, _P(Data), _P(Creds), _P(Data)
        )
        self.rd_req = fn(
            krb5, "krb5_rd_req", _CODE, _VP, pvp, _P(Data), _VP, _VP, _P(_I32), _P(_P(Ticket))
        )
        self.free_ticket = fn(krb5, "krb5_free_ticket", None, _VP, _P(Ticket))
        self.mk_rep = fn(krb5, "krb5_mk_rep", _CODE, _VP, _VP, _P(Data))
        self.rd_rep = fn(krb5, "krb5_rd_rep", _CODE, _VP, _VP, _P(Data), pvp)
        self.free_ap_rep_enc_part = fn(krb5, "krb5_free_ap_rep_enc_part", None, _VP, _VP)
        self.mk_error = fn(krb5, "krb5_mk_error", _CODE, _VP, _P(Error), _P(Data))
        self.rd_error = fn(krb5, "krb5_rd_error", _CODE, _VP, _P(Data), _P(_P(Error)))
        self.free_error = fn(krb5, "krb5_free_error", None, _VP, _P(Error))
        self.free_data_contents = fn(krb5, "krb5_free_data_contents", None, _VP, _P(Data))

        size_p = _P(ctypes.c_size_t)
        self.c_encrypt_length = fn(
            crypto, "krb5_c_encrypt_length", _CODE, _VP, _I32, ctypes.c_size_t, size_p
        )
        self.c_encrypt = fn(
            crypto, "krb5_c_encrypt", _CODE,
            _VP, _P(Keyblock), _I32, _P(Data), _P(Data), _P(EncData),
        )
        self.c_decrypt = fn(
            crypto, "krb5_c_decrypt", _CODE,
            _VP, _P(Keyblock), _I32, _P(Data), _P(EncData), _P(Data),
        )
        self.c_make_checksum = fn(
            crypto, "krb5_c_make_checksum", _CODE,
            _VP, _I32, _P(Keyblock), _I32, _P(Data), _P(Checksum),
        )
        self.c_verify_checksum = fn(
            crypto, "krb5_c_verify_checksum", _CODE,
            _VP, _P(Keyblock), _I32, _P(Data), _P(Checksum), _P(ctypes.c_uint),
        )
        self.free_checksum_contents = fn(
            krb5, "krb5_free_checksum_contents", None, _VP, _P(Checksum)
        )
        self.c_prf_length = fn(crypto, "krb5_c_prf_length", _CODE, _VP, _I32, size_p)
        self.c_prf = fn(crypto, "krb5_c_prf", _CODE, _VP, _P(Keyblock), _P(Data), _P(Data))


@functools.cache
def library() -> Api:
    """libkrb5, loaded on first use, so that importing kinkd never needs it."""
    return Api()


def error_message(api: Api, ctx: ctypes.c_void_p | None, code: int) -> str:
    """libkrb5's text for the com_err ``code``."""
    text = api.get_error_message(ctx, code)
    try:
        return ctypes.string_at(text).decode(errors="replace") if text else f"error {code}"
    finally:
        api.free_error_message(ctx, text)


def in_data(value: bytes) -> tuple[Data, ctypes.Array[ctypes.c_char]]:
    """A ``krb5_data`` for ``value`` and the buffer it points into."""
    # libkrb5 gets a private copy.  The struct holds only its address, so callers keep the
    # returned buffer in a local (named _something) until the C call has returned.
    buf = ctypes.create_string_buffer(value, len(value))
    return Data(0, len(value), ctypes.cast(buf, ctypes.c_void_p)), buf


def data_bytes(data: Data) -> bytes:
    """A ``krb5_data``'s contents, copied."""
    return ctypes.string_at(data.data, data.length) if data.length else b""

