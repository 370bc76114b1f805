"""The user documentation of the model is made from model_schema's declarations.

Run `python tests/unit/test_model_docs.py` after changing a declaration: it
rewrites the generated parts of roles/preflight/meta/argument_specs.yml (the
service_model entry point, shown by ansible-doc -t role) and of
docs/service-model.md; these tests fail while they differ from the schema.
"""
import os
import sys

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPECS = os.path.join(ROOT, "roles", "preflight", "meta", "argument_specs.yml")
DOC = os.path.join(ROOT, "docs", "service-model.md")
BEGIN, END = "<!-- fields: generated from model_schema.py -->", "<!-- end of generated fields -->"
SPEC_MARK = "  # service_model: generated from plugins/plugin_utils/model_schema.py by tests/unit/test_model_docs.py\n"

if __name__ == "__main__":
    sys.path.insert(0, os.path.join(ROOT, ".build", "collections"))

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_schema as schema  # noqa: E402


class _IndentedDumper(yaml.SafeDumper):
    """Sequences indented under their key, as yamllint wants them."""

    def increase_indent(self, flow=False, indentless=False):
        return super(_IndentedDumper, self).increase_indent(flow, False)


def entry_point():
    return {
        "short_description": "Documentation of every field of the service model (validated by the main entry point)",
        "description": [
            "Not a task list: the fields of C(pacs_lb_services), C(pacs_lb_vrrp_instances) and the host variables, "
            "declared once in plugins/plugin_utils/model_schema.py. The main entry point checks them all on the "
            "controller: unknown keys are refused at every level, booleans are strict, patterns match the whole value.",
        ],
        "options": {
            "pacs_lb_services": {"description": ["Virtual services."], "type": "list", "elements": "dict",
                                 "options": schema.argument_spec(schema.SERVICE)},
            "pacs_lb_vrrp_instances": {"description": ["VRRP instances."], "type": "list", "elements": "dict",
                                       "options": schema.argument_spec(schema.VRRP_INSTANCE)},
            "pacs_lb_tls_certificates": {"description": ["Certificates and CAs."], "type": "list", "elements": "dict",
                                         "options": schema.argument_spec(schema.TLS_CERTIFICATE)},
            **schema.argument_spec(schema.HOST),
        },
    }


def generated_specs_text():
    with open(SPECS) as handle:
        text = handle.read()
    head = text.split(SPEC_MARK)[0]
    body = yaml.dump({"service_model": entry_point()}, Dumper=_IndentedDumper, sort_keys=False, width=110,
                     default_flow_style=False)
    return head.rstrip("\n") + "\n" + SPEC_MARK + "".join("  " + line + "\n" for line in body.splitlines())


def generated_doc_text():
    with open(DOC) as handle:
        text = handle.read()
    before, rest = text.split(BEGIN)
    after = rest.split(END)[1]
    return before + BEGIN + "\n\n" + schema.markdown_tables() + "\n" + END + after


def test_argument_specs_document_every_field():
    with open(SPECS) as handle:
        specs = yaml.safe_load(handle)["argument_specs"]
    assert specs["service_model"] == entry_point(), "run: python tests/unit/test_model_docs.py"


def test_service_model_doc_is_generated_from_the_schema():
    with open(DOC) as handle:
        assert handle.read() == generated_doc_text(), "run: python tests/unit/test_model_docs.py"


if __name__ == "__main__":
    for path, text in ((SPECS, generated_specs_text()), (DOC, generated_doc_text())):
        with open(path, "w") as handle:
            handle.write(text)
