"""iked's IKEv2 side: the pure (sans-I/O) core, its tasks and helpers."""
