"""awx/job_templates.yml against the awx.awx modules' own documentation, and the project it points at."""
import os

import yaml

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
with open(os.path.join(ROOT, "awx", "job_templates.yml")) as handle:
    PLAY = yaml.safe_load(handle)[0]
TASKS = [(task["name"], module, args) for task in PLAY["tasks"]
         for module, args in task.items() if module.startswith("awx.awx.")]


def test_job_templates_run_playbooks_at_the_top_of_the_project():
    playbooks = [args["playbook"] for name, module, args in TASKS if module == "awx.awx.job_template"]
    # the looped task takes its playbooks from __awx_templates
    playbooks = [p for p in playbooks if "{{" not in p] + [t["playbook"] for t in PLAY["vars"]["__awx_templates"]]
    assert sorted(set(playbooks)) == ["maintenance.yml", "site.yml", "verify.yml"]
    for playbook in playbooks:
        assert os.path.dirname(playbook) == "" and os.path.isfile(os.path.join(ROOT, playbook))


def test_the_maintenance_survey_asks_what_the_playbook_reads():
    survey = [task[2] for task in TASKS if task[2].get("survey_enabled")][0]["survey_spec"]["spec"]
    variables = dict((q["variable"], q) for q in survey)
    assert set(variables) == {"maintenance_server", "maintenance_phase", "maintenance_drain_timeout"}
    assert variables["maintenance_phase"]["choices"].split("\n") == ["drain", "ready", "cycle"]
    with open(os.path.join(ROOT, "playbooks", "maintenance.yml")) as handle:
        text = handle.read()
    for variable in variables:
        assert variable in text
    assert "maintenance_phase in ['drain', 'ready', 'cycle']" in text
