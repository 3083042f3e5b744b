"""Every role's defaults/main.yml and meta/argument_specs.yml declare the same variables, with the same defaults.

The argument specs are the role's documented interface (ansible-doc, the validation task Ansible prepends to the
role) and defaults/main.yml is what actually applies; this keeps the two from drifting apart, for every role under
roles/, present and future.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

ROLES_DIR = Path(__file__).resolve().parents[3] / "roles"
ROLES = sorted(path.name for path in ROLES_DIR.iterdir() if (path / "meta" / "argument_specs.yml").is_file())


def load(path: Path):
    with path.open(encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def main_options(role: str) -> dict:
    return load(ROLES_DIR / role / "meta" / "argument_specs.yml")["argument_specs"]["main"]["options"]


def defaults(role: str) -> dict:
    return load(ROLES_DIR / role / "defaults" / "main.yml") or {}


def test_every_role_has_argument_specs():
    roles_with_tasks = sorted(path.parent.parent.name for path in ROLES_DIR.glob("*/tasks/main.yml"))
    assert roles_with_tasks == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_defaults_and_argument_specs_declare_the_same_variables(role):
    assert sorted(defaults(role)) == sorted(main_options(role))


@pytest.mark.parametrize("role", ROLES)
def test_every_variable_is_prefixed_with_the_role_name(role):
    assert [name for name in main_options(role) if not name.startswith(role + "_")] == []


@pytest.mark.parametrize("role, variable", [(role, name) for role in ROLES for name in main_options(role)])
def test_default_matches_the_spec(role, variable):
    spec = main_options(role)[variable]
    assert defaults(role).get(variable) == spec.get("default"), "defaults/main.yml and argument_specs.yml differ"


@pytest.mark.parametrize("role, variable", [(role, name) for role in ROLES for name in main_options(role)])
def test_every_variable_has_a_type_and_a_description(role, variable):
    spec = main_options(role)[variable]
    assert spec.get("type"), "no type"
    assert spec.get("description"), "no description"
    if spec["type"] == "list":
        assert spec.get("elements"), "a list without elements"
    if "choices" in spec and variable in defaults(role):
        assert defaults(role)[variable] in spec["choices"]
