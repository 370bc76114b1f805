#!/usr/bin/env bash
# make ee: the execution environment, built and used as AWX uses it.
# 1. the collection tarball and its dependency (as make package makes them);
# 2. the EE's base image from the project's own Debian image, then the EE
#    with ansible-builder (execution-environment.yml);
# 3. four hosts of our own on the podman network pacs-lb-ee (198.18.40.0/24),
#    reached over SSH as the user deploy with sudo (become): two balancers,
#    two web servers;
# 4. ansible-runner runs medimaging.pacs_lb.site inside the EE (process
#    isolation with podman, as AWX and ansible-navigator do), then checks the
#    run's status, its job events, the verify result in artifact_data and the
#    report files in the job's artifact directory; then a check-mode run of a
#    changed inventory (one service added) must end green.
# Everything it creates is named pacs-lb-ee-* and removed at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
WORK=$ROOT/.build/ee
NET=pacs-lb-ee
SUBNET=198.18.40
LAB_IMAGE=${LAB_IMAGE:-localhost/pacs-lb-lab:bookworm}
EE_IMAGE=localhost/pacs-lb-ee:latest
HOSTS=(lb1 lb2 web1 web2)
declare -A ADDR=([lb1]=$SUBNET.11 [lb2]=$SUBNET.12 [web1]=$SUBNET.21 [web2]=$SUBNET.22)
start=$(date +%s)
step() { echo "[$(( $(date +%s) - start )) s] $*"; }

cleanup() {
  for host in "${HOSTS[@]}"; do podman rm -f -t 0 "pacs-lb-ee-$host" >/dev/null 2>&1 || true; done
  podman network rm -f "$NET" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
podman image exists "$LAB_IMAGE" || { echo "no $LAB_IMAGE: run make image first"; exit 1; }
rm -rf "$WORK" && mkdir -p "$WORK/collections" "$WORK/target"

step "collection tarballs"
ansible-galaxy collection build --force --output-path "$WORK/dist" . >/dev/null
cp "$WORK"/dist/medimaging-pacs_lb-*.tar.gz "$WORK/collections/medimaging-pacs_lb.tar.gz"
SITE=$(python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')
python tests/package/dep_artifact.py "$SITE/ansible_collections/ansible/posix" "$WORK/collections/ansible-posix.tar.gz"

step "base image localhost/pacs-lb-ee-base:bookworm"
mkdir -p "$WORK/base"
cp execution-environment/base/Containerfile "$WORK/base/"
cp "${EE_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}" "$WORK/base/ca-certificates.crt"
podman build -q --build-arg BASE_IMAGE="$LAB_IMAGE" -t localhost/pacs-lb-ee-base:bookworm "$WORK/base" >/dev/null

if [[ ${EE_SKIP_BUILD:-} == 1 ]] && podman image exists "$EE_IMAGE"; then
  step "execution environment $EE_IMAGE: reused (EE_SKIP_BUILD=1)"
else
  step "execution environment $EE_IMAGE (ansible-builder)"
  ansible-builder build -f execution-environment.yml -t "$EE_IMAGE" --container-runtime podman \
    --context "$WORK/context" -v 2 > "$WORK/ansible-builder.log" 2>&1 \
    || { tail -40 "$WORK/ansible-builder.log"; echo "FAIL: ansible-builder"; exit 1; }
fi
podman run --rm "$EE_IMAGE" ansible-galaxy collection list 2>/dev/null | grep -E 'medimaging.pacs_lb|ansible.posix'
podman run --rm "$EE_IMAGE" python3 -c 'import netaddr, ansible_runner; print("netaddr", netaddr.__version__)'

step "target hosts on $NET ($SUBNET.0/24), SSH as deploy with sudo"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/ssh_key"
cp "$WORK/ssh_key.pub" "$WORK/target/authorized_keys"
cp execution-environment/target/Containerfile "$WORK/target/"
podman build -q --build-arg BASE_IMAGE="$LAB_IMAGE" -t localhost/pacs-lb-ee-target:bookworm "$WORK/target" >/dev/null
podman network create --subnet "$SUBNET.0/24" "$NET" >/dev/null
for host in "${HOSTS[@]}"; do
  serve=""
  sysctl=()
  [[ $host == web* ]] && serve="mkdir -p /srv/www && echo $host > /srv/www/index.html && (cd /srv/www && python3 -m http.server 8042 >/dev/null 2>&1 &);"
  # As in the lab: a container cannot set this itself; the role leaves it when it is already set.
  [[ $host == lb* ]] && sysctl=(--sysctl net.ipv4.ip_nonlocal_bind=1)
  podman run -d --name "pacs-lb-ee-$host" --hostname "$host" --network "$NET:ip=${ADDR[$host]}" \
    --cap-add NET_ADMIN --cap-add NET_RAW --cap-add SYS_PTRACE "${sysctl[@]}" \
    localhost/pacs-lb-ee-target:bookworm bash -c "$serve exec /usr/sbin/sshd -D -e" >/dev/null
done

# The runner's private data directory, as AWX lays it out for a job. Rootful
# podman leaves the job's artifact directory and SSH key pipe to root (0700),
# so the EE runs as root here (--user=0); AWX runs it as its own user.
make_private() {  # DIR EXTRA_SERVICE_YAML
  local dir=$1
  mkdir -p "$dir/project" "$dir/inventory" "$dir/env"
  printf -- '---\n- name: Site\n  ansible.builtin.import_playbook: medimaging.pacs_lb.site\n' > "$dir/project/site.yml"
  cp "$WORK/ssh_key" "$dir/env/ssh_key"
  cat > "$dir/inventory/hosts.yml" <<INV
all:
  vars:
    ansible_user: deploy
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
    pacs_lb_vendor: none
    pacs_lb_pools: {web: web_servers}
    pacs_lb_vrrp_instances:
      - {name: VI_EE, virtual_router_id: 61, interface: eth0, network: $SUBNET.0/24}
    pacs_lb_services:
      - {name: WEB, vip: $SUBNET.100, ports: 80, server_port: 8042, mode: l7, protocol: http, pool: web,
         check: {type: http, path: /, status: "200"}}
$2
  children:
    balancers:
      vars: {ansible_become: true, keepalived_vrrp_version: 3, keepalived_advert_int: 1}
      hosts:
        lb1: {ansible_host: ${ADDR[lb1]}, pacs_lb_address: ${ADDR[lb1]}}
        lb2: {ansible_host: ${ADDR[lb2]}, pacs_lb_address: ${ADDR[lb2]}}
    web_servers:
      vars: {ansible_become: true}
      hosts:
        web1: {ansible_host: ${ADDR[web1]}, pacs_lb_address: ${ADDR[web1]}}
        web2: {ansible_host: ${ADDR[web2]}, pacs_lb_address: ${ADDR[web2]}}
INV
}
runner() {  # DIR [extra ansible-runner args]
  local dir=$1; shift
  ansible-runner run "$dir" -p site.yml --ident job --container-image "$EE_IMAGE" \
    --process-isolation --process-isolation-executable podman \
    --container-option="--network=$NET" --container-option="--user=0" "$@" > "$dir/runner.out" 2>&1 || true
}

step "rollout: ansible-runner, medimaging.pacs_lb.site inside the EE"
make_private "$WORK/job-site" ""
runner "$WORK/job-site"
python tests/ee/check_job.py "$WORK/job-site/artifacts/job" --expect-status successful --expect-ok
step "rollout verified"

step "change-window preview: one service added, --check --diff inside the EE"
make_private "$WORK/job-preview" "      - {name: WEB_ALT, vip: $SUBNET.100, ports: 8080, server_port: 8042, mode: l7, protocol: http, pool: web,
         check: {type: http, path: /, status: \"200\"}}"
runner "$WORK/job-preview" --cmdline "--check --diff"
python tests/ee/check_job.py "$WORK/job-preview/artifacts/job" --expect-status successful --expect-check-mode \
  --expect-diff 'WEB_ALT'
step "make ee passed"
