#!/usr/bin/env bash
# The project's test VM: Debian 12's distribution kernel (PF_KEY, ESP, AH, XFRM) under qemu,
# with the host's filesystem visible, so kernel tests can run where the host kernel lacks them.
#   racoon2-vm.sh setup          install qemu + kmod, fetch the kernel and busybox, build an initrd
#   racoon2-vm.sh run 'COMMAND'  boot, run COMMAND as root in $PWD, relay stdout/stderr and status
# Exit status of `run`: COMMAND's; 124 timeout; 125 the VM itself failed; 130 interrupted.
# doc/vm.md explains the design and the settings (R2VM_* variables).
set -euo pipefail

CACHE=${R2VM_CACHE:-/var/cache/racoon2-vm}
TIMEOUT=${R2VM_TIMEOUT:-900}
# 2 GiB: the iked boot runs some 25 Python daemons at once (about 26 MB each) beside its
# tmpfs overlay, and what is left caches the 9p files they import.
MEM=${R2VM_MEM:-2G}
CPUS=${R2VM_CPUS:-2}
MODULES=${R2VM_MODULES-af_key esp4 esp6 xfrm_user xfrm_interface}
# What stage 1 needs to mount the root: virtio transport, 9p, overlayfs, the serial ports.
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay virtio_console"
NINEP="trans=virtio,version=9p2000.L,msize=512000"

fail() { echo "racoon2-vm: $*" >&2; exit 125; }

# insmod order for modules and their dependencies, one .ko path per line, each once.
module_paths() {  # module_paths KERNEL_ROOT VERSION MODULE...
    local root=$1 ver=$2 m; shift 2
    for m in "$@"; do modprobe -d "$root" -S "$ver" --show-depends "$m"; done |
        awk '$1 == "insmod" && !seen[$2]++ {print $2}'
}

setup() {
    local missing=() pkg ver tmp n=0 ko
    # The vm group's two lanes (and a developer's second run) set up at once: one builds the
    # cache, the others wait for it and find it ready.
    mkdir -p "$CACHE"
    exec 9>"$CACHE.lock"
    flock 9
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    command -v modprobe >/dev/null || missing+=(kmod)
    if ((${#missing[@]})); then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    if [ -s "$CACHE/release" ]; then
        echo "racoon2-vm: ready: $(cat "$CACHE/release") in $CACHE"; return
    fi
    pkg=${R2VM_KERNEL_PKG:-}
    if [ -z "$pkg" ]; then
        apt-get update -qq
        # linux-image-amd64 is a metapackage: its first linux-image-* dependency is the kernel.
        pkg=$(apt-cache depends linux-image-amd64 |
            awk '$1 == "Depends:" && $2 ~ /^linux-image-/ {print $2; exit}')
        [ -n "$pkg" ] || fail "cannot resolve linux-image-amd64 to a kernel package"
    fi
    rm -rf "${CACHE:?}"/{dl,kernel,busybox,vmlinux,initrd.img}
    mkdir -p "$CACHE/dl"
    (cd "$CACHE/dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" busybox-static)
    dpkg -x "$CACHE/dl/${pkg}"_*.deb "$CACHE/kernel"
    dpkg -x "$CACHE"/dl/busybox-static_*.deb "$CACHE/busybox"
    rm -rf "$CACHE/dl"
    ver=$(ls "$CACHE/kernel/lib/modules")
    depmod -b "$CACHE/kernel" "$ver"
    # The bzImage's payload is an xz-compressed ELF with a PVH entry point; booting that ELF
    # directly skips firmware and decompression (about 5 s under TCG).
    python3 - "$CACHE/kernel/boot/vmlinuz-$ver" "$CACHE/vmlinux" <<'PY'
import lzma, sys
data = open(sys.argv[1], "rb").read()
start = data.index(b"\xfd7zXZ\x00")
open(sys.argv[2], "wb").write(lzma.LZMADecompressor().decompress(data[start:]))
PY
    tmp=$(mktemp -d)
    mkdir -p "$tmp"/{bin,dev,proc,mod,lower,upper,newroot}
    cp "$CACHE/busybox/bin/busybox" "$tmp/bin/"
    # shellcheck disable=SC2086
    while read -r ko; do
        cp "$ko" "$tmp/mod/$(printf %02d "$n")-${ko##*/}"; n=$((n + 1))
    done < <(module_paths "$CACHE/kernel" "$ver" $BOOT_MODULES)
    write_init "$ver" >"$tmp/init"
    chmod +x "$tmp/init"
    (cd "$tmp" && find . | "$CACHE/busybox/bin/busybox" cpio -o -H newc 2>/dev/null) \
        >"$CACHE/initrd.img"
    rm -rf "$tmp"
    echo "$pkg $ver" >"$CACHE/release"
    echo "racoon2-vm: ready: $pkg $ver in $CACHE"
}

# Stage 1, PID 1 in the initrd (static busybox): root = the host's / read-only over 9p under a
# tmpfs overlay; the run directory and the caller's cwd shared read-write; then stage 2.
write_init() {
    local ver=$1
    cat <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
die() { echo "racoon2-vm stage 1: \$*"; poweroff -f; }
mount -t proc proc /proc && mount -t devtmpfs dev /dev || die "proc, dev"
for m in /mod/*.ko; do insmod "\$m" || die "insmod \$m"; done
mount -t 9p -o ro,cache=loose,$NINEP root /lower || die "9p root"
mount -t tmpfs -o mode=755 upper /upper && mkdir /upper/u /upper/w || die tmpfs
mount -t overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w ovl /newroot || die overlay
run=/newroot\$r2vm_run
read -r cwd <"/lower\$r2vm_run/cwd" || die "no cwd file"
# cwd before the run share: the run directory may live below cwd (e.g. cwd = /tmp).
[ "\$cwd" = / ] || mount -t 9p -o cache=loose,$NINEP cwd "/newroot\$cwd" || die "9p cwd"
mount -t 9p -o $NINEP run "\$run" || die "9p run"
cd /newroot
mount -t proc proc proc && mount -t sysfs sys sys && mount -t devtmpfs dev dev || die "proc, sys"
mkdir -p dev/pts dev/shm && mount -t devpts pts dev/pts && mount -t tmpfs shm dev/shm || die pts
mount -t tmpfs -o mode=755 tmp run && mount -t cgroup2 cgroup sys/fs/cgroup || die "run, cgroup"
# Module paths are the host's cache paths, seen inside the new root: insmod chrooted there.
cp /bin/busybox run/busybox
while read -r ko; do
    name=\${ko##*/}; name=\${name%.ko}; name=\${name//-/_}
    [ -d "sys/module/\$name" ] || chroot /newroot /run/busybox insmod "\$ko" || die "insmod \$ko"
done <"\$run/modules"
chroot /newroot /run/busybox mkdir -p /lib/modules
chroot /newroot /run/busybox ln -sfn "$CACHE/kernel/lib/modules/$ver" "/lib/modules/$ver"
rm run/busybox
hostname racoon2-vm && ip link set lo up
for port in sys/class/virtio-ports/*; do
    read -r name <"\$port/name"
    case \$name in stdout) out=/dev/\${port##*/} ;; stderr) err=/dev/\${port##*/} ;; esac
done
[ -n "\$out" ] && [ -n "\$err" ] || die "virtio serial ports missing"
umount /proc /dev
exec switch_root /newroot /bin/bash "\$r2vm_run/stage2" "\$out" "\$err"
EOF
}

# The caller's exported environment for the guest.  pyenv shims are replaced by the selected
# versions' bin directories: a shim forks dozens of times, seconds per call under TCG.
guest_env() (
    local prefix
    if prefix=$(pyenv prefix 2>/dev/null); then
        PATH=${PATH//"$(pyenv root)/shims"/${prefix//:/\/bin:}/bin}
    fi
    export -p | grep -vE '^declare -x (HOSTNAME|OLDPWD|PWD|SHLVL)='
)

# Stage 2 with R2VM_INIT=systemd: the host's systemd becomes PID 1 and starts only
# r2vm.service (and what it depends on: sysinit.target, journald), which runs the command and
# then records its status and resets the VM.  udev and time synchronisation stay masked: the VM
# has no devices to name and no network to reach.
systemd_stage2() {  # rundir
    local rundir=$1
    cat <<EOF
mkdir -p /run/systemd/system
cat >/run/systemd/system/r2vm.service <<'UNIT'
[Unit]
Description=racoon2-vm command
[Service]
Type=oneshot
TimeoutStartSec=infinity
WorkingDirectory=$PWD
StandardInput=null
StandardOutput=file:@OUT@
StandardError=file:@ERR@
ExecStart=/bin/bash -c '. $rundir/env; export RACOON2_VM=1; . $rundir/cmd'
ExecStopPost=/bin/bash -c 'echo \$\$EXIT_STATUS >$rundir/rc; sync; echo b >/proc/sysrq-trigger'
UNIT
sed -i -e "s#@OUT@#\$1#" -e "s#@ERR@#\$2#" /run/systemd/system/r2vm.service
for unit in systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \\
        systemd-udev-trigger.service systemd-timesyncd.service systemd-pstore.service \\
        systemd-firstboot.service systemd-repart.service systemd-tmpfiles-setup.service; do
    ln -sf /dev/null /run/systemd/system/\$unit
done
exec /lib/systemd/systemd --unit=r2vm.service
EOF
}

run() {
    (($#)) || { echo "usage: $0 run 'COMMAND'" >&2; exit 2; }
    [ -s "$CACHE/release" ] || fail "not set up: run '$0 setup' first"
    local ver rundir accel qrc=0 port
    local -a accel_args
    ver=$(cut -d' ' -f2 "$CACHE/release")
    rundir=$(mktemp -d /tmp/racoon2-vm.XXXXXX)
    trap 'kill $(jobs -p) 2>/dev/null || :; wait; rm -rf "$rundir"' EXIT
    trap 'exit 130' INT TERM HUP
    printf '%s\n' "$PWD" >"$rundir/cwd"
    # shellcheck disable=SC2086
    module_paths "$CACHE/kernel" "$ver" $MODULES >"$rundir/modules" ||
        fail "R2VM_MODULES: a module is missing from $ver"
    guest_env >"$rundir/env"
    printf '%s\n' "$*" >"$rundir/cmd"
    # Stage 2, PID 1 = the host's bash: run the command, flush the cwd share (cache=loose keeps
    # writes back), record the status, reset (-no-reboot turns the reset into qemu's exit).
    if [ "${R2VM_INIT:-bash}" = systemd ]; then
        systemd_stage2 "$rundir" >"$rundir/stage2"
    else
        cat >"$rundir/stage2" <<EOF
cd $(printf %q "$PWD") && bash -c '. $rundir/env; export RACOON2_VM=1; . $rundir/cmd' \
    </dev/null >"\$1" 2>"\$2"
rc=\$?; sync; echo \$rc >$rundir/rc
echo b >/proc/sysrq-trigger
EOF
    fi
    mkfifo "$rundir/out" "$rundir/err"
    cat "$rundir/out" &
    cat "$rundir/err" >&2 &

    accel=${R2VM_ACCEL:-}
    if [ -z "$accel" ]; then
        # Only hardware KVM runs a stock kernel; a PVM host's /dev/kvm (kvm_pvm) does not.
        accel=tcg
        if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
            accel=kvm
        fi
    fi
    case $accel in
        kvm) accel_args=(-accel kvm -cpu host) ;;
        tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
        *) fail "R2VM_ACCEL must be kvm or tcg" ;;
    esac
    # pdeathsig on both sides of timeout: qemu dies with this script even on SIGKILL.
    setpriv --pdeathsig TERM -- timeout -k 10 "$TIMEOUT" setpriv --pdeathsig KILL -- \
        qemu-system-x86_64 -M q35 -nodefaults -no-user-config -display none -nic none \
        -no-reboot "${accel_args[@]}" -m "$MEM" -smp "$CPUS" \
        -kernel "$CACHE/vmlinux" -initrd "$CACHE/initrd.img" \
        -append "console=ttyS0 ${R2VM_DEBUG:+ignore_}quiet panic=-1 r2vm_run=$rundir" \
        -chardev file,id=console,path="$rundir/console.log" -serial chardev:console \
        -fsdev local,id=root,path=/,security_model=none,readonly=on,multidevs=remap \
        -device virtio-9p-pci,fsdev=root,mount_tag=root \
        -fsdev local,id=run,path="$rundir",security_model=none \
        -device virtio-9p-pci,fsdev=run,mount_tag=run \
        -fsdev local,id=cwd,path="$PWD",security_model=none,multidevs=remap \
        -device virtio-9p-pci,fsdev=cwd,mount_tag=cwd \
        -device virtio-serial-pci \
        -chardev file,id=out,path="$rundir/out" -device virtserialport,chardev=out,name=stdout \
        -chardev file,id=err,path="$rundir/err" -device virtserialport,chardev=err,name=stderr &
    wait $! || qrc=$?
    # A relay still blocked in open() (qemu never opened its FIFO) gets EOF from this.
    for port in out err; do exec 4<>"$rundir/$port"; exec 4>&-; done
    wait
    [ -z "${R2VM_DEBUG:-}" ] || cat "$rundir/console.log" >&2
    if [ -s "$rundir/rc" ]; then exit "$(cat "$rundir/rc")"; fi
    if [ "$qrc" -eq 124 ]; then echo "racoon2-vm: timed out after ${TIMEOUT}s" >&2; exit 124; fi
    echo "racoon2-vm: the VM failed (qemu status $qrc); console tail:" >&2
    tail -n 30 "$rundir/console.log" >&2 || :
    exit 125
}

case ${1:-} in
    setup) setup ;;
    run) shift; run "$@" ;;
    *) echo "usage: $0 setup | run 'COMMAND'" >&2; exit 2 ;;
esac
