# Set-up and test entry points. Everything a fresh Debian 12 machine needs is
# installed by these targets (run as root).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
ACTIVATE := source $(VENV)/bin/activate
export CONTAINERS_CONF := $(CURDIR)/tests/lab/containers.conf
export ANSIBLE_HOME := $(CURDIR)/.build/ansible-home
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
# The lab's QEMU balancer guests: image, kernel, SSH key, per-guest disks.
export PACS_LB_GUEST_DIR := $(CURDIR)/.build/guest
COLLECTION_LINK := .build/collections/ansible_collections/medimaging/pacs_lb
SANITY_TREE := .build/sanity/ansible_collections/medimaging/pacs_lb
APT_PACKAGES := podman runc debootstrap uidmap haproxy keepalived dcmtk nftables rsync make qemu-system-x86 qemu-utils iptables sslscan
LAB_INVENTORY := inventories/lab
# make lab VENDOR=<vendor> [VARIANT=<variant>]: the example inventory
# inventories/examples/<vendor>/ deployed as it is on a lab of its own
# (tests/lab/vendors/overlay.yml: balancers as QEMU guests, the other hosts
# as containers, a client); a variant adds tests/lab/vendors/<vendor>-<variant>.yml
# as extra vars (insignia-failover: the failover forms of both VIPs).
VENDOR ?=
VARIANT ?=
VENDOR_STATE := .build/lab/$(VENDOR)
VENDOR_ARGS := -i inventories/examples/$(VENDOR) -i tests/lab/vendors/overlay.yml \
  $(if $(VARIANT),-e @tests/lab/vendors/$(VENDOR)-$(VARIANT).yml)
VENDOR_LAB_ARGS := $(VENDOR_ARGS) -i $(VENDOR_STATE)/realservers.ini -e @tests/lab/vendors/lab_tls.yml

.PHONY: help deps venv image lab lab-check lab-destroy resilience test lint sanity unit integration molecule build clean
.PHONY: docs package ee

help:
	@echo "make lab          build and converge the local two-balancer lab, then check every VIP"
	@echo "make lab VENDOR=ge_centricity  the same for an example inventory (generic, philips_vue, infinitt,"
	@echo "                  insignia [VARIANT=failover], ge_centricity): balancers as QEMU guests, every VIP asked"
	@echo "make lab-destroy  remove the lab (VENDOR=... for a vendor lab)"
	@echo "make resilience   fault scenarios under load on the running lab"
	@echo "make test         lint, ansible-test sanity, unit and integration tests, docs, package and the Molecule scenarios"
	@echo "make unit         pure logic: no process started, no network (tests/unit, ~5 s)"
	@echo "make integration  real HAProxy, keepalived, DCMTK, pynetdicom, MLLP peers, ansible-playbook (tests/integration)"
	@echo "make docs         the documentation site (antsibull-docs, Sphinx) and the changelog fragments' lint"
	@echo "make package      the collection tarball: contents, galaxy-importer, offline install, FQCN playbooks"
	@echo "make ee           build the execution environment and run a rollout in it with ansible-runner (slow)"

.build/apt.stamp:
	@command -v podman >/dev/null && command -v haproxy >/dev/null && command -v storescp >/dev/null \
	  && command -v rsync >/dev/null && command -v sslscan >/dev/null && command -v qemu-system-x86_64 >/dev/null && command -v qemu-img >/dev/null || { apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(APT_PACKAGES) >/dev/null; }
	@mkdir -p .build && touch $@

$(VENV)/.stamp: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -r requirements.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $@)
	ln -sfn ../../../.. $@

deps: .build/apt.stamp $(VENV)/.stamp $(COLLECTION_LINK)

image: deps
	PIP=$(VENV)/bin/pip bash tests/lab/build-image.sh

lab: image
ifeq ($(VENDOR),)
	@set -e; start=$$(date +%s); \
	$(ACTIVATE); \
	ansible-playbook -i $(LAB_INVENTORY) tests/lab/create.yml; \
	ansible-playbook -i $(LAB_INVENTORY) tests/lab/prepare.yml; \
	ansible-playbook -i $(LAB_INVENTORY) site.yml; \
	echo "lab converged and verified in $$(( $$(date +%s) - start )) s; report: .build/verify-report/verify.md"; \
	cat .build/verify-report/verify.md
else
	@test -d inventories/examples/$(VENDOR) || { echo "no example inventory inventories/examples/$(VENDOR)" >&2; exit 2; }
	@set -e; start=$$(date +%s); \
	$(ACTIVATE); \
	ansible-playbook $(VENDOR_ARGS) tests/lab/vendor_plan.yml; \
	ansible-playbook $(VENDOR_LAB_ARGS) tests/lab/create.yml; \
	up=$$(date +%s); \
	ansible-playbook $(VENDOR_LAB_ARGS) tests/lab/vendor_prepare.yml; \
	ready=$$(date +%s); \
	ansible-playbook $(VENDOR_LAB_ARGS) site.yml; \
	converged=$$(date +%s); \
	ansible-playbook $(VENDOR_LAB_ARGS) tests/lab/vendor_clients.yml; \
	end=$$(date +%s); \
	echo "lab $(VENDOR)$(if $(VARIANT), $(VARIANT)): create $$(( up - start )) s, stand-ins $$(( ready - up )) s," \
	  "site.yml (converge + verify) $$(( converged - ready )) s, clients $$(( end - converged )) s," \
	  "total $$(( end - start )) s; report: .build/verify-report/$(VENDOR)/verify.md"; \
	cat .build/verify-report/$(VENDOR)/verify.md
endif

lab-check: deps
ifeq ($(VENDOR),)
	$(ACTIVATE); ansible-playbook -i $(LAB_INVENTORY) playbooks/verify.yml
else
	$(ACTIVATE); ansible-playbook $(VENDOR_LAB_ARGS) playbooks/verify.yml
	$(ACTIVATE); ansible-playbook $(VENDOR_LAB_ARGS) tests/lab/vendor_clients.yml
endif

# The full fault scenarios under load on a running lab (20 configuration
# reloads); Molecule runs the same playbook with 3 reloads.
resilience: deps
	$(ACTIVATE); ansible-playbook -i $(LAB_INVENTORY) tests/lab/resilience.yml -e lab_reloads=20

lab-destroy: deps
ifeq ($(VENDOR),)
	$(ACTIVATE); ansible-playbook -i $(LAB_INVENTORY) tests/lab/destroy.yml
else
	$(ACTIVATE); ansible-playbook $(VENDOR_ARGS) tests/lab/destroy.yml
endif

test: lint sanity unit integration docs package molecule

lint: deps
	$(ACTIVATE); yamllint -s .
	$(ACTIVATE); ansible-lint --profile production

# ansible-test wants the collection at a real ansible_collections/NS/NAME path.
sanity: deps
	rm -rf $(SANITY_TREE) && mkdir -p $(SANITY_TREE)
	git ls-files -z --cached --others --exclude-standard | rsync -a --from0 --ignore-missing-args --files-from=- ./ $(SANITY_TREE)/
	cd $(SANITY_TREE) && git init -q && git add -A  # ansible-test lists files with git
	bash tests/sanity/install-get-pip-standin.sh
	$(ACTIVATE); cd $(SANITY_TREE) && ansible-test sanity --local --python 3.11 --color no

unit: deps
	$(ACTIVATE); pytest -q tests/unit

integration: deps
	$(ACTIVATE); pytest -q tests/integration

molecule: image
	$(ACTIVATE); molecule test --all

build: deps
	$(ACTIVATE); ansible-galaxy collection build --force --output-path .build/dist

# The documentation site from the roles' argument specs and the modules' and
# filters' docs, linted first; the changelog fragments linted. ~35 s.
DOCSITE := .build/docsite
docs: deps
	$(ACTIVATE); antsibull-docs lint-collection-docs --plugin-docs $(COLLECTION_LINK)
	$(ACTIVATE); antsibull-changelog lint
	rm -rf $(DOCSITE) && mkdir -p -m 0700 $(DOCSITE)/rst
	$(ACTIVATE); antsibull-docs --config-file docs/sphinx/antsibull-docs.cfg collection --use-current \
	  --fail-on-error --cleanup everything --dest-dir $(DOCSITE)/rst medimaging.pacs_lb
	cp docs/sphinx/index.rst $(DOCSITE)/rst/
	$(ACTIVATE); sphinx-build -q -W --keep-going -b html -c docs/sphinx $(DOCSITE)/rst $(DOCSITE)/html
	@echo "documentation site: $(DOCSITE)/html/index.html"

# The tarball as a user gets it: built, checked as galaxy-importer would,
# installed offline into an empty path with only its declared dependencies,
# and its playbooks run by FQCN. ~1 min (galaxy-importer most of it).
package: deps
	$(ACTIVATE); bash tests/package/check.sh

# The execution environment (ansible-builder, podman) and a rollout inside it
# through ansible-runner over SSH to containers of its own, ~3 min (EE_SKIP_BUILD=1
# reuses a built image: ~2 min). Builds images: not in `test`.
ee: image
	$(ACTIVATE); bash tests/ee/run.sh

clean:
	rm -rf .build
