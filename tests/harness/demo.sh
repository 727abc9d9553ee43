#!/usr/bin/env bash
# The README's first command: set up this Debian 12 machine (packages, venv), then bring up an
# IKEv2 tunnel between two network namespaces with racoon2 and ping through it
# (demo-tunnel.sh).  Where this kernel cannot do ESP, the same demo runs inside the project's VM
# with Debian 12's distribution kernel (tests/harness/vm, doc/vm.md).  Run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
echo "== Setting up: Debian packages and the project's venv (.venv)"
bash tests/harness/setup-host.sh
bash tests/harness/venv.sh >/dev/null
if modprobe -q esp4 2>/dev/null || [ -d /sys/module/esp4 ]; then
    echo "== This kernel has ESP: running the demo here"
    exec bash tests/harness/demo-tunnel.sh
fi
echo "== This machine's kernel has no ESP ($(uname -r)): running the same demo inside the"
echo "   project's VM (Debian 12's kernel under qemu; the first run downloads it)"
bash tests/harness/vm/racoon2-vm.sh setup
exec bash tests/harness/vm/racoon2-vm.sh run "bash tests/harness/demo-tunnel.sh"
