# -*- coding: utf-8 -*-
"""inventory_options: every host's role options in one controller call (the preflight's one task)."""

import os

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.medimaging.pacs_lb.plugins.filter import service_model as filters

ROLES = os.path.join(os.path.dirname(__file__), "..", "..", "roles")


def spec(role):
    with open(os.path.join(ROLES, role, "meta", "argument_specs.yml")) as handle:
        return yaml.safe_load(handle)["argument_specs"]["main"]["options"]


SPECS = {"haproxy": spec("haproxy"), "keepalived": spec("keepalived")}


def check(hostvars, balancers=("lb1", "lb2")):
    return filters.inventory_options(sorted(hostvars), hostvars, list(balancers), SPECS)


def problems(hostvars, balancers=("lb1", "lb2")):
    with pytest.raises(AnsibleFilterError) as caught:
        check(hostvars, balancers)
    return str(caught.value)


def test_a_good_inventory_passes():
    assert check({"lb1": {"haproxy_maxconn": 8000, "keepalived_priority": 150, "ansible_host": "198.18.0.1"},
                  "lb2": {"haproxy_route_quickack": "servers"},
                  "pacs1": {"realserver_linux_rp_filter": "loose", "other_var": "x"}}) is True


def test_every_problem_of_every_host_at_once():
    text = problems({"lb1": {"haproxy_route_quickack": "fast", "keepalived_priority": 300},
                     "lb2": {"haproxy_busy_polling": "true"},
                     "pacs1": {"verify_report_dri": "/tmp/r"}})
    assert text.startswith("The roles' options are invalid (4 problems); no host was changed")
    # the role's argument spec, as Ansible words it
    assert "- host 'lb1': role haproxy: value of haproxy_route_quickack must be one of: all, servers, none, got: fast" \
        in text
    assert "- host 'lb1': keepalived_priority: '300' must be 1-254" in text
    assert "- host 'lb2': haproxy_busy_polling: true needs haproxy_nbthread of at least 1 and fewer than the " \
           "balancer's CPUs, got 0" in text
    assert "- host 'pacs1': verify_report_dri: unknown option; did you mean verify_report_dir?" in text


def test_argument_specs_apply_to_balancers_only():
    # a balancer option set for every host (group_vars/all) is checked against the role's spec on the balancers
    hostvars = {"lb1": {"haproxy_maxconn": "many"}, "pacs1": {"haproxy_maxconn": "many"}}
    text = problems(hostvars, balancers=["lb1"])
    assert "host 'lb1': role haproxy:" in text and "host 'pacs1': role haproxy" not in text
    assert "host 'pacs1': haproxy_maxconn:" in text   # the safe range applies on every host


def test_busy_polling_with_threads_passes():
    assert check({"lb1": {"haproxy_busy_polling": True, "haproxy_nbthread": 2}}) is True
