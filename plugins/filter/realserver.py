# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the realserver_linux and realserver_windows roles."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

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
            "realserver_nat_routes": _wrap(rs.nat_routes_for_host),
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
