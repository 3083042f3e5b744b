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
