"""EAP (RFC 3748) for IKEv2's EAP authentication (RFC 7296 §2.16), pure: the packet codec
(:mod:`.packet`), the server's method layer (:mod:`.server`) and the methods (:mod:`.mschapv2`,
:mod:`.md5`, with MD4 from :mod:`.md4`).  Nothing here knows IKE: iked passes EAP messages in
and out, so a RADIUS backend can stand where the local methods stand."""
