"""kinkd: the KINK (RFC 4430) key-exchange daemon."""
