#!/usr/bin/env bash
# The collection as a user gets it (make package):
# 1. build the tarball and check what it holds (the collection, its unit and
#    sanity tests; not the lab);
# 2. galaxy-importer on it (the checks Galaxy / Automation Hub make);
# 3. install it offline into an empty collections path together with its
#    declared dependencies only, and run its playbooks by FQCN from a
#    directory with no ansible.cfg, with the collections of the `ansible`
#    package hidden.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/.build/package
rm -rf "$OUT" && mkdir -p "$OUT/dist" "$OUT/deps" "$OUT/empty"
start=$(date +%s)

ansible-galaxy collection build --force --output-path "$OUT/dist" . >/dev/null
TARBALL=$(ls "$OUT"/dist/medimaging-pacs_lb-*.tar.gz)
tar tzf "$TARBALL" | sort > "$OUT/contents.txt"
bad=$(grep -E '^(ansible\.cfg|site\.yml|inventories/lab|tests/(lab|benchmarks|render)|molecule|collections|\.ci|Makefile|requirements\.txt)(/|$)' \
      "$OUT/contents.txt" || true)
[[ -z $bad ]] || { echo "FAIL: the tarball ships files that are not the collection's:"; echo "$bad"; exit 1; }
for need in COPYING README.md meta/runtime.yml meta/execution-environment.yml meta/ee-requirements.txt meta/ee-bindep.txt \
            roles/haproxy/README.md roles/keepalived/README.md roles/preflight/README.md roles/verify/README.md \
            roles/realserver_linux/README.md roles/realserver_windows/README.md tests/unit/test_verify_report.py \
            playbooks/site.yml plugins/filter/verify_report.yml changelogs/config.yaml; do
  grep -qx "$need" "$OUT/contents.txt" || { echo "FAIL: $need is missing from the tarball"; exit 1; }
done
echo "tarball: $(wc -l < "$OUT/contents.txt") entries, no lab files"

# galaxy-importer: metadata, docs of every plugin and role (ansible-doc),
# README per role, ansible-lint; a warning or error fails here.
(cd "$OUT" && env -u ANSIBLE_CONFIG GALAXY_IMPORTER_CONFIG="$ROOT/tests/package/galaxy-importer.cfg" \
   python -m galaxy_importer.main "$TARBALL" > "$OUT/galaxy-importer.log" 2>&1) \
  || { cat "$OUT/galaxy-importer.log"; echo "FAIL: galaxy-importer"; exit 1; }
if grep -E '^(WARNING|ERROR)|Traceback' "$OUT/galaxy-importer.log" \
   || ! grep -q 'Importer processing completed successfully' "$OUT/galaxy-importer.log"; then
  echo "FAIL: galaxy-importer reported problems (log: $OUT/galaxy-importer.log)"; exit 1
fi
echo "galaxy-importer: clean"

# The declared dependencies, as artifacts made from the copies that the
# `ansible` package ships (no Galaxy here); only those galaxy.yml names.
SITE=$(python -c 'import ansible_collections, os; print(os.path.dirname(ansible_collections.__path__[0]))')
deps=$(python -c 'import yaml; print(" ".join(yaml.safe_load(open("galaxy.yml"))["dependencies"]))')
artifacts=()
for dep in $deps; do
  src=$SITE/ansible_collections/${dep%%.*}/${dep#*.}
  [[ -f $src/MANIFEST.json ]] || { echo "FAIL: no packaged copy of $dep to install from"; exit 1; }
  version=$(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$src/MANIFEST.json")
  artifacts+=("$OUT/deps/${dep/./-}-$version.tar.gz")
  python tests/package/dep_artifact.py "$src" "${artifacts[-1]}"
done

# A user's machine: no ansible.cfg, only the installed path, the collections
# bundled with the `ansible` package hidden.
INSTALL=$OUT/installed
user_run() {
  (cd "$OUT/empty" && env -u ANSIBLE_CONFIG ANSIBLE_HOME="$OUT/home" ANSIBLE_COLLECTIONS_PATH="$INSTALL" \
     ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false ANSIBLE_HOST_PATTERN_MISMATCH=ignore ANSIBLE_NOCOLOR=1 "$@")
}
user_run ansible-galaxy collection install --offline -p "$INSTALL" "$TARBALL" "${artifacts[@]}" > "$OUT/install.log"
echo "installed offline into an empty path: $(cd "$INSTALL/ansible_collections" && echo */*)"
for playbook in site verify maintenance realservers preflight; do
  user_run ansible-playbook "medimaging.pacs_lb.$playbook" -i "$ROOT/inventories/examples/generic" --syntax-check >/dev/null
done
echo "syntax: medimaging.pacs_lb.{site,verify,maintenance,realservers,preflight} parse with the declared dependencies only"
for example in "$ROOT"/inventories/examples/*/; do
  user_run ansible-playbook medimaging.pacs_lb.preflight -i "$example" > "$OUT/preflight-$(basename "$example").log" \
    || { cat "$OUT/preflight-$(basename "$example").log"; echo "FAIL: preflight on $example"; exit 1; }
  grep -q 'services on' "$OUT/preflight-$(basename "$example").log"
done
echo "run: medimaging.pacs_lb.preflight from the installed tarball on every example inventory"

# And it must fail where it should: a broken model stops the installed playbook.
bad_inv=$OUT/bad-inventory
cp -r "$ROOT/inventories/examples/generic" "$bad_inv"
printf 'pacs_lb_services:\n  - name: BROKEN\n    vip: 198.18.101.300\n' > "$bad_inv/group_vars/all/zz_broken.yml"
if user_run ansible-playbook medimaging.pacs_lb.preflight -i "$bad_inv" > "$OUT/preflight-bad.log" 2>&1; then
  echo "FAIL: a model with an invalid VIP passed the preflight"; exit 1
fi
grep -q 'BROKEN' "$OUT/preflight-bad.log" || { cat "$OUT/preflight-bad.log"; echo "FAIL: the problem was not named"; exit 1; }
echo "package check passed in $(( $(date +%s) - start )) s"
