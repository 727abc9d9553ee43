"""A small typed ctypes binding to MIT libkrb5, limited to what KINK (RFC 4430) needs.

KINK carries raw Kerberos messages (AP-REQ, AP-REP, KRB-ERROR) in its payloads, encrypts with
the ticket's session key (key usage 39) and checksums with it (key usage 40), and may run
user-to-user.  The ``gssapi`` package hides all of those behind GSS tokens, so kinkd talks to
libkrb5 directly, in three layers:

- :mod:`kinkd.krb5._lib`: the C struct layouts and entry points (ctypes declarations only);
- :mod:`kinkd.krb5.values` and :mod:`kinkd.krb5.api`: the typed API, plain values and the
  :class:`~kinkd.krb5.api.Context` with the handles that own libkrb5 memory;
- :mod:`kinkd.krb5.kdc`: :class:`~kinkd.krb5.kdc.AsyncKdc`, the calls that wait for a KDC, run
  in a worker thread for asyncio code.
"""
