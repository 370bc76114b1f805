"""What a user of the published collection relies on: declared dependencies, per-filter and per-role docs."""
import glob
import importlib
import os
import re

import pytest
import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FQCN_TASK = re.compile(r"^\s*(?:- )?([a-z0-9_]+\.[a-z0-9_]+)\.[a-z0-9_]+:\s*$", re.M)
WINDOWS_ROLE = "roles/realserver_windows/"


def load(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def collections_used(paths):
    used = {}
    for path in paths:
        with open(os.path.join(ROOT, path)) as handle:
            for name in FQCN_TASK.findall(handle.read()):
                used.setdefault(name, set()).add(path)
    used.pop("ansible.builtin", None)
    used.pop("medimaging.pacs_lb", None)
    return used


def shipped_yaml():
    files = glob.glob("roles/**/*.yml", root_dir=ROOT, recursive=True) + glob.glob("playbooks/*.yml", root_dir=ROOT)
    return sorted(files)


def test_every_collection_the_shipped_content_uses_is_a_dependency():
    declared = set(load("galaxy.yml")["dependencies"])
    used = collections_used([p for p in shipped_yaml() if not p.startswith(WINDOWS_ROLE)])
    assert {name: sorted(paths) for name, paths in used.items() if name not in declared} == {}


def test_no_dependency_is_declared_that_nothing_uses():
    used = collections_used(shipped_yaml())
    assert sorted(set(load("galaxy.yml")["dependencies"]) - set(used)) == []


def test_the_windows_role_needs_only_what_requirements_windows_lists_and_is_only_included():
    listed = set(c["name"] for c in load("collections", "requirements-windows.yml")["collections"])
    used = collections_used([p for p in shipped_yaml() if p.startswith(WINDOWS_ROLE)])
    assert set(used) - set(load("galaxy.yml")["dependencies"]) == listed
    # An imported role (roles:, import_role) is parsed with the playbook and
    # would stop a Linux-only site that lacks the Windows collections.
    for path in glob.glob("playbooks/*.yml", root_dir=ROOT) + glob.glob("*.yml", root_dir=ROOT):
        for play in load(path) or []:
            for role in play.get("roles", []) if isinstance(play, dict) else []:
                assert "realserver_windows" not in str(role), path


def test_project_requirements_match_galaxy_dependencies():
    listed = set(c["name"] for c in load("collections", "requirements.yml")["collections"])
    assert listed == set(load("galaxy.yml")["dependencies"])


def filters():
    for path in sorted(glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py"))):
        module = importlib.import_module(
            "ansible_collections.medimaging.pacs_lb.plugins.filter." + os.path.basename(path)[:-3])
        yield from module.FilterModule().filters()


@pytest.mark.parametrize("name", list(filters()))
def test_every_filter_has_its_own_documentation(name):
    docs = load("plugins", "filter", name + ".yml")
    assert docs["DOCUMENTATION"]["name"] == name
    assert docs["DOCUMENTATION"]["short_description"] and docs["DOCUMENTATION"]["description"]
    assert docs["EXAMPLES"].count("medimaging.pacs_lb." + name) >= 1
    assert "_value" in docs["RETURN"]


def test_filter_plugin_files_hold_no_documentation_that_would_shadow_the_per_filter_files():
    # ansible-doc reads a .py's DOCUMENTATION first, for every filter in it.
    for path in glob.glob(os.path.join(ROOT, "plugins", "filter", "*.py")):
        with open(path) as handle:
            assert "DOCUMENTATION" not in handle.read(), path


@pytest.mark.parametrize("role", sorted(os.listdir(os.path.join(ROOT, "roles"))))
def test_every_role_has_a_readme_and_described_entry_points(role):
    with open(os.path.join(ROOT, "roles", role, "README.md")) as handle:
        assert handle.readline().strip() == "# medimaging.pacs_lb." + role
    for name, entry in load("roles", role, "meta", "argument_specs.yml")["argument_specs"].items():
        assert entry.get("short_description") and entry.get("description"), "%s entry point %s" % (role, name)


def test_the_tarball_leaves_the_lab_out():
    ignored = set(load("galaxy.yml")["build_ignore"])
    assert {"ansible.cfg", "inventories/lab", "tests/lab", "tests/benchmarks", "molecule", "collections"} <= ignored
