"""kinkdctl: kinkd's control socket from the command line (doc/ikedctl.md, "kinkdctl").

    kinkdctl [-s SOCKET] [--json] COMMAND [ARGS]
    kinkdctl [-s SOCKET] stats --prometheus
"""

from __future__ import annotations

from racoon2.control import tool
from racoon2.control.protocol import Command

DEFAULT_SOCKET = "/var/run/racoon2/kinkd.ctl"
#: What kinkd's control socket serves (kinkd.control does each).
COMMANDS = (
    Command("status", help="the daemon: version, configuration, principal, epoch, sockets"),
    Command("sa list", help="every SA pair with its SPIs and kernel counters"),
    Command("sa show", 1, 1, "SPI", "one SA pair in full, by an SPI of either direction"),
    Command("initiate", 1, 1, "SELECTOR|REMOTE|ADDRESS", "send a CREATE for its policy now"),
    Command("terminate", 1, 1, "SPI|POLICY|PEER", "delete SA pairs, the peer told (DELETE)"),
    Command("rekey", 1, 1, "SPI|POLICY|PEER", "new SA pairs now, then the old ones deleted"),
    Command("stats", help="drops by reason, SA pairs, peers, replay cache"),
    Command("reload", help="reread the configuration (as SIGHUP)"),
    Command("log-level", 1, 1, "LEVEL", "debug, info, warning or error"),
)

main = tool.make("kinkdctl", "kinkd", DEFAULT_SOCKET, COMMANDS)
