"""../molecule.yml copies the base configuration's instance settings (an anchor cannot cross files): keep them equal."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
# Each platform's own keys; every other key is an instance setting that all platforms share.
OWN_KEYS = {"name", "image", "groups"}


def platforms(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text())["platforms"]


def shared_settings(platform: dict) -> dict:
    return {key: value for key, value in platform.items() if key not in OWN_KEYS}


BASE = shared_settings(platforms(REPO / ".config" / "molecule" / "config.yml")[0])
SITE = platforms(REPO / "molecule" / "site" / "molecule.yml")


@pytest.mark.parametrize("platform", SITE, ids=[platform["name"] for platform in SITE])
def test_site_platform_has_the_base_instance_settings(platform):
    assert shared_settings(platform) == BASE
