#!/usr/bin/env bash
# realm.sh up DIR NS ADDR | realm.sh down DIR
#
# A throwaway MIT Kerberos realm KINK.TEST for KINK (RFC 4430) tests between two hosts:
#   up    creates DIR/kdc.conf, DIR/krb5.conf, the database and its stash in DIR, the principals
#         kink/host-a.example.com@KINK.TEST and kink/host-b.example.com@KINK.TEST (random keys)
#         with one keytab each (DIR/host-a.keytab, DIR/host-b.keytab), DIR/hosts (informational:
#         192.0.2.1 host-a.example.com, 192.0.2.2 host-b.example.com), then starts krb5kdc -n
#         inside network namespace NS listening on ADDR port 88 (UDP and TCP), writes its pid to
#         DIR/krb5kdc.pid and returns once the KDC issues tickets (about 10 s at most).
#   down  stops the krb5kdc whose pid is in DIR/krb5kdc.pid, nothing else; the caller removes DIR.
# Nothing under /etc is read or written: every tool gets KRB5_CONFIG=DIR/krb5.conf and
# KRB5_KDC_PROFILE=DIR/kdc.conf.  Clients use the realm the same way, e.g.
#   ip netns exec NS env KRB5_CONFIG=DIR/krb5.conf KRB5CCNAME=FILE:/tmp/cc \
#       kinit -k -t DIR/host-b.keytab kink/host-b.example.com@KINK.TEST
# Logs: DIR/krb5kdc.log (the KDC's own log), DIR/krb5kdc.out (its stdout and stderr).
# Run as root (ip netns exec); needs krb5-kdc, krb5-admin-server and krb5-user.
set -euo pipefail

REALM=KINK.TEST
PRINCIPALS=("host-a:kink/host-a.example.com@$REALM" "host-b:kink/host-b.example.com@$REALM")

usage() {
    sed -n '2,18p' "$0"
    exit 2
}

# krb5 profile syntax wants an IPv6 address in brackets before ":port".
hostport() {
    case "$1" in
    *:*) echo "[$1]:88" ;;
    *) echo "$1:88" ;;
    esac
}

# Is PID a live krb5kdc?  The pid file outlives the process and the pid may be reused; a
# zombie (its new parent has not reaped it yet) counts as gone.
is_kdc() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $stat == "$1 (krb5kdc) "[!Z]* ]]
}

# Is PID alive (not a zombie)?  Before its exec, our child's name is not krb5kdc yet.
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $stat != *") Z "* ]]
}

up() {
    local dir=$1 ns=$2 addr=$3
    if [ -r "$dir/krb5kdc.pid" ] && is_kdc "$(cat "$dir/krb5kdc.pid")"; then
        echo "realm.sh: $dir already has a running KDC" >&2
        exit 1
    fi
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir"
    local hp
    hp=$(hostport "$addr")
    export KRB5_CONFIG=$dir/krb5.conf KRB5_KDC_PROFILE=$dir/kdc.conf

    cat >"$dir/kdc.conf" <<EOF
[kdcdefaults]
    kdc_listen = $hp
    kdc_tcp_listen = $hp

[realms]
    $REALM = {
        database_name = $dir/principal
        key_stash_file = $dir/stash
        acl_file = $dir/kadm5.acl
        kdc_listen = $hp
        kdc_tcp_listen = $hp
        max_life = 10h
        max_renewable_life = 7d
    }

# SPAKE has no group configured here: without this the KDC logs an "Error" line at start that
# would mislead whoever reads krb5kdc.log after a failed test.
[plugins]
    kdcpreauth = {
        disable = spake
    }

[logging]
    kdc = FILE:$dir/krb5kdc.log
    admin_server = FILE:$dir/kadmin.log
    default = FILE:$dir/krb5lib.log
EOF
    cat >"$dir/krb5.conf" <<EOF
[libdefaults]
    default_realm = $REALM
    dns_lookup_kdc = false
    dns_lookup_realm = false
    rdns = false
    dns_canonicalize_hostname = false

[realms]
    $REALM = {
        kdc = $hp
    }

[domain_realm]
    .example.com = $REALM
    example.com = $REALM

[logging]
    default = FILE:$dir/krb5lib.log
EOF
    : >"$dir/kadm5.acl"
    printf '192.0.2.1 host-a.example.com\n192.0.2.2 host-b.example.com\n' >"$dir/hosts"

    # The master password only protects the stash of a realm that lives for one test run.
    local master
    master=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    kdb5_util create -s -r "$REALM" -P "$master" >"$dir/kdb5_util.out" 2>&1 ||
        { cat "$dir/kdb5_util.out" >&2; exit 1; }

    local entry name princ
    for entry in "${PRINCIPALS[@]}"; do
        name=${entry%%:*}
        princ=${entry#*:}
        kadmin.local -r "$REALM" -q "addprinc -randkey $princ" >>"$dir/kadmin.out" 2>&1
        # -norandkey: the keytab holds the key the KDC has, and only this host's principal.
        kadmin.local -r "$REALM" -q "ktadd -k $dir/$name.keytab -norandkey $princ" \
            >>"$dir/kadmin.out" 2>&1
        [ -s "$dir/$name.keytab" ] || { cat "$dir/kadmin.out" >&2; exit 1; }
    done

    # stdin/stdout/stderr away from the caller's: a caller reading our output through a pipe
    # (subprocess.run(capture_output=True)) would otherwise wait for the KDC to exit.
    ip netns exec "$ns" krb5kdc -n -r "$REALM" </dev/null >>"$dir/krb5kdc.out" 2>&1 &
    local pid=$!
    echo "$pid" >"$dir/krb5kdc.pid"

    for _ in $(seq 100); do
        if ! alive "$pid"; then
            echo "realm.sh: krb5kdc exited at start:" >&2
            tail -n 20 "$dir/krb5kdc.out" "$dir/krb5kdc.log" >&2 2>/dev/null || true
            rm -f "$dir/krb5kdc.pid"
            exit 1
        fi
        if ip netns exec "$ns" env KRB5CCNAME=MEMORY: kinit -k -t "$dir/host-a.keytab" \
            "kink/host-a.example.com@$REALM" >/dev/null 2>&1; then
            echo "realm: $REALM, KDC pid $pid in $ns on $hp, keytabs $dir/host-{a,b}.keytab"
            return 0
        fi
        sleep 0.1
    done
    echo "realm.sh: the KDC in $ns did not answer on $hp within 10 s" >&2
    tail -n 20 "$dir/krb5kdc.out" "$dir/krb5kdc.log" >&2 2>/dev/null || true
    kill "$pid" 2>/dev/null || true
    rm -f "$dir/krb5kdc.pid"
    exit 1
}

down() {
    local dir=$1 pid
    [ -r "$dir/krb5kdc.pid" ] || return 0
    pid=$(cat "$dir/krb5kdc.pid")
    if [[ $pid =~ ^[0-9]+$ ]] && is_kdc "$pid"; then
        kill "$pid" 2>/dev/null || true
        # Not our child any more (a separate realm.sh started it): poll instead of wait.
        for _ in $(seq 50); do
            is_kdc "$pid" || break
            sleep 0.1
        done
        if is_kdc "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
}

case "${1:-}" in
up)
    [ $# -eq 4 ] || usage
    up "$2" "$3" "$4"
    ;;
down)
    [ $# -eq 2 ] || usage
    down "$2"
    ;;
*)
    usage
    ;;
esac
