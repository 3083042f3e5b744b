"""The Molecule scenarios' platform lists: copies of the base configuration's instance settings, and the lab's engines.

Molecule replaces the base configuration's `platforms` list when a scenario has one of its own, and an
anchor cannot reach into another file, so such a scenario copies the instance settings. A copy that drifts
(a capability, a volume, the seccomp setting) runs that scenario on a different kind of host than the rest.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
BASE_CONFIG = REPO / ".config" / "molecule" / "config.yml"
BUILD_SH = REPO / "tests" / "images" / "build.sh"
# Each platform's own keys; every other key is an instance setting that all platforms share.
OWN_KEYS = {"name", "image", "groups"}
# The scenarios that prove the Docker role on every engine the lab has, Docker 28.5 on both image stores included.
ENGINE_SCENARIOS = ("docker_mirrors", "site")
DOCKER28 = {
    "buildfleet-docker28": "${BUILDFLEET_IMAGE_PREFIX}/debian:trixie-docker28",
    "buildfleet-docker28-cs": "${BUILDFLEET_IMAGE_PREFIX}/debian:trixie-docker28-cs",
}


def platforms(path: Path) -> list[dict]:
    return yaml.safe_load(path.read_text()).get("platforms") or []


def shared_settings(platform: dict) -> dict:
    return {key: value for key, value in platform.items() if key not in OWN_KEYS}


BASE = platforms(BASE_CONFIG)
OWN_LISTS = {path.parent.name: platforms(path) for path in sorted(REPO.glob("molecule/*/molecule.yml")) if platforms(path)}


def test_the_base_configuration_gives_every_platform_the_same_settings():
    assert [shared_settings(platform) for platform in BASE] == [shared_settings(BASE[0])] * len(BASE)


@pytest.mark.parametrize("scenario", sorted(OWN_LISTS))
def test_a_scenarios_own_platforms_copy_the_base_instance_settings(scenario):
    for platform in OWN_LISTS[scenario]:
        assert shared_settings(platform) == shared_settings(BASE[0]), (scenario, platform["name"])


@pytest.mark.parametrize("scenario", sorted(OWN_LISTS))
def test_a_scenarios_own_list_keeps_every_base_platform(scenario):
    own = {platform["name"]: (platform["image"], platform["groups"]) for platform in OWN_LISTS[scenario]}
    for platform in BASE:
        assert own.get(platform["name"]) == (platform["image"], platform["groups"]), (scenario, platform["name"])
    assert len(own) == len(OWN_LISTS[scenario]), "%s names a platform twice" % scenario


@pytest.mark.parametrize("scenario", ENGINE_SCENARIOS)
def test_the_docker_scenarios_run_on_docker28_with_both_image_stores(scenario):
    own = {platform["name"]: platform for platform in OWN_LISTS.get(scenario, [])}
    for name, image in DOCKER28.items():
        assert name in own, "%s does not run on %s" % (scenario, name)
        assert own[name]["image"] == image
        assert own[name]["groups"] == ["build_servers"]


def test_the_default_image_build_makes_every_image_a_platform_names():
    # `make images` and .ci/run call build.sh without arguments: its default list must cover the scenarios.
    default = re.search(r"^targets=.*\|\| targets=\(([a-z0-9 ]+)\)$", BUILD_SH.read_text(), re.MULTILINE)
    assert default, "build.sh's default target list not found"
    targets = default.group(1).split()
    made = {"${BUILDFLEET_IMAGE_PREFIX}/debian:%s" % suite for suite in ("bullseye", "bookworm", "trixie") if suite in targets}
    if "mirror" in targets:
        made.add("${BUILDFLEET_IMAGE_PREFIX}/mirror:latest")
    if "docker28" in targets:
        made |= set(DOCKER28.values())
    used = {platform["image"] for platform in BASE} | {
        platform["image"] for own in OWN_LISTS.values() for platform in own}
    assert used <= made, sorted(used - made)
