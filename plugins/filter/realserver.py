# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the realserver roles: what the model gives a real server (the Linux plan runs on the host)."""

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
            "dr_windows_firewall_rules": _wrap(rs.windows_firewall_rules),
        }
