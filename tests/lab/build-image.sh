#!/usr/bin/env bash
# Builds the lab's one local image: nothing can be pulled from a registry here.
# Balancers start from it without HAProxy/keepalived (the roles install those);
# the fixtures use Orthanc, DCMTK, pynetdicom and the hl7 package from it.
set -euo pipefail
IMAGE=${LAB_IMAGE:-localhost/pacs-lb-lab:bookworm}
export CONTAINERS_CONF=${CONTAINERS_CONF:-$(cd "$(dirname "$0")" && pwd)/containers.conf}

if podman image exists "$IMAGE" && [ "${FORCE:-0}" != 1 ]; then
  echo "image $IMAGE already present"; exit 0
fi
MIRROR=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS=$(mktemp -d /var/tmp/pacs-lb-rootfs.XXXXXX)
trap 'rm -rf "$ROOTFS"' EXIT

debootstrap --variant=minbase --include=python3,iproute2,procps bookworm "$ROOTFS" "$MIRROR" >/dev/null
cat > "$ROOTFS/etc/apt/sources.list" <<SRC
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
SRC
cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
# No service may start inside the image build (Orthanc is started by the lab's prepare step).
printf '#!/bin/sh\nexit 101\n' > "$ROOTFS/usr/sbin/policy-rc.d"; chmod +x "$ROOTFS/usr/sbin/policy-rc.d"
in_root() { chroot "$ROOTFS" env DEBIAN_FRONTEND=noninteractive "$@"; }
in_root apt-get update -qq
# debootstrap's resolver cannot pick Orthanc's alternative dependencies: apt does.
in_root apt-get install -y -qq --no-install-recommends \
  python3-apt iputils-ping iputils-arping tcpdump nftables curl ca-certificates \
  orthanc dcmtk python3-hl7 python3-pip python3-numpy >/dev/null
# pynetdicom is not packaged by Debian. The host's pip (with its certificates
# and index settings) fetches the same pinned wheels the controller uses.
mkdir -p "$ROOTFS/tmp/wheels"
"${PIP:-pip3}" download --quiet --no-deps --only-binary=:all: -d "$ROOTFS/tmp/wheels" pydicom==3.0.1 pynetdicom==3.0.4
in_root pip3 install --quiet --no-index --find-links /tmp/wheels --break-system-packages pydicom pynetdicom
rm -rf "$ROOTFS/tmp/wheels"
# pynetdicom installs its own echoscu/storescu/... that would shadow DCMTK's.
for app in echoscu findscu getscu movescu qrscp storescp storescu; do rm -f "$ROOTFS/usr/local/bin/$app"; done
in_root apt-get clean
rm -f "$ROOTFS/usr/sbin/policy-rc.d" "$ROOTFS/etc/resolv.conf"
tar -C "$ROOTFS" -c . | podman import --quiet - "$IMAGE" >/dev/null
echo "built $IMAGE"
