"""The typed binding: :class:`Context` and the handles it hands out.

Memory: every libkrb5 allocation that outlives one call belongs to a Python object (a
:class:`Principal`, :class:`Keytab`, :class:`CCache`, :class:`Credentials` or
:class:`AuthContext`) and is freed by a ``weakref.finalize`` when that object is collected, when
it is closed, or when its :class:`Context` is closed, whichever comes first; allocations that
live within one call are freed in ``finally`` blocks.  Keys, tickets' contents and KRB-ERRORs
are copied out into the plain values of :mod:`kinkd.krb5.values`, so they need no freeing.

Threads: like a ``krb5_context``, a :class:`Context` must be used by one thread at a time.  Every
call is synchronous, and the two that talk to a KDC can block for seconds; an asyncio program
uses :class:`kinkd.krb5.kdc.AsyncKdc`, which runs them on its own context in a worker thread.

Why one module over 500 lines: the handles and the context share private state (the context
pointer, the registry of finalizers that must run before the context is freed); splitting them
would make that state public across modules.
"""

from __future__ import annotations

import ctypes
import os
import weakref
from types import TracebackType
from typing import Any, Self

from kinkd.krb5 import _lib as c
from kinkd.krb5.values import Checksum, Keyblock, Krb5Error, KrbError, TicketInfo, TicketTimes


class _Closing:
    """``with`` closes the object (its ``close()``, idempotent) when the block ends."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class Context(_Closing):
    """A ``krb5_context``: the configuration and state every other call works in.

    ``config`` names the krb5.conf file(s) (colon-separated) to read instead of the defaults
    and ``KRB5_CONFIG``; kinkd's tests point each context at a throwaway realm this way.
    """

    def __init__(self, config: str | os.PathLike[str] | None = None) -> None:
        api = c.library()
        ctx = ctypes.c_void_p()
        if config is None:
            code = api.init_context(ctypes.byref(ctx))
        else:
            profile = ctypes.c_void_p()
            code = api.profile_init_path(os.fsencode(config), ctypes.byref(profile))
            if code == 0:
                try:
                    code = api.init_context_profile(profile, 0, ctypes.byref(ctx))
                finally:
                    api.profile_release(profile)
        if code:
            raise Krb5Error(code, c.error_message(api, None, code))
        self._api = api
        self._ctx = ctx
        # Owned allocations' finalizers, run before the context itself is freed: libkrb5's
        # free functions take the context, so it has to outlive them.
        self._owned: set[weakref.finalize[Any, Any]] = set()
        self._prune_at = 64
        self._finalizer = weakref.finalize(self, _free_context, api, ctx, self._owned)

    def close(self) -> None:
        """Free the context and everything still allocated in it (idempotent)."""
        self._finalizer()

    @property
    def _ptr(self) -> ctypes.c_void_p:
        if not self._finalizer.alive:
            raise ValueError("krb5 context is closed")
        return self._ctx

    def _check(self, code: int) -> None:
        if code:
            raise Krb5Error(code, c.error_message(self._api, self._ctx, code))

    def _adopt(self, owner: object, free: c.Fn, *args: Any) -> weakref.finalize[Any, Any]:
        fin = weakref.finalize(owner, free, self._ctx, *args)
        self._owned.add(fin)
        if len(self._owned) >= self._prune_at:
            self._owned.difference_update([f for f in self._owned if not f.alive])
            self._prune_at = 2 * len(self._owned) + 64
        return fin

    def _principal(self, p: Principal | str) -> Principal:
        return p if isinstance(p, Principal) else self.parse_name(p)

    def _unparse(self, principal: int | ctypes.c_void_p | None) -> str:
        out = ctypes.c_void_p()
        self._check(self._api.unparse_name(self._ptr, principal, ctypes.byref(out)))
        try:
            return ctypes.string_at(out).decode()
        finally:
            self._api.free_unparsed_name(self._ctx, out)

    def parse_name(self, name: str) -> Principal:
        """Parse ``name`` (``kink/host.example.com@REALM``; no realm: the default one)."""
        out = ctypes.c_void_p()
        self._check(self._api.parse_name(self._ptr, name.encode(), ctypes.byref(out)))
        return Principal(self, out)

    def keytab(self, name: str | None = None) -> Keytab:
        """Resolve a keytab name (``FILE:/etc/krb5.keytab``; a bare path means FILE).

        Without a name: the default keytab (``KRB5_KTNAME`` or krb5.conf's
        ``default_keytab_name``), where racoon2's kinkd finds its key.
        """
        out = ctypes.c_void_p()
        if name is None:
            self._check(self._api.kt_default(self._ptr, ctypes.byref(out)))
        else:
            self._check(self._api.kt_resolve(self._ptr, name.encode(), ctypes.byref(out)))
        return Keytab(self, out, self._api.kt_close)

    def ccache(self, name: str | None = None) -> CCache:
        """Resolve a credential cache by name, or the default one (``KRB5CCNAME``) if None."""
        out = ctypes.c_void_p()
        if name is None:
            self._check(self._api.cc_default(self._ptr, ctypes.byref(out)))
        else:
            self._check(self._api.cc_resolve(self._ptr, name.encode(), ctypes.byref(out)))
        return CCache(self, out, self._api.cc_close)

    def memory_ccache(self) -> CCache:
        """A new, empty MEMORY ccache, destroyed (not merely closed) when the object goes."""
        out = ctypes.c_void_p()
        self._check(self._api.cc_new_unique(self._ptr, b"MEMORY", None, ctypes.byref(out)))
        return CCache(self, out, self._api.cc_destroy)

    def get_init_creds_keytab(
        self,
        client: Principal | str,
        keytab: Keytab | str,
        ccache: CCache | None = None,
        *,
        lifetime: int | None = None,
    ) -> Credentials:
        """Get a TGT for ``client`` with its key from ``keytab`` (contacts the KDC).

        With ``ccache``, the cache is initialized for ``client`` and the TGT stored in it.
        ``lifetime`` (seconds) asks for a shorter ticket than the KDC's default.
        """
        api = self._api
        client = self._principal(client)
        kt = keytab if isinstance(keytab, Keytab) else self.keytab(keytab)
        opt = ctypes.c_void_p()
        self._check(api.gic_opt_alloc(self._ptr, ctypes.byref(opt)))
        try:
            if lifetime is not None:
                api.gic_opt_set_tkt_life(opt, lifetime)
            creds = c.Creds()
            self._check(
                api.get_init_creds_keytab(
                    self._ctx, ctypes.byref(creds), client._p, kt._p, 0, None, opt
                )
            )
        finally:
            api.gic_opt_free(self._ctx, opt)
        result = Credentials(self, creds, api.free_cred_contents, ctypes.byref(creds))
        if ccache is not None:
            ccache.initialize(client)
            ccache.store(result)
        return result

    def get_credentials(
        self,
        ccache: CCache,
        client: Principal | str,
        server: Principal | str,
        *,
        user_to_user: Credentials | bytes | None = None,
    ) -> Credentials:
        """Get a ticket for ``server`` using the TGT in ``ccache`` (contacts the KDC if needed).

        With ``user_to_user`` (the server's TGT, as credentials or the DER Ticket the server
        sent), the KDC encrypts the ticket in that TGT's session key instead of the server's
        long-term key (RFC 4120 §2.9.2), so a server without a keytab can still verify it.
        """
        client, server = self._principal(client), self._principal(server)
        in_creds = c.Creds()
        in_creds.client = client._p
        in_creds.server = server._p
        options = 0
        _keep = None
        if isinstance(user_to_user, bytes):
            in_creds.second_ticket, _keep = c.in_data(user_to_user)
            options = c.GC_USER_USER
        elif user_to_user is not None:
            # Borrowed: points into the TGT's own memory, which ``user_to_user`` keeps alive.
            in_creds.second_ticket = user_to_user._creds.ticket
            options = c.GC_USER_USER
        out = ctypes.POINTER(c.Creds)()
        self._check(
            self._api.get_credentials(
                self._ptr, options, ccache._p, ctypes.byref(in_creds), ctypes.byref(out)
            )
        )
        return Credentials(self, out.contents, self._api.free_creds, out)

    def _auth_context(self) -> AuthContext:
        out = ctypes.c_void_p()
        self._check(self._api.auth_con_init(self._ptr, ctypes.byref(out)))
        ac = AuthContext(self, out)
        # Without DO_TIME, rd_req opens no replay cache (MIT rd_req.c takes one only when
        # this flag is set); it still checks ticket times and clock skew.  kinkd keeps its
        # own replay cache (kinkd/replay.py).  The flag is per auth context, unlike
        # KRB5RCACHETYPE=none, which is process-wide and read from the environment.
        flags = ctypes.c_int32()
        self._check(self._api.auth_con_getflags(self._ctx, out, ctypes.byref(flags)))
        self._check(
            self._api.auth_con_setflags(self._ctx, out, flags.value & ~c.AUTH_CONTEXT_DO_TIME)
        )
        return ac

    def mk_req_extended(
        self,
        creds: Credentials,
        *,
        mutual: bool = True,
        subkey: bool = False,
        checksum_data: bytes | None = None,
    ) -> tuple[bytes, AuthContext]:
        """Make an AP-REQ for ``creds``' ticket; returns its DER bytes and the auth context.

        ``mutual`` asks the server for an AP-REP; ``subkey`` puts a fresh subkey in the
        authenticator; ``checksum_data`` is covered by the authenticator's checksum.
        User-to-user tickets are marked use-session-key, as RFC 4120 §5.5.1 requires.
        """
        ac = self._auth_context()
        options = (c.AP_OPTS_MUTUAL_REQUIRED if mutual else 0) | (
            c.AP_OPTS_USE_SUBKEY if subkey else 0
        )
        if creds._creds.is_skey:
            options |= c.AP_OPTS_USE_SESSION_KEY
        in_data, _keep = c.in_data(checksum_data) if checksum_data is not None else (None, None)
        out = c.Data()
        self._check(
            self._api.mk_req_extended(
                self._ptr,
                ctypes.byref(ac._p),
                options,
                in_data if in_data is None else ctypes.byref(in_data),
                creds._ref,
                ctypes.byref(out),
            )
        )
        try:
            return c.data_bytes(out), ac
        finally:
            self._api.free_data_contents(self._ctx, ctypes.byref(out))

    def rd_req(
        self,
        ap_req: bytes,
        *,
        keytab: Keytab | str | None = None,
        server: Principal | str | None = None,
        user_to_user_key: Keyblock | None = None,
    ) -> tuple[AuthContext, TicketInfo]:
        """Verify an AP-REQ; returns the auth context and the ticket's contents.

        The ticket is decrypted with ``keytab`` (any of its principals unless ``server`` is
        given; None: the default keytab) or, for user-to-user, with ``user_to_user_key``: the
        session key of this side's own TGT.  Raises :class:`Krb5Error` for a bad, expired or
        skewed request.
        """
        api = self._api
        ac = self._auth_context()
        if user_to_user_key is not None:
            kb, _kb_buf = user_to_user_key._struct()
            self._check(api.auth_con_setuseruserkey(self._ptr, ac._p, ctypes.byref(kb)))
        kt = self.keytab(keytab) if isinstance(keytab, str) else keytab
        srv = self._principal(server) if server is not None else None
        inbuf, _keep = c.in_data(ap_req)
        options = ctypes.c_int32()
        ticket = ctypes.POINTER(c.Ticket)()
        self._check(
            api.rd_req(
                self._ptr,
                ctypes.byref(ac._p),
                ctypes.byref(inbuf),
                srv._p if srv else None,
                kt._p if kt else None,
                ctypes.byref(options),
                ctypes.byref(ticket),
            )
        )
        try:
            t = ticket.contents
            enc = t.enc_part2.contents
            info = TicketInfo(
                server=self._unparse(t.server),
                client=self._unparse(enc.client),
                times=TicketTimes._copy(enc.times),
                session_key=Keyblock._copy(enc.session.contents),
                flags=enc.flags & 0xFFFFFFFF,
            )
        finally:
            api.free_ticket(self._ctx, ticket)
        return ac, info

    def mk_rep(self, auth_context: AuthContext) -> bytes:
        """Make the AP-REP answering the AP-REQ that ``auth_context`` verified."""
        out = c.Data()
        self._check(self._api.mk_rep(self._ptr, auth_context._p, ctypes.byref(out)))
        try:
            return c.data_bytes(out)
        finally:
            self._api.free_data_contents(self._ctx, ctypes.byref(out))

    def rd_rep(self, auth_context: AuthContext, ap_rep: bytes) -> None:
        """Verify the server's AP-REP against the AP-REQ sent with ``auth_context``.

        Afterwards ``auth_context.recv_subkey`` is the server's subkey, if it sent one.
        """
        inbuf, _keep = c.in_data(ap_rep)
        part = ctypes.c_void_p()
        self._check(
            self._api.rd_rep(
                self._ptr, auth_context._p, ctypes.byref(inbuf), ctypes.byref(part)
            )
        )
        self._api.free_ap_rep_enc_part(self._ctx, part)

    def c_encrypt(self, key: Keyblock, usage: int, plaintext: bytes) -> bytes:
        """Encrypt with ``key`` and key usage ``usage``; returns the RFC 3961 ciphertext."""
        length = ctypes.c_size_t()
        self._check(
            self._api.c_encrypt_length(self._ptr, key.enctype, len(plaintext), ctypes.byref(length))
        )
        kb, _kb_buf = key._struct()
        inp, _in_buf = c.in_data(plaintext)
        out_buf = ctypes.create_string_buffer(length.value)
        enc = c.EncData(0, 0, 0, c.Data(0, length.value, ctypes.cast(out_buf, ctypes.c_void_p)))
        self._check(
            self._api.c_encrypt(
                self._ctx, ctypes.byref(kb), usage, None, ctypes.byref(inp), ctypes.byref(enc)
            )
        )
        return out_buf.raw[: enc.ciphertext.length]

    def c_decrypt(self, key: Keyblock, usage: int, ciphertext: bytes) -> bytes:
        """Decrypt and integrity-check; a wrong key or usage raises :class:`Krb5Error`."""
        kb, _kb_buf = key._struct()
        ct, _ct_buf = c.in_data(ciphertext)
        enc = c.EncData(0, key.enctype, 0, ct)
        out_buf = ctypes.create_string_buffer(max(len(ciphertext), 1))
        out = c.Data(0, len(ciphertext), ctypes.cast(out_buf, ctypes.c_void_p))
        self._check(
            self._api.c_decrypt(
                self._ptr, ctypes.byref(kb), usage, None, ctypes.byref(enc), ctypes.byref(out)
            )
        )
        return out_buf.raw[: out.length]

    def c_make_checksum(
        self, key: Keyblock, usage: int, data: bytes, cksumtype: int = 0
    ) -> Checksum:
        """A keyed checksum of ``data``; type 0 means the enctype's mandatory checksum type."""
        kb, _kb_buf = key._struct()
        inp, _in_buf = c.in_data(data)
        cksum = c.Checksum()
        self._check(
            self._api.c_make_checksum(
                self._ptr, cksumtype, ctypes.byref(kb), usage, ctypes.byref(inp),
                ctypes.byref(cksum),
            )
        )
        try:
            return Checksum(cksum.checksum_type, ctypes.string_at(cksum.contents, cksum.length))
        finally:
            self._api.free_checksum_contents(self._ctx, ctypes.byref(cksum))

    def c_verify_checksum(self, key: Keyblock, usage: int, data: bytes, cksum: Checksum) -> bool:
        """True if ``cksum`` is ``data``'s checksum under ``key`` and ``usage``.

        A checksum type that does not fit the key raises :class:`Krb5Error`.
        """
        kb, _kb_buf = key._struct()
        inp, _in_buf = c.in_data(data)
        _value = ctypes.create_string_buffer(cksum.contents, len(cksum.contents))
        cs = c.Checksum(
            0, cksum.cksumtype, len(cksum.contents), ctypes.cast(_value, ctypes.c_void_p)
        )
        valid = ctypes.c_uint()
        self._check(
            self._api.c_verify_checksum(
                self._ptr, ctypes.byref(kb), usage, ctypes.byref(inp), ctypes.byref(cs),
                ctypes.byref(valid),
            )
        )
        return bool(valid.value)

    def c_prf(self, key: Keyblock, data: bytes) -> bytes:
        """The RFC 3961 PRF of ``key``'s enctype over ``data`` (KINK's KEYMAT prf)."""
        length = ctypes.c_size_t()
        self._check(self._api.c_prf_length(self._ptr, key.enctype, ctypes.byref(length)))
        kb, _kb_buf = key._struct()
        inp, _in_buf = c.in_data(data)
        out_buf = ctypes.create_string_buffer(length.value)
        out = c.Data(0, length.value, ctypes.cast(out_buf, ctypes.c_void_p))
        self._check(
            self._api.c_prf(self._ctx, ctypes.byref(kb), ctypes.byref(inp), ctypes.byref(out))
        )
        return out_buf.raw

    def mk_error(
        self,
        error: int,
        server: Principal | str,
        *,
        client: Principal | str | None = None,
        text: str = "",
        e_data: bytes = b"",
        ctime: int | None = None,
        cusec: int = 0,
    ) -> bytes:
        """Encode a KRB-ERROR with error number ``error`` (e.g. ``Krb5Error.krb_error``).

        The server time is this context's clock; ``ctime``/``cusec`` echo the client's
        authenticator time, which lets the peer match the error to its request.
        """
        stime, susec = ctypes.c_int32(), ctypes.c_int32()
        self._check(self._api.us_timeofday(self._ptr, ctypes.byref(stime), ctypes.byref(susec)))
        srv = self._principal(server)
        cli = self._principal(client) if client is not None else None
        text_data, _text_buf = c.in_data(text.encode())
        e_data_data, _e_data_buf = c.in_data(e_data)
        err = c.Error(
            magic=0,
            ctime=ctime or 0,
            cusec=cusec if ctime else 0,
            susec=susec.value,
            stime=stime.value,
            error=error,
            client=cli._p if cli else None,
            server=srv._p,
            text=text_data,
            e_data=e_data_data,
        )
        out = c.Data()
        self._check(self._api.mk_error(self._ctx, ctypes.byref(err), ctypes.byref(out)))
        try:
            return c.data_bytes(out)
        finally:
            self._api.free_data_contents(self._ctx, ctypes.byref(out))

    def rd_error(self, data: bytes) -> KrbError:
        """Decode a KRB-ERROR."""
        inbuf, _keep = c.in_data(data)
        out = ctypes.POINTER(c.Error)()
        self._check(self._api.rd_error(self._ptr, ctypes.byref(inbuf), ctypes.byref(out)))
        try:
            e = out.contents
            return KrbError(
                error=e.error,
                stime=e.stime & 0xFFFFFFFF,
                susec=e.susec,
                server=self._unparse(e.server),
                client=self._unparse(e.client) if e.client else None,
                ctime=(e.ctime & 0xFFFFFFFF) or None,
                cusec=e.cusec if e.ctime else None,
                text=c.data_bytes(e.text).rstrip(b"\0").decode(errors="replace"),
                e_data=c.data_bytes(e.e_data),
            )
        finally:
            self._api.free_error(self._ctx, out)

    def set_time(self, now: int) -> None:
        """Make this context's clock read ``now`` (seconds since the epoch) from now on.

        KINK's answer to KRB_AP_ERR_SKEW: the initiator may adopt the responder's time from
        its KRB-ERROR (RFC 4430 §3.5) instead of failing until an administrator fixes clocks.
        """
        self._check(self._api.set_real_time(self._ptr, now, 0))


def _free_context(api: c.Api, ctx: ctypes.c_void_p, owned: set[weakref.finalize[Any, Any]]) -> None:
    for fin in list(owned):
        fin()
    owned.clear()
    api.free_context(ctx)


class _Handle(_Closing):
    """An object owning one libkrb5 allocation, freed at most once (see the module doc)."""

    def __init__(self, context: Context, p: ctypes.c_void_p, free: c.Fn, *free_args: Any) -> None:
        self.context = context
        self._p_raw = p
        self._release = context._adopt(self, free, *(free_args or (p,)))

    @property
    def _p(self) -> ctypes.c_void_p:
        if not self._release.alive:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._p_raw

    def close(self) -> None:
        """Free the underlying libkrb5 object now (idempotent)."""
        self._release()


class Principal(_Handle):
    """A ``krb5_principal``."""

    def __init__(self, context: Context, p: ctypes.c_void_p) -> None:
        super().__init__(context, p, context._api.free_principal)

    @property
    def name(self) -> str:
        """The principal unparsed, ``primary/instance@REALM``."""
        return self.context._unparse(self._p)

    def __str__(self) -> str:
        return self.name


class Keytab(_Handle):
    """A ``krb5_keytab`` handle."""


class CCache(_Handle):
    """A ``krb5_ccache`` handle."""

    @property
    def name(self) -> str:
        """The cache's full name, ``TYPE:residual``, which any context can resolve."""
        ctx = self.context
        out = ctypes.c_void_p()
        ctx._check(ctx._api.cc_get_full_name(ctx._ptr, self._p, ctypes.byref(out)))
        try:
            return ctypes.string_at(out).decode()
        finally:
            ctx._api.free_string(ctx._ctx, out)

    def initialize(self, principal: Principal | str) -> None:
        """Empty the cache and make ``principal`` its default client."""
        ctx = self.context
        ctx._check(ctx._api.cc_initialize(ctx._ptr, self._p, ctx._principal(principal)._p))

    def store(self, creds: Credentials) -> None:
        """Add ``creds`` to the cache."""
        ctx = self.context
        ctx._check(ctx._api.cc_store_cred(ctx._ptr, self._p, creds._ref))


class Credentials(_Handle):
    """A ``krb5_creds``: a ticket with its session key, times and principals.

    ``krb5_creds`` is plain heap data that libkrb5 never ties to a context, so credentials
    from :class:`AsyncKdc`'s context may be passed to another context's methods.
    """

    def __init__(self, context: Context, creds: c.Creds, free: c.Fn, ref: Any) -> None:
        super().__init__(context, ctypes.c_void_p(ctypes.addressof(creds)), free, ref)
        self._creds_raw = creds
        self._ref_raw = ref

    @property
    def _creds(self) -> c.Creds:
        self._p  # noqa: B018 -- raises once freed
        return self._creds_raw

    @property
    def _ref(self) -> Any:
        self._p  # noqa: B018 -- raises once freed
        return self._ref_raw

    @property
    def client(self) -> str:
        """The client principal's name."""
        return self.context._unparse(self._creds.client)

    @property
    def server(self) -> str:
        """The server principal's name (``krbtgt/REALM@REALM`` for a TGT)."""
        return self.context._unparse(self._creds.server)

    @property
    def times(self) -> TicketTimes:
        """The ticket's times."""
        return TicketTimes._copy(self._creds.times)

    @property
    def session_key(self) -> Keyblock:
        """The ticket's session key (for a TGT: the key user-to-user tickets are sealed in)."""
        return Keyblock._copy(self._creds.keyblock)

    @property
    def is_user_to_user(self) -> bool:
        """True for a ticket sealed in another TGT's session key."""
        return bool(self._creds.is_skey)

    @property
    def ticket(self) -> bytes:
        """The ticket's DER encoding (what KINK's TGT_REP would carry)."""
        return c.data_bytes(self._creds.ticket)


class AuthContext(_Handle):
    """A ``krb5_auth_context``: the keys and state of one AP-REQ/AP-REP exchange."""

    def __init__(self, context: Context, p: ctypes.c_void_p) -> None:
        super().__init__(context, p, context._api.auth_con_free)

    def _key(self, getter: c.Fn) -> Keyblock | None:
        ctx = self.context
        out = ctypes.POINTER(c.Keyblock)()
        ctx._check(getter(ctx._ptr, self._p, ctypes.byref(out)))
        if not out:
            return None
        try:
            return Keyblock._copy(out.contents)
        finally:
            ctx._api.free_keyblock(ctx._ctx, out)

    @property
    def session_key(self) -> Keyblock | None:
        """The ticket's session key."""
        return self._key(self.context._api.auth_con_getkey)

    @property
    def send_subkey(self) -> Keyblock | None:
        """The subkey this side sent (authenticator or AP-REP), if any."""
        return self._key(self.context._api.auth_con_getsendsubkey)

    @property
    def recv_subkey(self) -> Keyblock | None:
        """The subkey the peer sent, if any."""
        return self._key(self.context._api.auth_con_getrecvsubkey)

    @property
    def authenticator_time(self) -> tuple[int, int]:
        """The verified authenticator's (ctime, cusec), which kinkd's replay cache keys on."""
        ctx = self.context
        out = ctypes.POINTER(c.Authenticator)()
        ctx._check(ctx._api.auth_con_getauthenticator(ctx._ptr, self._p, ctypes.byref(out)))
        try:
            return out.contents.ctime & 0xFFFFFFFF, out.contents.cusec
        finally:
            ctx._api.free_authenticator(ctx._ctx, out)
