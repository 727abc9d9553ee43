"""Netlink XFRM: the Linux kernel interface (message layouts and the async backend)."""
