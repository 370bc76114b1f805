# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for keepalived's JSON state dump and ``ip -j addr``.

Standard library only: this file is shipped to the balancers with the modules.

Facts this code relies on, observed on keepalived 2.2.7 (Debian 12):

* ``keepalived --signum=JSON`` prints the signal number (36). Sent to the
  parent or to the VRRP process, it makes the VRRP process rewrite
  ``/tmp/keepalived.json`` (mode 0600): a list with one
  ``{"data": {...}, "stats": {...}}`` per vrrp_instance.
* ``data.state`` is a number: 0 INIT, 1 BACKUP, 2 MASTER, 3 FAULT, 98 STOP.
* ``data.vips`` and ``data.evips`` (virtual_ipaddress_excluded, absent when
  there are none) are strings such as
  ``198.18.48.10/24 dev veth-a scope global set``; the address comes first.
* The dump says nothing about addresses added by anyone else, so which VIPs
  this host holds is read from ``ip -j addr``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress
import json

VRRP_STATES = {0: 'INIT', 1: 'BACKUP', 2: 'MASTER', 3: 'FAULT', 97: 'DELETED', 98: 'STOP'}


def normalise_ip(text):
    """One spelling per address (IPv6 compressed, lower case)."""
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return text


def vip_address(spec):
    """The address of one VIP string of the dump, without prefix."""
    return normalise_ip(spec.split()[0].partition('/')[0])


def parse_json_dump(text):
    """[{name, state, vips}] from the JSON dump; vips include the excluded ones."""
    instances = []
    for entry in json.loads(text):
        data = entry.get('data', {})
        vips = []
        for spec in data.get('vips', []) + data.get('evips', []):
            if vip_address(spec) not in vips:
                vips.append(vip_address(spec))
        instances.append({
            'name': data.get('iname'),
            'state': VRRP_STATES.get(data.get('state'), 'unknown'),
            'vips': vips,
        })
    return instances


def parse_ip_addr_json(text):
    """Every address configured on this host, from ``ip -j addr``."""
    return set(normalise_ip(info['local'])
               for link in json.loads(text or '[]')
               for info in link.get('addr_info', []) if 'local' in info)


def vrrp_state(dump_text, ip_addr_text):
    """The module's result: instances with the VIPs this host holds, and the MASTER instances."""
    addresses = parse_ip_addr_json(ip_addr_text)
    instances = parse_json_dump(dump_text)
    for inst in instances:
        inst['vips_held'] = [vip for vip in inst['vips'] if vip in addresses]
        inst['vips_missing'] = [vip for vip in inst['vips'] if vip not in addresses]
        inst['holds_all_vips'] = bool(inst['vips']) and not inst['vips_missing']
    return {'instances': instances, 'masters': [i['name'] for i in instances if i['state'] == 'MASTER']}
