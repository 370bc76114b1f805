# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters behind the verify role: what to probe, and the judgement of the results."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import verify_report as vr


def verify_report(model, probes, probed, haproxy=None, vrrp=None, check_mode=False, warn_days=30, fail_days=7,
                  ipvs=None):
    """probed: the registered loop of vip_probes over verify_probe_batches."""
    results, tls_results = vr.batch_results(probes, probed)
    return vr.build_report(model, probes, results, haproxy or {}, vrrp or {}, check_mode, tls_results,
                           int(warn_days), int(fail_days), ipvs or {})


class FilterModule(object):
    def filters(self):
        return {
            "verify_probes": vr.verify_probes,
            "verify_probe_batches": vr.probe_batches,
            "verify_report": verify_report,
        }
