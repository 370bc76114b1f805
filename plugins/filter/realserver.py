# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the realserver_linux and realserver_windows roles."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: dr_vips_for_host
short_description: The Layer 4 DR VIPs (and their ports) a real server must accept
version_added: 0.2.0
description:
  - From the normalized model built by the preflight role, returns one entry per VIP of every C(l4_dr) service whose
    pool includes the host, with the ports of all services on that VIP merged.
  - A server matches by name (the inventory hostname when the pool is an inventory group) or, for services with an
    explicit C(servers) list, by one of O(addresses).
  - Companion filters used by the roles are C(dr_pool_members), C(dr_sysctls), C(dr_linux_plan), C(dr_nft_input_chains),
    C(dr_nft_rules), C(dr_nft_owned_rules), C(dr_nft_plan), C(dr_firewalld_rich_rules), C(dr_windows_firewall_rules),
    C(dr_parse_proc_values), C(dr_parse_host_state), C(dr_lo_ipv4_addresses) and C(dr_interface_with_address);
    see plugins/plugin_utils/realserver.py.
options:
  _input:
    description: The model (C(pacs_lb_model)).
    type: dict
    required: true
  host:
    description: The inventory hostname of the real server.
    type: str
    required: true
  addresses:
    description: Addresses of the host, to match servers listed by address.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: DR VIPs of this host
  ansible.builtin.set_fact:
    dr_vips: "{{ pacs_lb_model | medimaging.pacs_lb.dr_vips_for_host(inventory_hostname, [pacs_lb_address]) }}"
"""

RETURN = r"""
_value:
  description:
    - List sorted by address, each with C(vip), C(version), C(prefixlen) (32 or 128), C(ports) (list of [first, last]),
      C(port_spec) (such as C(104,4000-4010)), C(services) (names) and C(server_address) (the host's address in the pool).
  type: list
  elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import realserver as rs


def _wrap(func):
    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except (ValueError, KeyError, TypeError) as exc:
            raise AnsibleFilterError("%s: %s" % (func.__name__, exc))
    run.__name__ = func.__name__
    return run


class FilterModule(object):
    def filters(self):
        return {
            "dr_vips_for_host": _wrap(rs.dr_vips_for_host),
            "dr_pool_members": _wrap(rs.dr_pool_members),
            "dr_sysctls": _wrap(rs.dr_sysctls),
            "dr_linux_plan": _wrap(rs.linux_plan),
            "dr_parse_proc_values": _wrap(rs.parse_proc_values),
            "dr_parse_host_state": _wrap(rs.parse_host_state),
            "dr_lo_ipv4_addresses": _wrap(rs.lo_ipv4_addresses),
            "dr_interface_with_address": _wrap(rs.interface_with_address),
            "dr_nft_input_chains": _wrap(rs.nft_input_chains),
            "dr_nft_rules": _wrap(rs.nft_rules),
            "dr_nft_owned_rules": _wrap(rs.nft_owned_rules),
            "dr_nft_plan": _wrap(rs.nft_plan),
            "dr_firewalld_rich_rules": _wrap(rs.firewalld_rich_rules),
            "dr_windows_firewall_rules": _wrap(rs.windows_firewall_rules),
        }
