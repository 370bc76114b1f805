#!/bin/sh
# Everything realserver_linux may change, as stable text: the removal test
# compares this before the role and after state=absent.
echo "## addresses"
ip -br addr show
ip -o -4 addr show dev lo | sed 's/\\.*//'
echo "## routes"
ip -4 route show
echo "## sysctls"
for dev in all default lo eth0; do
  for key in arp_ignore arp_announce rp_filter; do
    printf '%s/%s=%s\n' "$dev" "$key" "$(cat /proc/sys/net/ipv4/conf/$dev/$key)"
  done
done
echo "## nftables"
nft list ruleset
echo "## files"
for path in /etc/sysctl.d /etc/network /etc/systemd/network /etc/NetworkManager /etc/nftables.conf \
            /etc/nftables-pacs-lb-dr.nft /var/lib/pacs-lb-realserver.json; do
  [ -e "$path" ] && find "$path" -type f -exec sha256sum {} +
done | sort
exit 0
