"""PF_KEYv2 (RFC 2367 with the KAME/Linux extensions): a byte-exact codec and an AF_KEY backend."""
