"""iked's IKEv1 side (RFC 2407, 2408, 2409): the engine, a pure core beside iked.ikev2, and
the pure building blocks it plugs in (NAT-T, DPD, fragmentation, XAuth, mode-config)."""
