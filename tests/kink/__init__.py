"""KINK (RFC 4430) between two hosts in network namespaces against a real MIT KDC.

tests/harness/kink/realm.sh makes the realm; pair.py holds the two sides (spmd + kinkd each);
conftest.py gives the ``kink_pair`` fixture.
"""
