# -*- coding: utf-8 -*-
# Copyright: (c) 2026, medimaging.pacs_lb contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declared schema of every user input, and the checker that applies it.

One declaration per field: type, choices, pattern, range, default, which
modes or check types use it, and the description that the documentation is
generated from (docs/service-model.md and the preflight role's argument
specs; tests/unit/test_model_schema.py keeps both in step). Rules that span
several fields live in model_validation.py.

Every pattern here is a safe set for the file or command the value ends in
(haproxy.cfg, keepalived.conf, an nft command, a shell script): no
whitespace, quotes, comment or expansion characters unless the renderer
quotes the value for that consumer.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import difflib
import re

MODES = ("l7", "l4_snat", "l4_dr", "l4_nat")
PROXIED_MODES = ("l7", "l4_snat")
IPVS_MODES = ("l4_dr", "l4_nat")
PROTOCOLS = ("tcp", "dicom", "dicom_tls", "hl7", "hl7_tls", "http", "https")
SCHEDULER_NAMES = ("roundrobin", "weighted_roundrobin", "leastconn", "weighted_leastconn", "source_hash", "first")
PERSISTENCE = ("none", "source_ip", "cookie_source_ip", "last_successful")
CHECKS = ("connect", "http", "http_head", "https", "external", "icmp", "dicom", "hl7", "none")

# Safe sets. Each is matched against the whole value (re.fullmatch), so a
# trailing newline never slips through as it would with "$".
NAME = r"[A-Za-z][A-Za-z0-9_.-]{0,62}"
# An absolute path of plain characters: no space, quote, "$", "#", "!" or
# backslash, so it is one word for HAProxy, keepalived, nft and sh alike.
SAFE_PATH = r"(/[A-Za-z0-9_.+-]+)+/?"
# URL path for a health check or a route: RFC 3986 path characters minus
# those HAProxy or keepalived would read specially ($ ' ( ) * ; ! #).
URL_PATH = r"/[A-Za-z0-9._~%/:@=+,&?-]*"
HOST_HEADER = r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?"
HOST_MATCH = r"[A-Za-z0-9*.-]{1,253}"
STATUS = r"[1-5][0-9]{2}(-[1-5][0-9]{2})?"
COOKIE = r"[A-Za-z0-9_-]{1,32}"
INTERFACE = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}"
HOSTNAME = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}"
HAPROXY_TIME = r"[0-9]{1,10}(us|ms|s|m|h|d)?"
NFT_NAME = r"[A-Za-z][A-Za-z0-9_]{0,31}"
WINDOWS_NAME = r"[A-Za-z0-9_][A-Za-z0-9 _.()-]{0,255}"
WINDOWS_PATH = r"[A-Za-z]:\\[^\x00-\x1f\x7f\"*?<>|]{0,250}"
NFT_CHAIN = r"(inet|ip|ip6) [A-Za-z][A-Za-z0-9_-]{0,31} [A-Za-z][A-Za-z0-9_-]{0,31}"
# A certificate or CA: the name of an entry of pacs_lb_tls_certificates, or
# an absolute path already on the balancers.
TLS_REF = r"%s|%s" % (NAME, SAFE_PATH)
TLS_REF_HINT = "the name of an entry of pacs_lb_tls_certificates, or an absolute path on the balancers"
# A DNS name (SNI, a name a certificate must cover) or an IP address.
DNS_NAME = r"[A-Za-z0-9*][A-Za-z0-9.:-]{0,252}"
TLS_VERSIONS = ("TLSv1.2", "TLSv1.3")

# keepalived's checker timers end at 4294 s (its --config-test refuses more);
# one hour is far beyond any useful check interval or timeout.
CHECK_MS_MAX = 3600000
# The largest HAProxy stick-table expiry (ms in a signed 32-bit int) in seconds.
EXPIRE_S_MAX = 2147483

NOTSET = object()


def field(ftype, description, default=NOTSET, choices=None, pattern=None, hint=None, minimum=None, maximum=None,
          schema=None, used_by=None, used_by_field=None, required=False, empty_ok=False, doc_type=None):
    """One field. used_by restricts the field to some values of used_by_field
    (mode for a service, type for a check): anywhere else it is rejected
    instead of being silently ignored."""
    return {
        "type": ftype, "description": description, "default": default, "choices": choices,
        "pattern": pattern, "hint": hint, "min": minimum, "max": maximum, "schema": schema,
        "used_by": used_by, "used_by_field": used_by_field, "required": required, "empty_ok": empty_ok,
        "doc_type": doc_type,
    }


def _http(desc, **kw):
    return field(used_by=("http", "http_head", "https"), used_by_field="type", description=desc, **kw)


CHECK = {
    "type": field("str", "Check type (see the table of checks).", default="connect", choices=CHECKS),
    "port": field("int", "Port to check instead of the server's port.", minimum=1, maximum=65535,
                  used_by=("connect", "http", "http_head", "https", "dicom", "hl7"), used_by_field="type"),
    "path": _http("URL path requested.", ftype="str", default="/", pattern=URL_PATH,
                  hint="a URL path starting with / of letters, digits and . _ ~ % / : @ = + , & ? -"),
    "host": _http("Host header (HAProxy; defaults to the VIP).", ftype="str", pattern=HOST_HEADER,
                  hint="a host name or [IPv6], optionally with :port"),
    "status": _http("Accepted status code or range.", ftype="str", default="200-399", pattern=STATUS,
                    hint="a status code or range such as 200-399"),
    "script": field("str", "Absolute path of the check script (external checks); it must lie in a directory of "
                    "pacs_lb_check_script_dirs.", pattern=SAFE_PATH, hint="an absolute path of letters, digits and "
                    "/ . _ + -", used_by=("external",), used_by_field="type"),
    "called_ae": field("str", "Called AE title of the C-ECHO (DICOM PS3.5 VR AE).", default="ANY-SCP",
                       used_by=("dicom",), used_by_field="type", doc_type="AE title"),
    "calling_ae": field("str", "Calling AE title of the C-ECHO.", default="LBCHECK",
                        used_by=("dicom",), used_by_field="type", doc_type="AE title"),
    "message": field("hl7", "HL7 v2 test message, segments separated by CR (HAProxy checks only).",
                     used_by=("hl7",), used_by_field="type"),
    "interval": field("int", "Milliseconds between checks.", default=2000, minimum=100, maximum=CHECK_MS_MAX),
    "fall": field("int", "Failed checks, one interval apart, before a server is DOWN (in keepalived: retry fall - 1, "
                  "delay_before_retry the interval).", default=3, minimum=1, maximum=1000),
    "rise": field("int", "Passed checks before a server is UP again.", default=2, minimum=1, maximum=1000),
    "timeout": field("int", "Milliseconds a check may take (HAProxy gives an external or ICMP check's "
                     "program the interval instead).", default=5000, minimum=100, maximum=CHECK_MS_MAX),
}

SERVER = {
    "name": field("str", "Server name in haproxy.cfg (default srvN).", pattern=NAME, hint="letters, digits, _ . -"),
    "address": field("str", "IPv4 or IPv6 address.", required=True, doc_type="IP address"),
    "port": field("int", "Port on the server (default: the port the client used).", minimum=1, maximum=65535),
    "weight": field("int", "Weight.", default=100, minimum=0, maximum=256),
    "backup": field("bool", "Used only when no other server is up.", default=False),
}

PORTS_DOC = "104, '80,443', '4000-4010', a list of these, or {all_except: [20000]}"

PORT_GROUP = {
    "name": field("str", "Group name; frontend and backend become <service>_<name>.", required=True,
                  pattern=NAME, hint="letters, digits, _ . -"),
    "ports": field("ports", "VIP ports of the group.", required=True, doc_type=PORTS_DOC),
    "check": field("check", "Check of this group (default: the service's).", schema=CHECK),
    "server_port": field("int", "Port translation for this group.", minimum=1, maximum=65535),
    "vip": field("str", "Another VIP for this group (default: the service's).", doc_type="IP address"),
}

ROUTE = {
    "name": field("str", "Route name (default routeN); backend be_<service>_<name>.", pattern=NAME,
                  hint="letters, digits, _ . -"),
    "called_ae": field("str", "Match the called AE title (protocol dicom).", doc_type="AE title"),
    "calling_ae": field("str", "Match the calling AE title (protocol dicom).", doc_type="AE title"),
    "path_prefix": field("str", "Match a URL path prefix (HTTP).", pattern=URL_PATH,
                         hint="a URL path starting with / of letters, digits and . _ ~ % / : @ = + , & ? -"),
    "host": field("str", "Match the Host header (HTTP).", pattern=HOST_MATCH, hint="a host name (* allowed)"),
    "pool": field("str", "Pool name or inventory group of the route's servers.", pattern=NAME,
                  hint="letters, digits, _ . -"),
    "servers": field("list", "Explicit servers of the route.", schema=SERVER),
    "scheduler": field("str", "Scheduler (default: the service's).", choices=SCHEDULER_NAMES),
    "check": field("check", "Check (default: the service's).", schema=CHECK),
    "server_port": field("int", "Port translation.", minimum=1, maximum=65535),
    "server_tls": field("bool", "TLS to the servers (default: the service's)."),
}

SERVICE = {
    "name": field("str", "As the vendor guide names it.", required=True, pattern=NAME,
                  hint="letters, digits, _ . -; no spaces, quotes or newlines"),
    "description": field("str", "Shown in haproxy.cfg (one single-quoted argument: quotes, # and $ are kept as "
                         "written; no control characters)."),
    "enabled": field("bool", "false drops a profile service.", default=True),
    "vip": field("str", "The service's address, floating by VRRP; a profile service takes it from the user's entry.",
                 required=True, doc_type="IP address"),
    "ports": field("ports", "VIP ports.", doc_type=PORTS_DOC),
    "server_port": field("int", "Port translation; not with l4_dr; needs exactly one VIP port.", minimum=1,
                         maximum=65535),
    "mode": field("str", "l7, l4_snat (HAProxy); l4_dr, l4_nat (IPVS in keepalived).", default="l7", choices=MODES),
    "protocol": field("str", "http (or https with tls_certificate) is HAProxy mode http.", default="tcp",
                      choices=PROTOCOLS),
    "scheduler": field("str", "HAProxy balance / IPVS lb_algo.", default="roundrobin", choices=SCHEDULER_NAMES),
    "persistence": field("str", "See Persistence.", default="none", choices=PERSISTENCE),
    "persistence_timeout": field("int", "Seconds: stick-table expiry / IPVS persistence_timeout.", default=1800,
                                 minimum=1, maximum=EXPIRE_S_MAX),
    "check": field("check", "A check type, or a mapping (see Health checks).", default="connect", schema=CHECK),
    "failover": field("bool", "The first server takes everything; the others only when it fails.", default=False),
    "pool": field("str", "Pool name (pacs_lb_pools) or inventory group.", pattern=NAME,
                  hint="letters, digits, _ . -"),
    "servers": field("list", "Explicit servers instead of a pool.", schema=SERVER),
    "port_groups": field("list", "Several ports of one VIP, each with its own check.", schema=PORT_GROUP),
    "routes": field("list", "Content routing to another pool.", schema=ROUTE),
    "forwardfor": field("bool", "X-Forwarded-For (HTTP only).", default=False, used_by=("l7",), used_by_field="mode"),
    "tls_certificate": field("str", "TLS termination on the balancers with this certificate: the name of an entry "
                             "of pacs_lb_tls_certificates (deployed by the haproxy role), or a combined PEM (certificate, "
                             "chain, key) already on the balancers.", pattern=TLS_REF, hint=TLS_REF_HINT,
                             used_by=("l7",), used_by_field="mode"),
    "tls_min_version": field("str", "Lowest TLS version the terminated VIP accepts (default TLSv1.2).",
                             choices=TLS_VERSIONS, used_by=("l7",), used_by_field="mode"),
    "tls_client_ca": field("str", "Mutual TLS: clients must present a certificate issued by this CA (an entry of "
                           "pacs_lb_tls_certificates without key, or a CA file on the balancers).", pattern=TLS_REF,
                           hint=TLS_REF_HINT, used_by=("l7",), used_by_field="mode"),
    "hsts_max_age": field("int", "Strict-Transport-Security max-age in seconds on a terminated HTTP portal (0: no "
                          "header).", minimum=0, maximum=63072000, used_by=("l7",), used_by_field="mode"),
    "http_redirect_port": field("int", "A plain HTTP port on the VIP that redirects to HTTPS (a terminated HTTP "
                                "portal).", minimum=1, maximum=65535, used_by=("l7",), used_by_field="mode"),
    "server_tls": field("bool", "HAProxy speaks TLS to the real servers.", default=False,
                        used_by=PROXIED_MODES, used_by_field="mode"),
    "server_ca": field("str", "CA that the real servers' certificates are verified against (server_tls, https "
                       "checks, DICOM/HL7 TLS checks; in l4_dr/l4_nat keepalived's checks through the collection's "
                       "check script); default pacs_lb_tls_server_ca.", pattern=TLS_REF, hint=TLS_REF_HINT),
    "server_verify": field("bool", "Verify the real servers' certificates (default true). false is an explicit "
                           "opt-out (verify none; keepalived's SSL_GET for an https check in l4_dr/l4_nat), which "
                           "verify reports as a warning."),
    "server_name": field("str", "Name sent as SNI to the real servers and required in their certificates "
                         "(default: no SNI, the chain alone is verified).", pattern=r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}",
                         hint="a DNS name"),
    "cookie_name": field("str", "Cookie of cookie_source_ip.", default="PACSLB", pattern=COOKIE,
                         hint="1-32 letters, digits, _ -", used_by=("l7",), used_by_field="mode"),
    "maxconn": field("int", "Frontend connection limit.", minimum=1, maximum=1000000, used_by=PROXIED_MODES,
                     used_by_field="mode"),
    "vrrp_instance": field("str", "VRRP instance of the VIP (default: the first).", pattern=NAME,
                           hint="letters, digits, _ . -"),
}

VRRP_INSTANCE = {
    "name": field("str", "Instance name.", required=True, pattern=NAME, hint="letters, digits, _ . -"),
    "virtual_router_id": field("int", "VRID, unique on the network.", required=True, minimum=1, maximum=255),
    "interface": field("str", "Interface the VIPs are put on.", default="eth0", pattern=INTERFACE,
                       hint="an interface name of up to 15 letters, digits, _ . -"),
    "network": field("str", "The VIPs' network in CIDR form; every VIP must be inside it.", required=True,
                     doc_type="CIDR"),
    "nat_gateway": field("str", "Floating address, held with the VIPs, that the real servers of this instance's "
                         "Layer 4 NAT services route their replies through. Needed by l4_nat.",
                         doc_type="IP address"),
}

TLS_CERTIFICATE = {
    "name": field("str", "Name that services use in tls_certificate, tls_client_ca or server_ca.", required=True,
                  pattern=NAME, hint="letters, digits, _ . -"),
    "certificate": field("pem", "PEM content: the server certificate first (intermediates may follow), or for an "
                         "entry without key the CA certificate(s).", doc_type="PEM text"),
    "chain": field("pem", "PEM content: the intermediate certificates, in order.", doc_type="PEM text"),
    "key": field("pem", "PEM content of the unencrypted private key (keep it in Ansible Vault).", doc_type="PEM text"),
    "ca": field("str", "The CA entry the chain must end at (chain completeness is then checked).", pattern=NAME,
                hint="the name of a CA entry"),
    "names": field("strlist", "DNS names or IP addresses the certificate must cover.", pattern=DNS_NAME,
                   hint="a DNS name or IP address"),
    "path": field("str", "Instead of PEM content: a file already on the balancers (combined PEM for a certificate, "
                  "or a CA file); not deployed and not checked on the controller.", pattern=SAFE_PATH,
                  hint="an absolute path of letters, digits and / . _ + -"),
}

HOST = {
    "pacs_lb_address": field("str", "The host's IP address (default: ansible_host).", doc_type="IP address"),
    "pacs_lb_weight": field("int", "Weight of a real server.", default=100, minimum=0, maximum=256),
    "pacs_lb_backup": field("bool", "The real server is a backup server.", default=False),
    "pacs_lb_server_port": field("int", "Port of a real server.", minimum=1, maximum=65535),
}


def _path(desc, default):
    return field("str", desc, default=default, pattern=SAFE_PATH,
                 hint="an absolute path of letters, digits and / . _ + -")


# The roles' options, beyond the types and choices their argument specs
# declare: the safe set or range of what each becomes in a file or command.
# A name with one of these prefixes that is not declared is a typo.
ROLE_OPTION_PREFIXES = ("haproxy_", "keepalived_", "realserver_linux_", "realserver_windows_", "verify_", "maintenance_")
ROLE_OPTIONS = {
    "haproxy_package": field("str", "", pattern=r"[a-z0-9][a-z0-9+.=~:-]{0,127}", hint="a package name"),
    "haproxy_extra_packages": field("strlist", "", pattern=r"[a-z0-9][a-z0-9+.=~:-]{0,127}", hint="a package name"),
    "haproxy_config_path": _path("", "/etc/haproxy/haproxy.cfg"),
    # The runtime API is admin level: only a local unix socket (no ipv4@,
    # abns@ or address:port), which the template creates with mode 660.
    "haproxy_stats_socket": _path("", "/run/haproxy/admin.sock"),
    "haproxy_maxconn": field("int", "", minimum=1, maximum=10000000),
    "haproxy_timeout_connect": field("str", "", pattern=HAPROXY_TIME, hint="a number with us, ms, s, m, h or d"),
    "haproxy_timeout_client": field("str", "", pattern=HAPROXY_TIME, hint="a number with us, ms, s, m, h or d"),
    "haproxy_timeout_server": field("str", "", pattern=HAPROXY_TIME, hint="a number with us, ms, s, m, h or d"),
    "haproxy_timeout_http_request": field("str", "", pattern=HAPROXY_TIME, hint="a number with us, ms, s, m, h or d"),
    "haproxy_retries": field("int", "", minimum=0, maximum=100),
    "haproxy_peers_port": field("int", "", minimum=1, maximum=65535),
    "haproxy_sysctl_file": _path("", None),
    "haproxy_on_server_down": field("str", "", choices=("keep_sessions", "shutdown_sessions")),
    "haproxy_route_quickack": field("str", "", choices=("all", "servers", "none")),
    "haproxy_nbthread": field("int", "", minimum=0, maximum=4096),
    "haproxy_busy_polling": field("bool", ""),
    "haproxy_port_redirect_table": field("str", "", pattern=NFT_NAME, hint="an nftables name of letters, digits, _"),
    "haproxy_port_redirect_file": _path("", None),
    "haproxy_systemd_dropin": _path("", None),
    "haproxy_tls_ciphers": field("str", "", pattern=r"[A-Za-z0-9_:+!@=-]{1,2000}",
                                 hint="an OpenSSL cipher list (letters, digits, _ : + ! @ = -)"),
    "haproxy_tls_ciphersuites": field("str", "", pattern=r"[A-Za-z0-9_:]{1,1000}",
                                      hint="TLS 1.3 cipher suites separated by :"),
    "keepalived_package": field("str", "", pattern=r"[a-z0-9][a-z0-9+.=~:-]{0,127}", hint="a package name"),
    "keepalived_config_path": _path("", None),
    "keepalived_vrrp_version": field("int", "", choices=(2, 3)),
    # VRRPv3 counts in centiseconds up to 4095, VRRPv2 in whole seconds up to 255.
    "keepalived_advert_int": field("float", "", minimum=0.01, maximum=255),
    "keepalived_vrrp_nice": field("int", "", minimum=-20, maximum=19, empty_ok=True),
    "keepalived_vrrp_rt_priority": field("int", "", minimum=1, maximum=99, empty_ok=True),
    "keepalived_priority": field("int", "", minimum=1, maximum=254, empty_ok=True),
    "keepalived_nopreempt": field("bool", ""),
    "keepalived_track_haproxy": field("bool", ""),
    "keepalived_track_interval": field("int", "", minimum=1, maximum=3600),
    "keepalived_lvs_sync": field("bool", ""),
    "keepalived_lvs_sync_interface": field("str", "", pattern=INTERFACE, hint="an interface name", empty_ok=True),
    "keepalived_notify_script": _path("", None),
    "keepalived_sysctl_file": _path("", None),
    "realserver_linux_state": field("str", "", choices=("present", "absent")),
    "realserver_linux_interface": field("str", "", pattern=INTERFACE, hint="an interface name", empty_ok=True),
    "realserver_linux_rp_filter": field("str", "", choices=("auto", "loose", "keep")),
    "realserver_linux_network_config": field("str", "",
                                             choices=("auto", "networkmanager", "networkd", "ifupdown", "none")),
    "realserver_linux_firewall": field("str", "", choices=("auto", "nftables", "firewalld", "none")),
    "realserver_linux_nftables_chains": field("strlist", "", pattern=NFT_CHAIN, hint="'family table chain'"),
    "realserver_linux_nftables_conf": _path("", None),
    "realserver_linux_nftables_file": _path("", None),
    "realserver_linux_sysctl_file": _path("", None),
    "realserver_linux_ifupdown_file": _path("", None),
    "realserver_linux_networkd_file": _path("", None),
    "realserver_linux_networkmanager_file": _path("", None),
    "realserver_linux_state_file": _path("", None),
    "realserver_linux_nat_networks": field("strlist", "", pattern=r"default|[0-9]{1,3}(\.[0-9]{1,3}){3}/[0-9]{1,2}",
                                           hint="'default' or an IPv4 network such as 198.18.31.0/24"),
    "realserver_linux_nat_routes_unit": _path("", None),
    # Handed to PowerShell as parameters, never into script text: plain
    # one-line text is enough, names of Windows objects at most 256 long.
    "realserver_windows_state": field("str", "", choices=("present", "absent")),
    "realserver_windows_nlb_binding": field("str", "", choices=("disabled", "keep")),
    "realserver_windows_nlb_leave_cluster": field("bool", ""),
    "realserver_windows_nlb_uninstall_feature": field("bool", ""),
    "realserver_windows_nlb_feature_name": field("str", "", pattern=WINDOWS_NAME, hint="a Windows name"),
    "realserver_windows_loopback_name": field("str", "", pattern=WINDOWS_NAME, hint="a Windows name"),
    "realserver_windows_devcon": field("str", "", pattern=WINDOWS_PATH, hint="a Windows path", empty_ok=True),
    "realserver_windows_interface": field("str", "", pattern=WINDOWS_NAME, hint="a Windows name", empty_ok=True),
    "realserver_windows_firewall": field("bool", ""),
    "realserver_windows_firewall_group": field("str", "", pattern=WINDOWS_NAME, hint="a Windows name"),
    "realserver_windows_firewall_profiles": field("strlist", "", pattern="domain|private|public",
                                                  hint="domain, private or public"),
    "realserver_windows_state_file": field("str", "", pattern=WINDOWS_PATH, hint="a Windows path"),
    "verify_probe_from": field("str", "", pattern=HOSTNAME, hint="an inventory host name"),
    "verify_probe_timeout": field("int", "", minimum=1, maximum=3600),
    # Paths on the controller, used by modules only (never rendered into a file).
    "verify_report_dir": field("str", ""),
    "verify_haproxy_socket": _path("", None),
    "verify_fail_on_problem": field("bool", ""),
    "verify_tls_warn_days": field("int", "", minimum=0, maximum=3650),
    "verify_tls_fail_days": field("int", "", minimum=0, maximum=3650),
    "verify_tls_client_certificate": field("str", "", pattern=NAME, hint="an entry of pacs_lb_tls_certificates",
                                           empty_ok=True),
    "maintenance_server": field("str", "", pattern=NAME, hint="a real server of the model"),
    "maintenance_phase": field("str", "", choices=("drain", "ready", "cycle")),
    "maintenance_drain_timeout": field("int", "", minimum=0, maximum=86400),
    "maintenance_tasks_file": field("str", ""),
}

TRUE_WORDS = ("true", "yes", "on", "1")
FALSE_WORDS = ("false", "no", "off", "0")


class Problems(object):
    """Every problem of one run, one line each: where: field: what is allowed."""

    def __init__(self):
        self.items = []

    def add(self, where, name, text):
        self.items.append("%s: %s: %s" % (where, name, one_line(text)))


def one_line(text):
    """Control characters shown escaped, so that every problem stays one line."""
    return "".join(c if " " <= c != "\x7f" else repr(c)[1:-1] for c in str(text))


def show(value):
    """A value quoted for a message: repr() keeps newlines and NULs visible."""
    return repr(value) if isinstance(value, str) and not re.fullmatch(r"[ -~]*", value) else "'%s'" % (value,)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def to_bool(value):
    """Strict boolean: true/false and the words INI inventories use; anything else is an error."""
    if isinstance(value, bool):
        return value
    if is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise ValueError("must be true or false, got %s" % show(value))


def to_int(value):
    """A whole number, or its decimal text as INI inventories give it."""
    if is_int(value):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,12}", value):
        return int(value)
    raise ValueError("must be a whole number, got %s" % show(value))


def _to_float(value):
    if isinstance(value, float) or is_int(value):
        return float(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}(\.[0-9]{1,6})?", value):
        return float(value)
    raise ValueError("must be a number, got %s" % show(value))


def _text(value, allowed=r"[^\x00-\x1f\x7f]*", what="control characters (newline, CR, tab, NUL)"):
    if not isinstance(value, str):
        raise ValueError("must be text, got %s" % type(value).__name__)
    if not re.fullmatch(allowed, value):
        raise ValueError("must not contain %s, got %s" % (what, show(value)))
    return value


def _scalar(spec, value):
    """value converted to the field's type and checked, or ValueError(text)."""
    ftype = spec["type"]
    if spec["empty_ok"] and value in ("", None):
        return ""
    if ftype == "bool":
        out = to_bool(value)
    elif ftype == "int":
        out = to_int(value)
    elif ftype == "float":
        out = _to_float(value)
    elif ftype == "pem":
        # Never shown in a message: it may be a private key.
        if not isinstance(value, str) or not re.fullmatch(r"[\x20-\x7e\r\n\t]*", value):
            raise ValueError("must be PEM text (printable ASCII, lines); the value is not shown")
        out = value
    elif ftype == "hl7":
        out = _text(value, allowed=r"[^\x00-\x09\x0b\x0c\x0e-\x1f\x7f]*", what="control characters but CR and LF")
    else:
        out = _text(value)
    if spec["choices"] is not None and out not in spec["choices"]:
        raise ValueError("%s is not one of %s" % (show(out), ", ".join(str(c) for c in spec["choices"])))
    if spec["pattern"] is not None and not re.fullmatch(spec["pattern"], out):
        raise ValueError("%s is not %s" % (show(out), spec["hint"] or "allowed"))
    if spec["min"] is not None and not spec["min"] <= out <= spec["max"]:
        raise ValueError("%s must be %s-%s" % (show(value), spec["min"], spec["max"]))
    return out


def check_field(spec, value, where, name, problems):
    """The converted value, or None after adding a problem."""
    if spec["type"] == "ports":
        return value  # parsed (with its own messages) by model_validation.parse_ports
    if spec["type"] == "strlist":
        if not isinstance(value, list):
            problems.add(where, name, "must be a list, got %s" % type(value).__name__)
            return None
        return [check_field(dict(spec, type="str"), item, where, "%s[%d]" % (name, pos), problems)
                for pos, item in enumerate(value)]
    if spec["type"] == "list":
        if not isinstance(value, list) or not value:
            problems.add(where, name, "must be a non-empty list of mappings")
            return None
        return [check_mapping(spec["schema"], item, where, "%s[%d]" % (name, pos), problems)
                for pos, item in enumerate(value)]
    if spec["type"] == "check":
        if isinstance(value, str):
            value = {"type": value}
        if not isinstance(value, dict):
            problems.add(where, name, "must be a check type or a mapping with 'type'")
            return None
        return check_mapping(spec["schema"], value, where, name, problems, selector="type")
    try:
        return _scalar(spec, value)
    except ValueError as exc:
        problems.add(where, name, str(exc))
        return None


def check_mapping(schema, raw, where, prefix, problems, selector=None, selected=None):
    """Check one mapping against its schema. Returns the converted mapping
    (only the keys given: defaults are applied by the model, after merging a
    profile with the user's entry), or None when anything was wrong.

    selector names the field whose value decides which optional fields are
    used (type for a check); selected is that value when it comes from
    outside the mapping (mode for a service)."""
    label = (lambda key: "%s.%s" % (prefix, key)) if prefix else (lambda key: key)
    if not isinstance(raw, dict):
        problems.add(where, prefix or "entry", "must be a mapping, got %s" % type(raw).__name__)
        return None
    before = len(problems.items)
    unknown = sorted(str(k) if re.fullmatch(r"[A-Za-z0-9_]+", str(k)) else show(str(k)) for k in raw if k not in schema)
    if unknown:
        problems.add(where, label(unknown[0]) if len(unknown) == 1 else ", ".join(label(k) for k in unknown),
                     "unknown field; allowed: %s" % ", ".join(sorted(schema)))
    out = {}
    for key, spec in schema.items():
        if key in raw and raw[key] is not None:
            value = check_field(spec, raw[key], where, label(key), problems)
            if value is not None:
                out[key] = value
    for key, spec in schema.items():
        if spec["required"] and raw.get(key) is None:
            problems.add(where, label(key), "is required (%s)" % spec["description"].rstrip("."))
    if selector is not None and selected is None and (selector in out or selector not in raw):
        selected = out.get(selector, schema[selector]["default"])
    for key, spec in schema.items():
        if selected is None:
            break
        if key in out and spec["used_by"] is not None and selected not in spec["used_by"]:
            problems.add(where, label(key), "is not used by %s %s; only by %s %s" % (
                spec["used_by_field"], selected, spec["used_by_field"], ", ".join(spec["used_by"])))
    return out if len(problems.items) == before else None


def check_role_options(values, where, problems):
    """Role options set for one host (name -> value): each against its declaration."""
    for name in sorted(values):
        if not name.startswith(ROLE_OPTION_PREFIXES):
            continue
        spec = ROLE_OPTIONS.get(name)
        if spec is None:
            near = difflib.get_close_matches(name, list(ROLE_OPTIONS), 1)
            problems.add(where, name, "unknown option%s" % ("; did you mean %s?" % near[0] if near else ""))
            continue
        if spec["default"] is None and values[name] is None:
            continue
        check_field(spec, values[name], where, name, problems)
    _check_advert_int(values, where, problems)
    _check_busy_polling(values, where, problems)


def _check_busy_polling(values, where, problems):
    """Busy polling spins every thread on a CPU of its own: with HAProxy's default of one thread per CPU,
    keepalived and the kernel would wait for them."""
    try:
        busy = to_bool(values.get("haproxy_busy_polling", False))
        threads = to_int(values.get("haproxy_nbthread", 0))
    except ValueError:
        return  # reported above
    if busy and threads < 1:
        problems.add(where, "haproxy_busy_polling", "true needs haproxy_nbthread of at least 1 and fewer than the "
                     "balancer's CPUs, got %d: every thread then spins on a CPU of its own, and with one thread per "
                     "CPU keepalived and the kernel would wait for them." % threads)


def _check_advert_int(values, where, problems):
    """VRRPv2 adverts are whole seconds up to 255, VRRPv3 ones centiseconds up to 40.95 s."""
    try:
        version = to_int(values.get("keepalived_vrrp_version", 2))
        advert = _to_float(values.get("keepalived_advert_int", 1))
    except ValueError:
        return  # reported above
    if version == 2 and advert != int(advert):
        problems.add(where, "keepalived_advert_int", "%s: VRRP version 2 counts whole seconds; set "
                     "keepalived_vrrp_version: 3 for fractions" % advert)
    if version == 3 and advert > 40.95:
        problems.add(where, "keepalived_advert_int", "%s: VRRP version 3 allows at most 40.95 s" % advert)


# ---------------------------------------------------------------- documentation
# The preflight role's argument specs (ansible-doc -t role) and the field
# tables of docs/service-model.md are made from the declarations above;
# tests/unit/test_model_docs.py fails when the committed files differ.

_SPEC_TYPES = {"str": "str", "int": "int", "bool": "bool", "float": "float", "hl7": "str", "pem": "str", "ports": "raw",
               "check": "raw", "list": "list", "strlist": "list"}


def _allowed(spec):
    """What a field takes, in words, for both documentations."""
    parts = []
    if spec["pattern"] is not None:
        parts.append("%s, the whole value matching the regular expression %s" % (spec["hint"], spec["pattern"]))
    if spec["min"] is not None:
        parts.append("%s to %s" % (spec["min"], spec["max"]))
    if spec["used_by"] is not None:
        parts.append("only with %s %s" % (spec["used_by_field"], ", ".join(spec["used_by"])))
    if spec["required"]:
        parts.append("required")
    return parts


def argument_spec(fields):
    """Argument-spec options of a schema table (documentation of nested fields)."""
    options = {}
    for key, spec in fields.items():
        doc = {"description": [spec["description"]] + [a[0].upper() + a[1:] + "." for a in _allowed(spec)]
               + (["Type C(%s)." % spec["doc_type"]] if spec["doc_type"] else []),
               "type": _SPEC_TYPES[spec["type"]]}
        if spec["choices"] is not None:
            doc["choices"] = list(spec["choices"])
        if spec["default"] is not NOTSET and spec["default"] is not None:
            doc["default"] = spec["default"]
        if spec["type"] == "list":
            doc["elements"] = "dict"
        if spec["schema"] is not None:
            doc["options"] = argument_spec(spec["schema"])
        if spec["type"] == "strlist":
            doc["elements"] = "str"
        options[key] = doc
    return options


def markdown_table(fields):
    lines = ["| field | type | values | default | notes |", "|---|---|---|---|---|"]
    for key, spec in fields.items():
        if spec["choices"] is not None:
            values = ", ".join("`%s`" % c for c in spec["choices"])
        elif spec["pattern"] is not None:
            values = "%s: `%s`" % (spec["hint"], spec["pattern"])
        elif spec["min"] is not None:
            values = "%s-%s" % (spec["min"], spec["max"])
        else:
            values = spec["doc_type"] or ("text, no control characters" if spec["type"] == "str" else "")
        default = "" if spec["default"] is NOTSET or spec["default"] is None else "`%s`" % (
            str(spec["default"]).lower() if isinstance(spec["default"], bool) else spec["default"])
        notes = spec["description"]
        if spec["used_by"] is not None:
            notes += " Only with %s %s." % (spec["used_by_field"], ", ".join(spec["used_by"]))
        if spec["required"]:
            default = "required"
        shown_type = {"ports": "port list", "check": "type or mapping"}.get(spec["type"], _SPEC_TYPES[spec["type"]])
        cells = (key, shown_type, values.replace("|", "\\|"), default, notes.replace("|", "\\|"))
        lines.append("| `%s` | %s | %s | %s | %s |" % cells)
    return "\n".join(lines)


DOC_TABLES = (("A service (`pacs_lb_services` entry)", SERVICE), ("A check (`check`)", CHECK),
              ("A server (`servers` entry)", SERVER), ("A port group (`port_groups` entry)", PORT_GROUP),
              ("A route (`routes` entry)", ROUTE), ("A VRRP instance (`pacs_lb_vrrp_instances` entry)", VRRP_INSTANCE),
              ("A certificate or CA (`pacs_lb_tls_certificates` entry)", TLS_CERTIFICATE),
              ("Host variables of balancers and real servers", HOST))


def markdown_tables():
    return "\n\n".join("### %s\n\n%s" % (title, markdown_table(fields)) for title, fields in DOC_TABLES) + "\n"
