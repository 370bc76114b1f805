"""ansible-doc shows every field of the service model (the generated entry
point of roles/preflight/meta/argument_specs.yml; tests/unit/test_model_docs.py
keeps it in step with model_schema.py)."""
import os
import subprocess
import sys

from ansible_collections.medimaging.pacs_lb.plugins.plugin_utils import model_schema as schema

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_ansible_doc_shows_every_service_field():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"))
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-doc"), "-t", "role",
                          "medimaging.pacs_lb.preflight"], capture_output=True, text=True, env=env, check=True,
                         timeout=120).stdout
    for key in list(schema.SERVICE) + list(schema.CHECK) + list(schema.VRRP_INSTANCE) + list(schema.HOST):
        assert key in out, key
