"""iked: the IKEv2 and IKEv1 key-exchange daemon."""
