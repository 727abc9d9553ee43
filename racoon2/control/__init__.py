"""The daemons' control sockets (iked, kinkd): protocol, server, client (doc/ikedctl.md)."""
