#!/usr/bin/env bash
# strongswan.sh start|stop|ctl NAME [SWANCTL ARGS...]
#
# One strongSwan charon confined to network namespace $NS, with every file it writes in $DIR,
# and one PSK connection NAME with one child NAME. charon-systemd is used because it stays in
# the foreground and writes no pid file, so several can run at once without systemd; we record
# the pid it runs under and stop only that pid.
#
# Settings (environment, defaults in brackets):
#   NS          network namespace to run in (required for start, see netns.sh)
#   DIR         state dir: strongswan.conf, swanctl.conf, charon.vici, charon.log [/tmp/r2-ss-NAME]
#   LOCAL       local address                                                    [192.0.2.1]
#   REMOTE      peer address; %any makes it a responder only                     [%any]
#   LOCAL_ID    / REMOTE_ID  IKE identities                                      [LOCAL / %any]
#   PSK         pre-shared key                                          [racoon2-capture-psk]
#   CERT / KEY / CACERT  PEM files: with them, authentication is by certificate (pubkey)
#               instead of PSK; CACERT is the trust anchor for the peer's certificate
#   VERSION     2 = IKEv2, 1 = IKEv1 main mode                                   [2]
#   LTS / RTS   local / remote traffic selectors, e.g. 198.51.100.0/28     [dynamic]
#   MODE        CHILD_SA mode: tunnel or transport                              [tunnel]
#   CHILD_REKEY / CHILD_LIFE  CHILD_SA rekey_time / life_time, e.g. 5s (0: never)  [0 / 0]
#   IKE_REKEY   IKE SA rekey_time, e.g. 5s (0: never)                           [0]
#   IKE / ESP   strongSwan proposal strings         [aes128-sha256-modp2048 / aes128-sha256]
#   KERNEL      libipsec: user-space ESP over TUN, so CHILD_SAs really install   [libipsec]
#               netlink:  the host kernel (here: no ESP, every CHILD_SA install fails)
#   KEYLOG      1 = log level 4 for "ike": charon then logs the DH secret, SKEYSEED/SKEYID
#               and the SK_* keys, which extract.py turns into a capture's keys.json   [1]
#               ("mgr" is always at level 2: which SA, by SPIs, each thread works on)
#   LOGLEVEL    charon.log level of ike, cfg, net, enc and mgr (KEYLOG=1 raises ike)    [2]
#   AH          AH proposal string (ah_proposals), e.g. sha256; set ESP= (empty) for AH alone  []
#   EXTRA_CONN  raw swanctl.conf lines added to the connection (e.g. fragmentation = force)
#   EXTRA_CHILD raw swanctl.conf lines added to the child (e.g. ipcomp = yes)
#   EXTRA_SWANCTL  raw top-level swanctl.conf sections (e.g. pools { … })
#   EXTRA_CHARON  raw strongswan.conf lines added to the charon section
#               (e.g. cookie_threshold = 0, fragment_size = 300)
#   SWANCTL_CONF  a ready swanctl.conf (racoon2-setup's) used instead of the one made from the
#               settings above; its connection and child must be called NAME
#   PLUGINS     more charon plugins to load (e.g. ml: ML-KEM, strongSwan 6; xauth-generic
#               for an XAuth client)                                                 []
#   ROOT        a Debian root whose strongSwan runs instead of the host's (chroot; $DIR is
#               bind-mounted at the same path inside), e.g. Debian 13's from
#               tests/harness/peers/trixie-root.sh for strongSwan 6 and ML-KEM         []
set -euo pipefail
cmd=${1:-}
NAME=${2:-peer}
shift $(($# < 2 ? $# : 2))
DIR=${DIR:-/tmp/r2-ss-$NAME}

# swanctl finds the private vici socket through the "swanctl" section of our strongswan.conf
# (SWANCTL_DIR: credentials are loaded from $DIR/x509, $DIR/x509ca and $DIR/private)
ROOT=${ROOT:-}
in_root() { if [ -n "$ROOT" ]; then chroot "$ROOT" "$@"; else "$@"; fi; }
ctl() { STRONGSWAN_CONF=$DIR/strongswan.conf SWANCTL_DIR=$DIR in_root swanctl "$@"; }
alive() { [ -n "${1:-}" ] && [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status"; }

write_conf() {
    local plugins routes ikelevel=${LOGLEVEL:-2} level=${LOGLEVEL:-2}
    # Only the plugins we need: no charon.conf from /etc is read (load_modular = no).
    plugins="random nonce openssl pem pkcs1 pkcs8 x509 pubkey constraints curve25519 gmp aes sha1"
    plugins="$plugins sha2 hmac kdf gcm ${PLUGINS:-}"
    case "$KERNEL" in
    libipsec) plugins="$plugins kernel-libipsec kernel-netlink"; routes=yes ;;
    netlink) plugins="$plugins kernel-netlink"; routes=no ;;
    *) echo "KERNEL must be libipsec or netlink" >&2; exit 2 ;;
    esac
    [ "$KEYLOG" = 1 ] && ikelevel=4
    local auth=psk certs=
    if [ -n "${CERT:-}" ]; then
        auth=pubkey certs="certs = $(basename "$CERT")"
        mkdir -p "$DIR/x509" "$DIR/x509ca" "$DIR/private"
        cp "$CERT" "$DIR/x509/"
        cp "$CACERT" "$DIR/x509ca/"
        cp "$KEY" "$DIR/private/"
    fi
    cat >"$DIR/strongswan.conf" <<CONF
charon {
  load_modular = no
  load = $plugins socket-default vici
  install_routes = $routes
  install_virtual_ip = no
  # retransmit quickly: the peers share one host and nothing is lost on a veth
  retransmit_timeout = 1.0
  retransmit_tries = 3
  ${EXTRA_CHARON:-}
  filelog {
    main {
      path = $DIR/charon.log
      time_format = %T
      time_add_ms = yes
      default = 1
      ike = $ikelevel
      cfg = $level
      knl = 1
      net = $level
      enc = $level
      mgr = $level
      flush_line = yes
    }
  }
  plugins {
    vici {
      socket = unix://$DIR/charon.vici
    }
  }
}
charon-systemd {
  journal {
    default = -1
  }
}
swanctl {
  socket = unix://$DIR/charon.vici
}
CONF
    if [ -n "${SWANCTL_CONF:-}" ]; then
        cp "$SWANCTL_CONF" "$DIR/swanctl.conf"
        return
    fi
    cat >"$DIR/swanctl.conf" <<CONF
connections {
  $NAME {
    version = $VERSION
    local_addrs = $LOCAL
    remote_addrs = $REMOTE
    proposals = $IKE
    # no automatic rekeying unless asked: capture.sh triggers each exchange itself
    rekey_time = ${IKE_REKEY:-0}
    # charon's default hard lifetime is rekey_time + 10 %: with a 3 s rekey its delete job
    # can fire before the rekey, so a rekeying test gets a minute of slack and no jitter
    ${IKE_REKEY:+$([ "$IKE_REKEY" = 0 ] || printf 'over_time = 60s\n    rand_time = 0')}
    ${EXTRA_CONN:-}
    local {
      auth = $auth
      id = $LOCAL_ID
      ${certs:-}
    }
    remote {
      auth = $auth
      id = $REMOTE_ID
    }
    children {
      $NAME {
        local_ts = $LTS
        remote_ts = $RTS
        ${ESP:+esp_proposals = $ESP}
        ${AH:+ah_proposals = $AH}
        ${EXTRA_CHILD:-}
        mode = ${MODE:-tunnel}
        rekey_time = ${CHILD_REKEY:-0}
        life_time = ${CHILD_LIFE:-0}
        rand_time = 0
        start_action = none
      }
    }
  }
}
${EXTRA_SWANCTL:-}
secrets {
  ike-$NAME {
    id-local = $LOCAL_ID
    id-remote = $REMOTE_ID
    secret = "$PSK"
  }
}
CONF
}

case "$cmd" in
start)
    : "${NS:?set NS to the network namespace}"
    LOCAL=${LOCAL:-192.0.2.1}
    REMOTE=${REMOTE:-%any}
    LOCAL_ID=${LOCAL_ID:-$LOCAL}
    REMOTE_ID=${REMOTE_ID:-%any}
    PSK=${PSK:-racoon2-capture-psk}
    VERSION=${VERSION:-2}
    LTS=${LTS:-dynamic}
    RTS=${RTS:-dynamic}
    IKE=${IKE:-aes128-sha256-modp2048}
    ESP=${ESP-aes128-sha256}
    KERNEL=${KERNEL:-libipsec}
    KEYLOG=${KEYLOG:-1}
    if alive "$(cat "$DIR/pid" 2>/dev/null)"; then
        echo "strongswan $NAME already runs (pid $(cat "$DIR/pid"))" >&2
        exit 1
    fi
    mkdir -p "$DIR"
    rm -f "$DIR/charon.vici" "$DIR/pid" "$DIR/charon.log"
    write_conf
    if [ -n "$ROOT" ] && ! mountpoint -q "$ROOT$DIR"; then
        mkdir -p "$ROOT$DIR"
        mount --bind "$DIR" "$ROOT$DIR"
    fi
    # ip netns exec execs charon, so $! is charon's own pid; setsid detaches it from our tty.
    STRONGSWAN_CONF=$DIR/strongswan.conf setsid ip netns exec "$NS" ${ROOT:+chroot "$ROOT"} \
        /usr/sbin/charon-systemd >"$DIR/stdout" 2>&1 </dev/null &
    echo $! >"$DIR/pid"
    for _ in $(seq 100); do
        [ -S "$DIR/charon.vici" ] && ctl --stats >/dev/null 2>&1 && break
        if ! alive "$(cat "$DIR/pid")"; then
            echo "charon $NAME died:" >&2
            tail "$DIR/stdout" "$DIR/charon.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
    if ! ctl --load-all --file "$DIR/swanctl.conf" >"$DIR/load.out" 2>&1; then
        cat "$DIR/load.out" >&2
        exit 1
    fi
    echo "strongswan $NAME: netns $NS pid $(cat "$DIR/pid") IKEv$VERSION $LOCAL <-> $REMOTE ($IKE)"
    ;;
stop)
    pid=$(cat "$DIR/pid" 2>/dev/null || true)
    if alive "$pid"; then
        kill "$pid"
        for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then kill -9 "$pid"; fi
    fi
    rm -f "$DIR/pid"
    if [ -n "$ROOT" ] && mountpoint -q "$ROOT$DIR"; then umount "$ROOT$DIR"; fi
    ;;
ctl)
    ctl "$@"
    ;;
*)
    sed -n '2,42p' "$0"
    exit 2
    ;;
esac
