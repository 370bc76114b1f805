#!/usr/bin/env bash
# The vendor lab's own TLS material: a CA, and one server certificate for
# every address a TLS client dials (VIPs) or a check reaches (servers), so
# that curl, echoscu and the MLLP client verify the chain through the VIP.
#   lab_ca.sh DIR ADDRESS...     (kept if DIR/server.pem exists)
set -euo pipefail
dir=$1; shift
[ -s "$dir/server.pem" ] && exit 0
mkdir -p "$dir"
san=$(printf 'IP:%s,' "$@"); san=${san%,}
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=pacs-lb lab CA" \
  -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=pacs-lb lab server" \
  -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial -days 30 \
  -extfile <(printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$san") \
  -out "$dir/server.pem" 2>/dev/null
echo "lab CA and server certificate in $dir"
