# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the haproxy and keepalived roles compare after their one read of a host (host_state)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible.errors import AnsibleFilterError
from ansible.module_utils.common.text.converters import to_bytes


def files_to_write(files, stat):
    """The files (path, content, mode, validate; owner and group root) whose content, mode or root ownership
    differs from stat."""
    stat = stat or {}
    differ = []
    for entry in files or []:
        try:
            path, content, mode = entry["path"], entry["content"], entry["mode"]
        except (KeyError, TypeError):
            raise AnsibleFilterError("files_to_write: each file needs path, content and mode, got %r" % (entry,))
        wanted = {"sha1": hashlib.sha1(to_bytes(content, errors="surrogate_or_strict")).hexdigest(), "mode": mode,
                  "uid": 0, "gid": 0, "isdir": False}
        if stat.get(path) != wanted:
            differ.append(dict([(key, entry[key]) for key in ("path", "content", "mode", "validate") if key in entry]
                               + [("owner", "root"), ("group", "root")]))
    return differ


def service_as_wanted(host, name, enabled, running):
    """Whether the daemon starts at boot and runs, from a host_state result.

    enabled and running are the indexes of its commands [systemctl, is-enabled, name] and
    [pgrep, -f, ^/usr/sbin/name]; without systemd the runlevel 2 link (dirs['/etc/rc2.d']) says whether it starts.
    """
    try:
        commands = host["commands"]
        runs, unit_enabled = commands[running]["rc"] == 0, commands[enabled]["rc"] == 0
    except (KeyError, IndexError, TypeError):
        raise AnsibleFilterError("service_as_wanted: %r is not a host_state result with commands %d and %d"
                                 % (name, enabled, running))
    if "/run/systemd/system" in (host.get("paths") or []):
        return runs and unit_enabled
    link = re.compile(r"^S[0-9]{2}%s$" % re.escape(name))
    return runs and any(link.match(entry) for entry in (host.get("dirs") or {}).get("/etc/rc2.d") or [])


class FilterModule(object):
    def filters(self):
        return {
            "files_to_write": files_to_write,
            "service_as_wanted": service_as_wanted,
        }
