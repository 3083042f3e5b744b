"""examples/private-mirrors: the policy names its secrets, the vault holds them, and the two agree."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from ansible.parsing.vault import VaultLib, VaultSecret

from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    validate_go_credentials,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import PolicyError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "private-mirrors"
POLICY = EXAMPLE / "group_vars" / "build_servers" / "private_mirrors.yml"
VAULT = EXAMPLE / "group_vars" / "build_servers" / "vault.yml"
DEMO_PASSWORD = b"buildfleet-example"  # documented in examples/private-mirrors/README.md


def vault_values():
    vault = VaultLib([("default", VaultSecret(DEMO_PASSWORD))])
    return yaml.safe_load(vault.decrypt(VAULT.read_bytes()))


def test_the_vault_file_is_encrypted_and_opens_with_the_documented_demo_password():
    assert VAULT.read_text().startswith("$ANSIBLE_VAULT;1.1;AES256\n")
    assert DEMO_PASSWORD.decode() in (EXAMPLE / "README.md").read_text()
    values = vault_values()
    assert set(values) == {"vault_goproxy_login", "vault_goproxy_password"}


def test_the_policy_names_only_vault_variables_that_the_vault_defines_and_holds_no_secret():
    text = POLICY.read_text()
    named = set(re.findall(r"\b(vault_[a-z_]+)\b", text))
    values = vault_values()
    assert named == set(values)
    for secret in values.values():
        assert secret not in text
    assert "@" not in "".join(yaml.safe_load(text)["go_proxy_urls"]), "userinfo in a proxy URL is refused"


def test_the_credentials_once_decrypted_match_the_example_proxy():
    policy = yaml.safe_load(POLICY.read_text())
    values = vault_values()
    credentials = [{"machine": item["machine"], "login": values["vault_goproxy_login"],
                    "password": values["vault_goproxy_password"]} for item in policy["go_proxy_credentials"]]
    targets = [CredentialTarget(url, "go_proxy_urls[%d]" % index) for index, url in enumerate(policy["go_proxy_urls"])]
    checked = validate_go_credentials(credentials, targets, "go_proxy_credentials")
    assert [credential.machine for credential in checked] == ["goproxy.corp.example.com"]
    with pytest.raises(PolicyError, match="go_proxy_credentials"):
        validate_go_credentials([dict(credentials[0], machine="elsewhere.example.com")], targets, "go_proxy_credentials")
