#!/usr/bin/env bash
# Builds the lab's balancer guest: a Debian 12 disk with Debian's own kernel
# (IPVS as modules), systemd as PID 1, sshd, sudo and python3, and the
# packages the roles install already in it (every task against an emulated
# CPU costs seconds, an apt download a minute). One disk serves every guest:
# each boots a copy-on-write overlay and takes its name and address from the
# kernel command line (pacs-lb-guest-setup, below). Cached in PACS_LB_GUEST_DIR
# (default .build/guest); the
# stamp holds a hash of this script, so a change here rebuilds it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
GUEST_DIR=${PACS_LB_GUEST_DIR:-$HERE/../../../.build/guest}
mkdir -p "$GUEST_DIR"; GUEST_DIR=$(cd "$GUEST_DIR" && pwd)
STAMP=$(cat "$0" "$HERE"/files/* | sha256sum | cut -c1-16)
if [ -e "$GUEST_DIR/base.raw" ] && [ "$(cat "$GUEST_DIR/stamp" 2>/dev/null)" = "$STAMP" ]; then
  echo "guest image $GUEST_DIR/base.raw already built"; exit 0
fi
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /var/tmp/pacs-lb-guest.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT
start=$(date +%s)

# The balancer's packages (haproxy, keepalived, ipvsadm, nftables) are the
# ones the roles install; tcpdump is for the lab's return-path evidence.
debootstrap --variant=minbase \
  --include=systemd-sysv,udev,dbus,libpam-systemd,openssh-server,python3,python3-apt,sudo,iproute2,iputils-ping,kmod,procps,linux-image-cloud-amd64,initramfs-tools,zstd,haproxy,keepalived,ipvsadm,nftables,tcpdump \
  bookworm "$ROOT" "$MIRROR" >"$GUEST_DIR/debootstrap.log" 2>&1 || { tail -20 "$GUEST_DIR/debootstrap.log"; exit 1; }
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\n' "$MIRROR" "$MIRROR" >"$ROOT/etc/apt/sources.list"
chroot "$ROOT" apt-get update -qq   # fresh lists: the roles' cache_valid_time then skips the update
echo '/dev/vda / ext4 defaults,noatime,errors=remount-ro 0 1' >"$ROOT/etc/fstab"
printf 'nameserver %s\n' "$(awk '/^nameserver/{print $2; exit}' /etc/resolv.conf)" >"$ROOT/etc/resolv.conf"

# Name, address and SSH host key per guest, from the kernel command line.
install -m 0755 "$HERE/files/pacs-lb-guest-setup" "$ROOT/usr/local/sbin/pacs-lb-guest-setup"
install -m 0644 "$HERE/files/pacs-lb-guest-setup.service" "$ROOT/etc/systemd/system/"
chroot "$ROOT" systemctl enable pacs-lb-guest-setup.service systemd-networkd.service >/dev/null 2>&1
# Nothing on a lab balancer needs these; each costs boot time on an emulated CPU.
chroot "$ROOT" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer \
  systemd-timesyncd.service >/dev/null 2>&1 || true
rm -f "$ROOT"/etc/ssh/ssh_host_*

# The user Ansible connects as, with become through sudo, as on a hospital host.
[ -e "$GUEST_DIR/key" ] || ssh-keygen -q -t ed25519 -N '' -C pacs-lb-lab -f "$GUEST_DIR/key"
chroot "$ROOT" useradd -m -s /bin/bash -G sudo ansible
echo 'ansible ALL=(ALL) NOPASSWD:ALL' >"$ROOT/etc/sudoers.d/ansible"; chmod 440 "$ROOT/etc/sudoers.d/ansible"
uid=$(chroot "$ROOT" id -u ansible); gid=$(chroot "$ROOT" id -g ansible)
install -d -m 700 -o "$uid" -g "$gid" "$ROOT/home/ansible/.ssh"
install -m 600 -o "$uid" -g "$gid" "$GUEST_DIR/key.pub" "$ROOT/home/ansible/.ssh/authorized_keys"
: >"$ROOT/etc/machine-id"; rm -f "$ROOT/var/lib/dbus/machine-id"; ln -s /etc/machine-id "$ROOT/var/lib/dbus/machine-id"
chroot "$ROOT" apt-get clean

cp "$ROOT"/boot/vmlinuz-* "$GUEST_DIR/vmlinuz"; cp "$ROOT"/boot/initrd.img-* "$GUEST_DIR/initrd.img"
rm -f "$GUEST_DIR/base.raw"; truncate -s 3G "$GUEST_DIR/base.raw"
mkfs.ext4 -q -L pacs-lb-guest -d "$ROOT" "$GUEST_DIR/base.raw"
echo "$STAMP" >"$GUEST_DIR/stamp"
echo "built guest image $GUEST_DIR/base.raw in $(( $(date +%s) - start )) s ($(du -h "$GUEST_DIR/base.raw" | cut -f1) used)"
