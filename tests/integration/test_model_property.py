"""Property: whatever the input, the model is either refused cleanly or renders
configurations that the daemons accept and that hold exactly what it asks for.

Models are made from a valid site whose fields are replaced, at random
depth, by hostile strings (newline, CR, NUL, quotes, $, #, braces),
extreme numbers, wrong types and unknown keys.
"""
import copy
import os
import re
import subprocess

import pytest

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_schema as schema
from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import service_model as sm

import render_local

NET = "198.18.140"
HOSTILE_CHARS = "aZ09_-./:@ '\"$#!{};\\\n\r\t\x00\x0b\x1c\x7f\u00e9"

hostile_text = st.text(alphabet=HOSTILE_CHARS, max_size=12)
plausible = st.sampled_from(["ORTHANC", "/health", "l7", "l4_dr", "l4_nat", "dicom", "http", "hl7", "none", "connect",
                             "external", "icmp", "first", "source_ip", "cookie_source_ip", "true", "false", "no",
                             NET + ".100", NET + ".0", NET + ".255", NET + ".21", NET + ".11", "fd00::1", "104",
                             "80,443", "4000-4010", "/usr/local/libexec/pacs_lb/chk", "VI_A", "pacs", "X"])
numbers = st.sampled_from([0, 1, -1, 255, 256, 65535, 65536, 2 ** 31, 2 ** 63, 10 ** 12]) | st.integers()
# Plausible values more often than not, so that a good share of the models
# is valid and reaches the daemons.
scalars = st.one_of(plausible, plausible, plausible, hostile_text, numbers, st.booleans(), st.none(),
                    st.floats(allow_nan=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(sorted(schema.CHECK)) | hostile_text, inner, max_size=3), max_leaves=6)

SERVICE_KEYS = sorted(schema.SERVICE) + ["bogus"]
PRINTABLE = " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~\u00e9"


def declared_values(spec):
    """Values the declaration allows, at its edges: the renderers must cope with all of them."""
    if spec["choices"] is not None:
        return st.sampled_from(spec["choices"])
    if spec["type"] == "bool":
        return st.booleans() | st.sampled_from(schema.TRUE_WORDS + schema.FALSE_WORDS)
    if spec["type"] == "int" and spec["min"] is not None:
        return st.sampled_from([spec["min"], spec["max"]]) | st.integers(spec["min"], spec["max"])
    if spec["type"] in ("str", "hl7") and spec["pattern"] is not None:
        return st.from_regex(spec["pattern"], fullmatch=True)
    if spec["type"] == "str":
        return st.text(alphabet=PRINTABLE, max_size=20)
    return values


SCALAR_FIELDS = [(table, key) for table, fields in (("service", schema.SERVICE), ("check", schema.CHECK))
                 for key, spec in sorted(fields.items()) if spec["type"] in ("str", "int", "bool")]
CHECK_KEYS = sorted(schema.CHECK) + ["bogus"]


def site():
    return render_local.sample_site(NET)


names = st.from_regex(schema.NAME, fullmatch=True) | hostile_text
addresses = st.sampled_from([NET + ".21", NET + ".22", NET + ".23", NET + ".11", NET + ".100", "fd00::21", "x"])
servers = st.lists(st.fixed_dictionaries({"address": addresses}, optional={
    "name": names, "weight": numbers, "backup": st.booleans() | hostile_text, "port": numbers}), min_size=1, max_size=3)
checks = st.sampled_from(schema.CHECKS) | st.fixed_dictionaries(
    {"type": st.sampled_from(schema.CHECKS)}, optional={"port": numbers, "interval": numbers, "called_ae": hostile_text})
port_groups = st.lists(st.fixed_dictionaries({"name": names, "ports": plausible | numbers}, optional={
    "check": checks, "server_port": numbers, "vip": addresses}), min_size=1, max_size=3)
ae_titles = st.text(alphabet=PRINTABLE, min_size=1, max_size=17)
routes = st.lists(st.fixed_dictionaries({"pool": st.just("pacs")}, optional={
    "name": names, "calling_ae": ae_titles, "called_ae": ae_titles,
    "path_prefix": st.from_regex(schema.URL_PATH, fullmatch=True) | hostile_text,
    "host": st.from_regex(schema.HOST_MATCH, fullmatch=True), "servers": servers, "check": checks}),
    min_size=1, max_size=3)


def _structure(draw, inputs):
    """Random nested structure: port groups, routes or an explicit server list."""
    svc = draw(st.sampled_from(inputs["user_services"]))
    kind = draw(st.sampled_from(["port_groups", "routes", "servers"]))
    if kind == "port_groups":
        svc.pop("ports", None)
        svc.pop("server_port", None)
    if kind == "servers":
        svc.pop("pool", None)
    svc[kind] = draw({"port_groups": port_groups, "routes": routes, "servers": servers}[kind])


@st.composite
def mutated_sites(draw):
    inputs = site()
    for _round in range(draw(st.integers(1, 2))):
        target = draw(st.sampled_from(["declared", "declared", "structure", "service", "check", "host", "instance"]))
        if target == "structure":
            _structure(draw, inputs)
        elif target == "declared":
            table, key = draw(st.sampled_from(SCALAR_FIELDS))
            svc = draw(st.sampled_from(inputs["user_services"]))
            spec = (schema.SERVICE if table == "service" else schema.CHECK)[key]
            if table == "check":
                svc["check"] = dict(svc.get("check") or {}, **{key: draw(declared_values(spec))})
            else:
                svc[key] = draw(declared_values(spec))
        elif target == "service":
            svc = draw(st.sampled_from(inputs["user_services"]))
            svc[draw(st.sampled_from(SERVICE_KEYS))] = draw(values)
        elif target == "check":
            svc = draw(st.sampled_from(inputs["user_services"]))
            if not isinstance(svc.get("check"), dict):
                svc["check"] = {}
            svc["check"][draw(st.sampled_from(CHECK_KEYS))] = draw(values)
        elif target == "host":
            host = draw(st.sampled_from(sorted(inputs["hostvars"])))
            inputs["hostvars"][host][draw(st.sampled_from(sorted(schema.HOST)))] = draw(values)
        else:
            inputs["vrrp_instances"][0][draw(st.sampled_from(sorted(schema.VRRP_INSTANCE)))] = draw(values)
    return inputs


def _expected_sections(model):
    sections = sm.render_haproxy(model)
    return (len(sections["frontends"]), len(sections["backends"]),
            sum(len(b["servers"]) for b in sections["backends"]))


@pytest.fixture(scope="module")
def pem(tmp_path_factory):
    """A certificate and its key in one file, as HAProxy's crt wants it."""
    path = str(tmp_path_factory.mktemp("pem") / "site.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=lb",
                    "-keyout", path, "-out", path + ".crt"], check=True, capture_output=True)
    with open(path, "a") as handle, open(path + ".crt") as crt:
        handle.write(crt.read())
    return path


# PACS_LB_HYPOTHESIS_EXAMPLES=2000 for a longer hunt than the unit suite's.
@settings(max_examples=int(os.environ.get("PACS_LB_HYPOTHESIS_EXAMPLES", "150")), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(inputs=mutated_sites())
def test_refused_cleanly_or_rendered_exactly(inputs, tmp_path, pem):
    try:
        model = sm.build_model(**copy.deepcopy(inputs))
    except sm.ModelError as exc:
        event("refused")
        assert exc.problems
        for problem in exc.problems:
            assert "\n" not in problem and "\r" not in problem and "\x00" not in problem
            assert re.match(r"^(service|vrrp instance|host|balancer|inventory|vrrp)\b.*?: .+: .+", problem), problem
        return
    event("rendered")
    # Interfaces are the balancers' own: keepalived --config-test checks that
    # they exist on the machine that runs it, so test with one that does.
    for inst in model["vrrp_instances"]:
        assert re.fullmatch(schema.INTERFACE, inst["interface"])
        inst["interface"] = "eth0"
    # Likewise the certificate and the servers' CA: haproxy -c reads the files the paths name.
    for svc in model["services"]:
        if svc["tls_certificate"]:
            assert re.fullmatch(schema.SAFE_PATH, svc["tls_certificate"])
            svc["tls_certificate"] = pem
        if svc["tls"].get("server_ca"):
            assert re.fullmatch(schema.SAFE_PATH, svc["tls"]["server_ca"])
            svc["tls"]["server_ca"] = pem
    configs = render_local.render(model)
    paths = render_local.write(configs, tmp_path)
    ok, out = render_local.haproxy_check(paths["haproxy.cfg"])
    assert ok, out + configs["haproxy.cfg"]
    ok, out = render_local.keepalived_check(paths["keepalived.conf"])
    assert ok, out + configs["keepalived.conf"]
    assert render_local.foreign_directives(configs["haproxy.cfg"], render_local.HAPROXY_KEYWORDS) == []
    assert render_local.foreign_directives(configs["keepalived.conf"], render_local.KEEPALIVED_KEYWORDS) == []
    frontends, backends, servers = _expected_sections(model)
    lines = [line.strip() for line in configs["haproxy.cfg"].splitlines()]
    assert sum(line.startswith("frontend ") for line in lines) == frontends
    assert sum(line.startswith("backend ") for line in lines) == backends
    assert sum(line.startswith("server ") for line in lines) == servers
    virtual_servers = sm.render_keepalived_virtual_servers(model)
    assert configs["keepalived.conf"].count("virtual_server ") == len(virtual_servers)
    assert configs["keepalived.conf"].count("real_server ") == sum(len(v["real_servers"]) for v in virtual_servers)
