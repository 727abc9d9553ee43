"""Cryptographic transforms, key exchanges and key derivations for IKEv1/IKEv2 (pure, sans-I/O)."""
