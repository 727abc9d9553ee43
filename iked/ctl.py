"""ikedctl: iked's control socket from the command line (doc/ikedctl.md).

    ikedctl [-s SOCKET] [--json] COMMAND [ARGS]
    ikedctl [-s SOCKET] stats --prometheus
"""

from __future__ import annotations

from racoon2.control import tool
from racoon2.control.protocol import Command

DEFAULT_SOCKET = "/var/run/racoon2/iked.ctl"
#: What iked's control socket serves (iked.control does each).
COMMANDS = (
    Command("status", help="the daemon: version, configuration, sockets, SA counts"),
    Command("sa list", help="every IKE/ISAKMP SA with its CHILD_SAs"),
    Command("sa show", 1, 1, "ID", "one SA: its number, spi_i:spi_r name, or a CHILD_SA SPI"),
    Command("initiate", 1, 1, "REMOTE|SELECTOR|ADDRESS", "negotiate with a peer now"),
    Command("terminate", 1, 1, "ID|REMOTE", "delete an SA (or all of a remote's), peer told"),
    Command("rekey", 1, 1, "ID", "rekey an IKE SA, or a CHILD_SA given by its SPI"),
    Command("stats", help="drops by reason, exchanges, retransmissions, events"),
    Command("reload", help="reread the configuration (as SIGHUP)"),
    Command("log-level", 1, 1, "LEVEL", "debug, info, warning or error"),
)

main = tool.make("ikedctl", "iked", DEFAULT_SOCKET, COMMANDS)
