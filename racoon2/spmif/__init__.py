"""spmif, the control protocol between spmd and iked, kinkd and spmdctl (doc/spmif.md).

``commands`` and ``replies`` hold the message types, ``protocol`` the sans-I/O connections and the
LOGIN hash, ``client`` and ``server`` the asyncio glue, ``secret`` the password file check.
"""
