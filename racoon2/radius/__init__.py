"""RADIUS (RFC 2865, 2866, 3579, 2548) for iked's EAP server: a pure codec here, the asyncio
client in :mod:`iked.radius_client`."""
