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


def parse_timing(text):
    """{name: (last_transition, adver_int)}: when each instance entered its state (epoch seconds of the
    keepalived host) and its advert interval in whole seconds (keepalived 2.2.7 writes both)."""
    timing = {}
    for entry in json.loads(text):
        data = entry.get('data', {})
        try:
            timing[data.get('iname')] = (float(data['last_transition']), float(data.get('adver_int') or 0))
        except (KeyError, TypeError, ValueError):
            pass
    return timing


def settled(state, seconds_in_state, advert_int):
    """True for a MASTER, and for a BACKUP that has been one longer than it would take it to become
    MASTER if none advertised (3 adverts and the skew, under one advert): the pair has its MASTER."""
    if state == 'MASTER':
        return True
    return state == 'BACKUP' and seconds_in_state is not None and seconds_in_state > 3 * max(advert_int, 1) + 1


def vrrp_state(dump_text, ip_addr_text, now=None):
    """The module's result: instances with the VIPs this host holds, and the MASTER instances.

    now: the time on the keepalived host (epoch seconds); with it, each instance also gets
    seconds_in_state and settled.
    """
    addresses = parse_ip_addr_json(ip_addr_text)
    instances = parse_json_dump(dump_text)
    timing = parse_timing(dump_text) if now is not None else {}
    for inst in instances:
        inst['vips_held'] = [vip for vip in inst['vips'] if vip in addresses]
        inst['vips_missing'] = [vip for vip in inst['vips'] if vip not in addresses]
        inst['holds_all_vips'] = bool(inst['vips']) and not inst['vips_missing']
        if now is not None:
            last, advert = timing.get(inst['name'], (None, 0))
            inst['seconds_in_state'] = round(now - last, 1) if last else None
            inst['settled'] = settled(inst['state'], inst['seconds_in_state'], advert)
    return {'instances': instances, 'masters': [i['name'] for i in instances if i['state'] == 'MASTER']}
