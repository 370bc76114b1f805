"""awx/job_templates.yml against the awx.awx modules' own documentation (ansible-doc)."""
import json
import os
import subprocess

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
with open(os.path.join(ROOT, "awx", "job_templates.yml")) as handle:
    PLAY = yaml.safe_load(handle)[0]
TASKS = [(task["name"], module, args) for task in PLAY["tasks"]
         for module, args in task.items() if module.startswith("awx.awx.")]


@pytest.fixture(scope="module")
def module_docs():
    modules = sorted(set(task[1] for task in TASKS))
    out = subprocess.run(["ansible-doc", "--json"] + modules, check=True, capture_output=True, text=True).stdout
    return dict((name, doc["doc"]) for name, doc in json.loads(out).items())


@pytest.mark.parametrize("name,module,args", TASKS, ids=[t[0] for t in TASKS])
def test_every_option_exists_and_required_ones_are_set(module_docs, name, module, args):
    options = module_docs[module]["options"]
    names = set(options) | set(alias for opt in options.values() for alias in opt.get("aliases", []))
    assert sorted(set(args) - names) == []
    assert sorted(k for k, opt in options.items() if opt.get("required") and k not in args) == []
    for key, value in args.items():
        choices = options.get(key, {}).get("choices")
        if choices and "{{" not in str(value):
            assert value in choices, key
