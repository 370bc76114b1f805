#!/usr/bin/env bash
# Starts and stops the lab's QEMU balancer guests (a real Debian kernel with
# IPVS, systemd, sshd) on a podman network's bridge, so guests and containers
# share layer 2 as Direct Routing needs.
#
#   guest.sh up   ID ADDR/PREFIX GATEWAY NETWORK   start (or find running) and wait for SSH
#   guest.sh kill ID                               hard power-off (SIGKILL to QEMU)
#   guest.sh down ID                               power off, remove tap, NAT rule and overlay
#   guest.sh pid  ID                               QEMU's PID, if it runs
#
# ID names the guest on this machine (the lab's container-style name). The
# disk is a copy-on-write overlay of the image build-image.sh made; it lives
# until `down`, so a killed guest boots again with its own state.
# QEMU uses software emulation (TCG) unless the host has real VMX/SVM: a
# /dev/kvm backed by kvm_pvm runs a stock kernel far slower than TCG.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=${PACS_LB_GUEST_DIR:-$HERE/../../../.build/guest}
mkdir -p "$GUEST_DIR"; GUEST_DIR=$(cd "$GUEST_DIR" && pwd)
VCPUS=${GUEST_VCPUS:-2}
MEM=${GUEST_MEM:-1024}
cmd=${1:?usage: guest.sh up|kill|down|pid ID ...}; id=${2:?guest ID}
run=$GUEST_DIR/run/$id
tap=pg$(printf '%s' "$id" | sha1sum | cut -c1-10)      # interface names end at 15 characters

pid() { [ -s "$run/qemu.pid" ] && kill -0 "$(cat "$run/qemu.pid")" 2>/dev/null && cat "$run/qemu.pid"; }

ssh_ok() {
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      -o ConnectTimeout=3 -i "$GUEST_DIR/key" "ansible@$1" true 2>/dev/null
}

nat_rule() {   # CNI masquerades each container address; a tap guest needs its own rule
  local op=$1 addr=$2 subnet=$3
  iptables -t nat "$op" POSTROUTING -s "$addr/32" ! -d "$subnet" -m comment --comment "pacs-lb-guest $id" -j MASQUERADE
}

up() {
  local cidr=${3:?ADDR/PREFIX} gw=${4:?GATEWAY} net=${5:?podman network} addr subnet bridge mac t0
  addr=${cidr%/*}
  subnet=$(podman network inspect "$net" --format '{{range .Subnets}}{{.Subnet}}{{end}}')
  # podman creates the bridge only once a container is attached: start those first
  bridge=$(podman network inspect "$net" --format '{{.NetworkInterface}}')
  ip link show "$bridge" >/dev/null 2>&1 || { echo "bridge $bridge of $net is not up (no container on it yet)" >&2; exit 1; }
  mkdir -p "$run"
  ip link show "$tap" >/dev/null 2>&1 || ip tuntap add dev "$tap" mode tap
  ip link set "$tap" master "$bridge" up
  nat_rule -C "$addr" "$subnet" 2>/dev/null || nat_rule -A "$addr" "$subnet"
  if [ -z "$(pid)" ]; then
    [ -e "$run/disk.qcow2" ] || qemu-img create -q -f qcow2 -F raw -b "$GUEST_DIR/base.raw" "$run/disk.qcow2"
    mac=$(printf '52:54:00:%02x:%02x:%02x' $(echo "$addr" | awk -F. '{print $2, $3, $4}'))
    local accel=(-accel tcg,thread=multi -cpu max)
    [ -w /dev/kvm ] && ls -d /sys/module/kvm_intel /sys/module/kvm_amd >/dev/null 2>&1 && accel=(-enable-kvm -cpu host)
    # tsc=reliable: under TCG a busy host delays one vCPU thread against the
    # other, the kernel's boot check then finds the TSCs unsynchronized and
    # falls back to the emulated HPET, and every clock read (keepalived,
    # HAProxy, each check) becomes a trapped MMIO access: guests at load 8-10
    # with their checks idle, the VRRP track script timing out. QEMU's TCG TSC
    # follows one virtual clock for all vCPUs, so it is reliable here.
    t0=$(date +%s)
    qemu-system-x86_64 -M pc "${accel[@]}" -smp "$VCPUS" -m "$MEM" -nodefaults -no-user-config -display none \
      -name "$id" -daemonize -pidfile "$run/qemu.pid" -serial "file:$run/serial.log" \
      -kernel "$GUEST_DIR/vmlinuz" -initrd "$GUEST_DIR/initrd.img" \
      -append "console=ttyS0 root=/dev/vda rw mitigations=off tsc=reliable net.ifnames=0 pacs_lb.name=${6:-$id} pacs_lb.addr=$cidr pacs_lb.gw=$gw" \
      -drive "file=$run/disk.qcow2,format=qcow2,if=virtio,cache=unsafe" \
      -netdev "tap,id=n0,ifname=$tap,script=no,downscript=no" -device "virtio-net-pci,netdev=n0,mac=$mac"
    echo "$addr $subnet" >"$run/net"
  fi
  t0=${t0:-$(date +%s)}
  until ssh_ok "$addr"; do
    [ -n "$(pid)" ] || { echo "guest $id stopped while booting:" >&2; tail -20 "$run/serial.log" >&2; exit 1; }
    [ $(( $(date +%s) - t0 )) -lt "${GUEST_BOOT_TIMEOUT:-300}" ] || { echo "guest $id: no SSH after ${GUEST_BOOT_TIMEOUT:-300} s" >&2; tail -20 "$run/serial.log" >&2; exit 1; }
    sleep 1
  done
  echo "guest $id up at $addr (SSH after $(( $(date +%s) - t0 )) s)"
}

kill_guest() {
  local p; p=$(pid) || return 0
  kill -KILL "$p"
  while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
}

down() {
  kill_guest
  if [ -e "$run/net" ]; then
    read -r addr subnet <"$run/net"
    nat_rule -D "$addr" "$subnet" 2>/dev/null || true
  fi
  ip link del "$tap" 2>/dev/null || true
  rm -rf "$run"
}

case $cmd in
  up) up "$@" ;;
  kill) kill_guest ;;
  down) down ;;
  pid) pid ;;
  *) echo "usage: guest.sh up|kill|down|pid ID ..." >&2; exit 2 ;;
esac
