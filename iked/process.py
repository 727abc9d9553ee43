"""What the command line decides for one iked process (:mod:`iked.launch` starts it): a single
iked, the coordinator of ``-j N``, or one of its workers (:class:`Role`)."""

from __future__ import annotations

from dataclasses import dataclass

from racoon2.paths import LAYOUT


@dataclass(frozen=True, slots=True)
class Role:
    """iked -j N: which worker this process is, and what every worker shares."""

    index: int
    workers: int
    cookie_seed: bytes  # the cookies' secrets (iked.ikev2.cookies.shared_secrets)
    origin: float  # when the first secret began (time.monotonic(), the same in every process)


@dataclass(frozen=True, slots=True)
class Settings:
    """What the command line decides for the shell."""

    port: int = 500
    target_port: int = 500
    family: int | None = None
    initiate_selector: str | None = None
    initiate_address: str | None = None
    no_kernel: bool = False  # -D 0x8: no kernel IPsec, no spmd
    pcapfile: str | None = None  # -P: IKE messages in the clear, '+' appends
    #: SIGTERM: how long the peers have to answer our Deletes (--stop-wait), or with
    #: keep_sas how long exchanges in progress have to finish.
    stop_wait: float = 3.0
    #: --keep-sas: SIGTERM saves the IKE SAs to state_file and leaves the kernel SAs; every
    #: start restores what it finds there (doc/iked.md, "Restart").
    keep_sas: bool = False
    state_file: str = LAYOUT.iked_state
    #: The control socket ikedctl talks to (doc/ikedctl.md); "" for none.
    ctl_socket: str = "/var/run/racoon2/iked.ctl"
    #: -j: how many worker processes share the IKE ports (iked.coordinator); 1 is one process.
    workers: int = 1
    #: (foreground, debug, log file): how the command line set up the log, for the workers.
    log_setup: tuple[bool, bool, str | None] = (False, False, None)
    #: Set in a worker of -j N: the coordinator binds the sockets, talks to spmd, takes the
    #: ACQUIREs and removes stale kernel SAs; the worker serves what it is handed.
    role: Role | None = None
