"""iked: the IKE daemon; today it speaks IKEv2 only (doc/iked.md), IKEv1 is not implemented."""
