#!/usr/bin/env bash
# keepalived's IPVS connection sync (lvs_sync_daemon) on and off, side by
# side: the MASTER guest is powered off (QEMU killed) while the modality
# simulator stores studies through the DR VIP (tests/lab/l4_failover.yml),
# TRIALS times each way, alternating. Between trials the dead guest boots
# again and keepalived restarts on both guests, so every trial starts from
# the roles' own configuration (sync daemons as keepalived starts them).
# Needs the l4 lab converged and running, and is a benchmark, not a test:
#   export CONTAINERS_CONF=$PWD/tests/lab/containers.conf ANSIBLE_HOME=$PWD/.build/ansible-home \
#          ANSIBLE_CONFIG=$PWD/ansible.cfg PACS_LB_GUEST_DIR=$PWD/.build/guest
#   molecule converge -s l4 && bash tests/benchmarks/l4_sync_failover.sh 3; molecule destroy -s l4
set -euo pipefail
cd "$(dirname "$0")/../.."
TRIALS=${1:-2}
OUT=${OUT:-.build/l4-sync-failover}
INVENTORY=molecule/l4/inventory/hosts.yml
export ANSIBLE_COLLECTIONS_PATH=$PWD/.build/collections
export PACS_LB_GUEST_DIR=${PACS_LB_GUEST_DIR:-$PWD/.build/guest}
mkdir -p "$OUT"
rm -f "$OUT"/*.json

guest_ssh() {
  ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
      -o ConnectTimeout=5 -i "$PACS_LB_GUEST_DIR/key" "ansible@$1" "${@:2}"
}

reset_pair() {
  local n
  for n in 1 2; do
    bash tests/lab/guest/guest.sh up "pacs-lb-l4-lb$n" "198.18.30.1$n/24" 198.18.30.1 pacs-lb-l4 "lb$n" >/dev/null
  done
  # A guest that booted again lost the lab's route to the modality subnet (prepare.yml).
  for n in 1 2; do
    guest_ssh "198.18.30.1$n" sudo ip route replace 198.18.31.0/24 via 198.18.30.50
    guest_ssh "198.18.30.1$n" sudo systemctl restart keepalived
  done
  # VRRP settles (3 adverts) and the new MASTER starts its sync daemon.
  sleep 15
}

for trial in $(seq 1 "$TRIALS"); do
  # Alternate which way goes first: the machine's load drifts.
  if [ $((trial % 2)) = 1 ]; then order="true false"; else order="false true"; fi
  for sync in $order; do
    reset_pair
    echo "trial $trial sync=$sync $(date -u +%T)"
    ansible-playbook -i "$INVENTORY" tests/lab/l4_failover.yml \
      -e "lab_failover_sync=$sync" -e "lab_failover_report=$PWD/$OUT/sync-$sync-$trial.json" >"$OUT/sync-$sync-$trial.log" 2>&1 \
      || echo "  failed: see $OUT/sync-$sync-$trial.log"
  done
done
reset_pair

python3 - "$OUT" <<'PY'
import glob, json, sys
rows = {}
for path in sorted(glob.glob(sys.argv[1] + "/sync-*.json")):
    r = json.load(open(path))
    rows.setdefault(r["sync"], []).append(r)
for sync in (True, False):
    runs = rows.get(sync, [])
    print("sync %-5s trials %d | broken associations %s | failed associations %s | acknowledged/sent %s | missing %s" % (
        "on" if sync else "off", len(runs), [r["broken_associations"] for r in runs],
        [r["failed_associations"] for r in runs], ["%d/%d" % (r["acknowledged"], r["sent"]) for r in runs],
        [r["missing_on_server"] for r in runs]))
PY
