# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the verify role: what to probe, and the judgement of the results."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import verify_report as vr


def verify_report(model, probes, probe_runs, haproxy=None, vrrp=None, check_mode=False, tls_run=None, warn_days=30,
                  fail_days=7):
    """tls_run: the registered loop of tls_probe over every probe (items without TLS skipped)."""
    tls_results = {}
    for index, result in enumerate((tls_run or {}).get("results") or []):
        if not result.get("skipped"):
            tls_results[index] = result
    return vr.build_report(model, probes, vr.probe_results(probes, probe_runs), haproxy or {}, vrrp or {}, check_mode,
                           tls_results, int(warn_days), int(fail_days))


class FilterModule(object):
    def filters(self):
        return {
            "verify_probes": vr.verify_probes,
            "verify_report": verify_report,
        }
