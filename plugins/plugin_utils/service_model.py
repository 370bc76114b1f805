# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The service model: vendor profile + user services -> one validated model,
and the renderers' view of it.

The schema of every input is declared in model_schema.py, the rules that
span several fields are in model_validation.py, and the HAProxy and
keepalived sections are made in render_haproxy.py and render_keepalived.py.
This module is the one import the filters, modules and tests use.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

# pylint: disable=unused-import
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_validation import (  # noqa: F401
    DEFAULT_SCRIPT_DIRS, IPVS_MAX_PORTS, MODES, NAME_RE, ModelError, build_model, format_ports, merge_services,
    parse_ports)
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.model_schema import (  # noqa: F401
    NAME, ROLE_OPTION_PREFIXES, Problems, check_role_options)
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.render_haproxy import (  # noqa: F401
    HAPROXY_MAX_BIND_PORTS, ON_SERVER_DOWN, haproxy_check_lines, render_haproxy)
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils.render_keepalived import (  # noqa: F401
    render_keepalived_virtual_servers)
