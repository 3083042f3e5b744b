"""README.md's variable reference is generated from the roles' argument specs and must stay in step."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "scripts" / "role_variables.py"


def test_readme_variable_reference_matches_the_argument_specs():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_every_declared_variable_appears_in_the_readme():
    readme = (REPO / "README.md").read_text()
    for spec_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        missing = [name for name in options if "| `%s` |" % name not in readme]
        assert not missing, "%s: not in README.md: %s" % (spec_file, missing)


def test_each_role_readme_has_a_row_per_declared_variable_with_its_default():
    for spec_file in sorted(REPO.glob("roles/*/meta/argument_specs.yml")):
        role_readme = (spec_file.parents[1] / "README.md").read_text()
        options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
        rows = {line.split("|")[1].strip().strip("`"): line.split("|")[2].strip()
                for line in role_readme.splitlines() if line.startswith("| `")}
        missing = [name for name in options if name not in rows]
        assert not missing, "%s: no row in the role README for %s" % (spec_file.parents[1].name, missing)
        for name, option in options.items():
            default = option.get("default")
            if isinstance(default, (list, dict)):
                continue  # shown as [] or {} in the README, which a table cell cannot tell from other forms
            if isinstance(default, bool):
                expected = "true" if default else "false"
            else:
                expected = "null" if default is None else '""' if default == "" else str(default)
            assert rows[name].strip("`") == expected, (spec_file.parents[1].name, name, rows[name], default)
