# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that expose the service model to the roles."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import clusters as cl
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

try:
    import yaml
    _LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
except ImportError:  # pragma: no cover - ansible-core depends on PyYAML
    yaml = None


def _plain(value):
    """Plain Python copies of the inputs.

    ansible-core hands filters lazily templated, tagged containers; the model
    copies and walks its input many times, which on those containers cost
    ~40 s for 200 services instead of 0.2 s. Materialize them once here.
    """
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _plain_hostvars(hostvars, groups):
    """Only what the model reads, so that lazy host variables are templated here."""
    wanted = ("pacs_lb_address", "ansible_host", "pacs_lb_weight", "pacs_lb_backup", "pacs_lb_server_port")
    out = {}
    for host in set(h for members in (groups or {}).values() for h in members):
        hv = hostvars.get(host) if hostvars else None
        if hv is None:
            continue
        out[host] = dict((k, hv[k]) for k in wanted if k in hv)
    return out


def _invalid(problems, what="The PACS load balancer model is"):
    return AnsibleFilterError("%s invalid (%d problem%s); no host was changed:\n%s" % (
        what, len(problems), "" if len(problems) == 1 else "s", "\n".join("- " + p for p in problems)))


def service_model(profile_services, user_services=None, vrrp_instances=None, pools=None, groups=None,
                  hostvars=None, balancer_group="balancers", check_script_dirs=sm.DEFAULT_SCRIPT_DIRS,
                  tls_certificates=None, tls_server_ca=None):
    try:
        return sm.build_model(_plain(profile_services), _plain(user_services), _plain(vrrp_instances), _plain(pools),
                              _plain(dict(groups or {})), _plain(_plain_hostvars(hostvars, groups)), str(balancer_group),
                              _plain(check_script_dirs), tls_certificates=_plain(tls_certificates),
                              tls_server_ca=_plain(tls_server_ca))
    except sm.ModelError as exc:
        raise _invalid(exc.problems)


def _profiles(vendors, profile_dir):
    """{vendor: profile services}: the profiles in use loaded from profile_dir, the others named (None)."""
    out = {}
    for entry in sorted(os.listdir(profile_dir)) if os.path.isdir(profile_dir) else []:
        if re.fullmatch(r"[a-z][a-z0-9_]{0,62}\.yml", entry):
            out[entry[:-4]] = None
    for vendor in set(vendors) & set(out):
        with open(os.path.join(profile_dir, vendor + ".yml")) as handle:
            out[vendor] = (yaml.load(handle, Loader=_LOADER) or {}).get("preflight_vendor_services") or []
    return out


def service_models(groups, hostvars, balancer_group="balancers", profile_dir=None):
    """Every cluster's model from the inventory (clusters.py): {clusters, member_of, union}.

    Reads each balancer's pacs_lb_cluster and model inputs from hostvars
    (inventory variables, also of hosts outside --limit) and the vendor
    profiles from profile_dir (roles/preflight/vars/vendors)."""
    groups = _plain(dict(groups or {}))
    balancer_vars = []
    for host in groups.get(str(balancer_group)) or []:
        hv = hostvars.get(host) if hostvars else None
        names = (cl.CLUSTER_VAR,) + cl.INPUT_VARS
        balancer_vars.append((host, _plain(dict((k, hv[k]) for k in names if hv is not None and k in hv))))
    profiles = _profiles([pair[1].get("pacs_lb_vendor", "none") for pair in balancer_vars], str(profile_dir))
    try:
        return cl.build_clusters(balancer_vars, groups, _plain(_plain_hostvars(hostvars, groups)), profiles,
                                 str(balancer_group))
    except sm.ModelError as exc:
        raise _invalid(exc.problems)


def cluster_union(clusters):
    """{cluster: model} -> one model holding every cluster's services, balancers and VRRP instances."""
    return cl.union_model(cl.as_clusters(clusters))


def role_options(values, host="controller"):
    """Check the roles' options set for one host; returns True or fails listing every problem."""
    problems = sm.Problems()
    sm.check_role_options(_plain(values), "host '%s'" % host, problems)
    if problems.items:
        raise _invalid(problems.items, "The roles' options are")
    return True


def inventory_options(hosts, hostvars, balancers, role_specs):
    """Every host's role options, in one call: their safe sets and ranges, and on balancers the options of the
    roles in role_specs ({role: argument spec options}) as Ansible checks a role's arguments. True, or fails
    listing every problem by host and option."""
    problems = sm.Problems()
    balancers = set(balancers or [])
    specs = _plain(role_specs or {})
    for host in hosts:
        values = hostvars[host]
        # only the role prefixes are read: each value is templated on access
        options = _plain(dict((name, values[name]) for name in values if name.startswith(sm.ROLE_OPTION_PREFIXES)))
        where = "host '%s'" % host
        if host in balancers:
            for role in sorted(specs):
                given = dict((name, options[name]) for name in specs[role] if name in options)
                checked = ArgumentSpecValidator(specs[role]).validate(given, validate_role_argument_spec=True)
                for message in checked.error_messages:
                    problems.add(where, "role %s" % role, message)
                    # one message per mistake: Ansible's wording, not the safe-set check's as well
                    options = dict((name, value) for name, value in options.items() if name not in message)
        sm.check_role_options(options, where, problems)
    if problems.items:
        raise _invalid(problems.items, "The roles' options are")
    return True


def render_haproxy(model, on_server_down="keep_sessions"):
    try:
        return sm.render_haproxy(model, str(on_server_down))
    except ValueError as exc:
        raise AnsibleFilterError(str(exc))


class FilterModule(object):
    def filters(self):
        return {
            "service_model": service_model,
            "service_models": service_models,
            "cluster_union": cluster_union,
            "render_haproxy": render_haproxy,
            "role_options": role_options,
            "inventory_options": inventory_options,
            "render_keepalived_virtual_servers": sm.render_keepalived_virtual_servers,
        }
