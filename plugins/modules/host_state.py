#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: host_state
short_description: Read what a role adapts to on a host in one call (packages, paths, small files, read-only commands)
version_added: 0.2.0
description:
  - One round trip instead of one task per question. It reads which Debian packages are installed, which paths exist,
    the text of small files (such as C(/proc/sys) values) and the result of read-only commands.
  - Read-only. Never reports a change, and runs in check mode too.
  - The C(haproxy) role reads a balancer with it before anything is changed.
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  packages:
    description:
      - Debian package names. Their installed versions are read with C(dpkg-query).
      - A name that is not an installed package (or a pattern such as C(haproxy=2.6*)) is reported as not installed.
    type: list
    elements: str
    default: []
  paths:
    description: Paths whose existence is reported.
    type: list
    elements: path
    default: []
  files:
    description: Small text files to read (up to 64 KiB each). A file that cannot be read is reported as null.
    type: list
    elements: path
    default: []
  stat:
    description:
      - Paths whose SHA-1 checksum (regular files), mode, owner and group are reported, so that a role can skip
        a copy whose file is already as wanted (no round trip per file).
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  dirs:
    description: Directories whose entries are listed, so that a role can remove the files it no longer writes.
    type: list
    elements: path
    default: []
    version_added: 0.2.0
  commands:
    description:
      - Read-only commands, each an argument vector, run without a shell.
      - A command whose executable is missing returns C(rc) 127; the module does not fail on any exit status.
    type: list
    elements: list
    default: []
notes:
  - C(dpkg-query) only on Debian-like hosts; elsewhere every package is reported as not installed.
"""

EXAMPLES = r"""
- name: Read the balancer
  medimaging.pacs_lb.host_state:
    packages: [haproxy, nftables]
    paths: [/run/systemd/system, /etc/network/if-up.d]
    files: [/proc/sys/net/ipv4/ip_nonlocal_bind]
    commands:
      - [nft, list, table, inet, pacs_lb_haproxy]
  register: host

- name: Install HAProxy only where it is missing
  ansible.builtin.apt:
    name: haproxy
  when: host.packages.haproxy is none
"""

RETURN = r"""
packages:
  description: Each package asked for, with its installed version, or null when it is not installed.
  returned: always
  type: dict
  sample: {"haproxy": "2.6.12-1+deb12u1", "nftables": null}
paths:
  description: The paths asked for that exist, in the order asked.
  returned: always
  type: list
  elements: str
  sample: [/run/systemd/system]
files:
  description: Each file asked for, with its text, or null when it cannot be read.
  returned: always
  type: dict
  sample: {"/proc/sys/net/ipv4/ip_nonlocal_bind": "1\n"}
stat:
  description:
    - Each path asked for in O(stat), with C(sha1) (null unless a regular file), C(mode) (four octal digits),
      C(uid), C(gid) and C(isdir), or null when it does not exist.
  returned: always
  type: dict
  sample: {"/etc/haproxy/pacs_lb_tls/vip.pem": {"sha1": "0b8c...", "mode": "0600", "uid": 0, "gid": 0, "isdir": false}}
dirs:
  description: Each directory asked for in O(dirs), with the names of its entries (sorted), or null when it is not a
    readable directory.
  returned: always
  type: dict
  sample: {"/etc/haproxy/pacs_lb_tls": ["lab_ca.ca.pem", "lab_vip.pem"]}
commands:
  description: One result per command, in the order asked.
  returned: always
  type: list
  elements: dict
  contains:
    argv:
      description: The command.
      type: list
      elements: str
    rc:
      description: Exit status (127 when the executable is missing).
      type: int
    stdout:
      description: Standard output.
      type: str
    stderr:
      description: Standard error.
      type: str
"""

import hashlib
import os
import stat as stat_mod

from ansible.module_utils.basic import AnsibleModule

MAX_FILE = 65536


def installed_packages(module, names):
    """{name: version or None}: one dpkg-query for every name."""
    result = dict((name, None) for name in names)
    dpkg = module.get_bin_path('dpkg-query')
    if not names or not dpkg:
        return result
    # Unknown names make dpkg-query exit 1 but still print the known ones.
    rc, out, err = module.run_command([dpkg, '-W', '-f', '${Package}\\t${db:Status-Abbrev}\\t${Version}\\n', '--']
                                      + list(names))
    for line in out.splitlines():
        fields = line.split('\t')
        if len(fields) == 3 and fields[0] in result and fields[1].startswith('ii'):
            result[fields[0]] = fields[2]
    return result


def read_file(path):
    try:
        with open(path, 'rb') as handle:
            return handle.read(MAX_FILE).decode('utf-8', 'replace')
    except (IOError, OSError):
        return None


def stat_path(path):
    """{sha1, mode, uid, gid, isdir} of path (not following a final symlink), or None."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    digest = None
    if stat_mod.S_ISREG(info.st_mode):
        sha1 = hashlib.sha1()
        try:
            with open(path, 'rb') as handle:
                for chunk in iter(lambda: handle.read(65536), b''):
                    sha1.update(chunk)
            digest = sha1.hexdigest()
        except (IOError, OSError):
            digest = None
    return {'sha1': digest, 'mode': '%04o' % stat_mod.S_IMODE(info.st_mode), 'uid': info.st_uid, 'gid': info.st_gid,
            'isdir': stat_mod.S_ISDIR(info.st_mode)}


def list_dir(path):
    try:
        return sorted(os.listdir(path)) if os.path.isdir(path) else None
    except OSError:
        return None


def run(module, argv):
    argv = [str(arg) for arg in argv]
    if not argv:
        module.fail_json(msg='an empty command')
    executable = argv[0] if os.path.isabs(argv[0]) else module.get_bin_path(argv[0])
    if not executable or not os.access(executable, os.X_OK):
        return {'argv': argv, 'rc': 127, 'stdout': '', 'stderr': '%s: not found' % argv[0]}
    rc, out, err = module.run_command([executable] + argv[1:])
    return {'argv': argv, 'rc': rc, 'stdout': out, 'stderr': err}


def main():
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type='list', elements='str', default=[]),
            paths=dict(type='list', elements='path', default=[]),
            files=dict(type='list', elements='path', default=[]),
            stat=dict(type='list', elements='path', default=[]),
            dirs=dict(type='list', elements='path', default=[]),
            commands=dict(type='list', elements='list', default=[]),
        ),
        supports_check_mode=True,
    )
    params = module.params
    module.exit_json(
        changed=False,
        packages=installed_packages(module, params['packages']),
        paths=[path for path in params['paths'] if os.path.lexists(path)],
        files=dict((path, read_file(path)) for path in params['files']),
        stat=dict((path, stat_path(path)) for path in params['stat']),
        dirs=dict((path, list_dir(path)) for path in params['dirs']),
        commands=[run(module, argv) for argv in params['commands']],
    )


if __name__ == '__main__':
    main()
