#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
---
module: write_files
short_description: Put several files in place in one call, each checked by its own command before any replaces a live file
version_added: 0.3.0
description:
  - One round trip for every file a role writes, instead of one C(template) or C(copy) task per file. The content
    comes from the controller (the role renders its templates there).
  - Each file that differs, in the order given, is written next to its destination with its mode and owner, checked
    by its O(files[].validate) command, and only then moved in place (atomically), as one C(template) task per file
    would. A failed check stops there (that file and the ones after it stay as they were); the message names the
    file. A failed check leaves every live
    file as it was.
  - A file whose content is as wanted but whose mode or owner differs is only changed in mode or owner.
  - Parent directories that do not exist are created (mode C(0755), owned by the user the module runs as).
  - Supports check mode and diff mode (one diff per file; none for a file marked O(files[].secret)).
author:
  - medimaging.pacs_lb contributors (@medimaging)
options:
  files:
    description:
      - The files, in the order they are put in place. A file whose check needs another file (a configuration naming
        a script) comes after it.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path of the file.
        type: path
        required: true
      content:
        description: The whole content of the file.
        type: str
        required: true
      mode:
        description: Permissions as four octal digits, such as C(0644).
        type: str
        required: true
      owner:
        description: Owner (user name). Without it, a new file belongs to the user the module runs as, and an
          existing file keeps its owner.
        type: str
      group:
        description: Group name. Without it, a new file gets the group the module runs with, and an existing file
          keeps its group.
        type: str
      validate:
        description:
          - Argument vector of the command that checks the new file before it replaces the live one, run without a
            shell. C(%s) in an argument is replaced by the new file's path. It must exit 0.
        type: list
        elements: str
      secret:
        description: The content is not shown in a diff.
        type: bool
        default: false
notes:
  - The roles of this collection compare their files with the one C(medimaging.pacs_lb.host_state) read first, and
    call this module with only the files that differ, so that a run with nothing to change does not reach the host.
"""

EXAMPLES = r"""
- name: Write the files of the role that differ from the model
  medimaging.pacs_lb.write_files:
    files:
      - path: /etc/haproxy/haproxy.cfg
        content: "{{ lookup('ansible.builtin.template', 'haproxy.cfg.j2') }}"
        mode: "0644"
        validate: [haproxy, -c, -f, "%s"]
      - path: /usr/local/sbin/route-quickack
        content: "{{ lookup('ansible.builtin.file', 'route-quickack', rstrip=false) }}"
        mode: "0755"
  register: written
  notify: Reload haproxy
"""

RETURN = r"""
written:
  description: The paths whose content, mode or owner changed (or would change, in check mode), in the order given.
  returned: always
  type: list
  elements: str
  sample: [/etc/haproxy/haproxy.cfg]
"""

import grp
import hashlib
import os
import pwd
import tempfile

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_bytes, to_native

MAX_DIFF = 262144


def current(path):
    """(bytes or None, os.stat_result or None) of path as it is."""
    try:
        info = os.stat(path)
    except OSError:
        return None, None
    try:
        with open(path, 'rb') as handle:
            return handle.read(), info
    except (IOError, OSError):
        return None, info


def ids(module, spec):
    """(uid, gid) asked for; None where the file is to keep (or get) the module's own."""
    try:
        return (pwd.getpwnam(spec['owner']).pw_uid if spec['owner'] else None,
                grp.getgrnam(spec['group']).gr_gid if spec['group'] else None)
    except KeyError:
        module.fail_json(msg='%s: no such owner %r or group %r on this host'
                         % (spec['path'], spec['owner'], spec['group']))


def mode_of(module, spec):
    try:
        mode = int(spec['mode'], 8)
    except (TypeError, ValueError):
        mode = -1
    if not 0 <= mode <= 0o7777:
        module.fail_json(msg='%s: mode %r is not four octal digits' % (spec['path'], spec['mode']))
    return mode


def plan(module, spec):
    """What differs for one file: {'content': bool, 'attributes': bool, 'before': bytes or None, ...}."""
    if not os.path.isabs(spec['path']):
        module.fail_json(msg='%s: the path must be absolute' % spec['path'])
    data = to_bytes(spec['content'], errors='surrogate_or_strict')
    before, info = current(spec['path'])
    uid, gid = ids(module, spec)
    mode = mode_of(module, spec)
    content = before is None or hashlib.sha1(before).digest() != hashlib.sha1(data).digest()
    attributes = info is None or (info.st_mode & 0o7777) != mode or uid not in (None, info.st_uid) \
        or gid not in (None, info.st_gid)
    return {'spec': spec, 'data': data, 'before': before, 'exists': info is not None, 'uid': uid, 'gid': gid,
            'mode': mode, 'content': content, 'attributes': attributes}


def diff_of(entry):
    path = entry['spec']['path']
    if entry['spec']['secret']:
        return {'before_header': path, 'after_header': path,
                'before': '(secret, not shown)\n' if entry['exists'] else '', 'after': '(secret, not shown)\n'}
    before = entry['before'] or b''
    return {'before_header': path, 'after_header': path,
            'before': to_native(before[:MAX_DIFF], errors='surrogate_then_replace') if entry['exists'] else '',
            'after': to_native(entry['data'][:MAX_DIFF], errors='surrogate_then_replace')}


def make_parents(path):
    parent = os.path.dirname(path)
    missing = []
    while parent and not os.path.isdir(parent):
        missing.append(parent)
        parent = os.path.dirname(parent)
    # owned by the user the module runs as: root on a balancer (become), the job's user for verify's reports
    for directory in reversed(missing):
        os.mkdir(directory, 0o755)


def stage(entry):
    """Write the new content beside the destination; return the staged path."""
    path = entry['spec']['path']
    make_parents(path)
    handle, staged = tempfile.mkstemp(prefix='.%s.' % os.path.basename(path), dir=os.path.dirname(path))
    try:
        os.write(handle, entry['data'])
        os.fchmod(handle, entry['mode'])
        os.fchown(handle, -1 if entry['uid'] is None else entry['uid'], -1 if entry['gid'] is None else entry['gid'])
        os.fsync(handle)
    finally:
        os.close(handle)
    return staged


def check(module, entry, staged):
    argv = [arg.replace('%s', staged) for arg in entry['spec']['validate'] or []]
    if not argv:
        return None
    rc, out, err = module.run_command(argv)
    if rc != 0:
        return '%s: the new file failed its check (%s, exit %d): %s' % (
            entry['spec']['path'], ' '.join(entry['spec']['validate']), rc, (err or out).strip())
    return None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            files=dict(type='list', elements='dict', required=True, options=dict(
                path=dict(type='path', required=True),
                content=dict(type='str', required=True),
                mode=dict(type='str', required=True),
                owner=dict(type='str'),
                group=dict(type='str'),
                validate=dict(type='list', elements='str'),
                secret=dict(type='bool', default=False),
            )),
        ),
        supports_check_mode=True,
    )
    entries = [plan(module, spec) for spec in module.params['files']]
    paths = [entry['spec']['path'] for entry in entries]
    if len(set(paths)) != len(paths):
        module.fail_json(msg='a path is given twice: %s' % ', '.join(sorted(set(p for p in paths if paths.count(p) > 1))))
    changing = [entry for entry in entries if entry['content'] or entry['attributes']]
    result = {'changed': bool(changing), 'written': [entry['spec']['path'] for entry in changing]}
    if module._diff:
        result['diff'] = [diff_of(entry) for entry in changing if entry['content']]
    if module.check_mode or not changing:
        module.exit_json(**result)

    for done, entry in enumerate(changing):
        path = entry['spec']['path']
        try:
            if entry['content']:
                staged = stage(entry)
                try:
                    failure = check(module, entry, staged)
                    if failure:
                        module.fail_json(msg=failure, written=result['written'][:done])
                    # staged with its mode and owner: a key is never readable by others, even for a moment
                    os.rename(staged, path)
                finally:
                    if os.path.exists(staged):
                        os.unlink(staged)
            else:
                os.chmod(path, entry['mode'])
                os.chown(path, -1 if entry['uid'] is None else entry['uid'], -1 if entry['gid'] is None else entry['gid'])
        except (IOError, OSError) as error:
            module.fail_json(msg='%s: %s' % (path, to_native(error)))
    module.exit_json(**result)


if __name__ == '__main__':
    main()
