"""The node_mirrors role proven with the real npm (and pnpm) against the lab's verdaccio, by the registry's own log.

After converge, a fresh `npm install` of the lab's unscoped and scoped packages runs as a login user, through su
(PAM, no login shell) and from a systemd service; each must succeed and the registry must have served the
packuments and tarballs to it (the public registry may answer here too, through the network's proxy: only the
lab's log proves the route). The scoped package comes from the TLS registry, which npm trusts through the cafile
the role wrote (the system bundle, where prepare put the lab CA).
"""
from __future__ import annotations

import json
import re
import shlex

import pytest
from labinfra import as_login_user, as_service, group_hosts, lab_vars, mirror_requests

testinfra_hosts = group_hosts("build_servers")

BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
HOST_LINES = "# set by the host's own provisioning\nfund=false\n"


def install(client: str, packages: list[str]) -> str:
    """A fresh directory, its own cache, one install of the packages, then proof that they landed in it."""
    if client == "npm":
        command = "npm install --no-audit --no-fund --cache \"$d/.cache\" " + " ".join(map(shlex.quote, packages))
    else:
        command = "pnpm add --store-dir \"$d/.store\" " + " ".join(map(shlex.quote, packages))
    checks = " && ".join("test -f node_modules/%s/package.json" % package for package in packages)
    return 'set -e; d=$(mktemp -d); cd "$d"; %s; %s; echo INSTALLED; cd /; rm -rf "$d"' % (command, checks)


CONSUMERS = {
    "login shell": lambda command: as_login_user("builder", command),
    "su (PAM session)": lambda command: "su builder -s /bin/sh -c %s" % shlex.quote(command),
    "systemd service": lambda command: as_service(command, user="builder"),
}


def npmrc_path(host) -> str:
    return host.check_output("cd / && HOME=/nonexistent npm config get globalconfig").strip()


def test_the_global_npmrc_holds_the_block_above_the_hosts_line(host):
    variables = lab_vars(host)
    text = host.file(npmrc_path(host)).content_string
    assert text.startswith("# BEGIN buildfleet.mirrors\n")
    assert "\nregistry=%s\n" % variables["lab_npm_url"] in text
    assert "\n@corp:registry=%s\n" % variables["lab_npm_tls_url"] in text
    assert "\ncafile=%s\n" % BUNDLE in text
    assert text.endswith("# END buildfleet.mirrors\n\n" + HOST_LINES)


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_npm_install_goes_through_the_lab_registry(host, consumer):
    variables = lab_vars(host)
    packages = [variables["lab_npm_package"], variables["lab_npm_scoped_package"]]
    before = len(mirror_requests("npm"))
    out = host.run(CONSUMERS[consumer](install("npm", packages)))
    assert out.rc == 0 and "INSTALLED" in out.stdout, out.stdout + out.stderr
    served = "\n".join(mirror_requests("npm")[before:])
    for package in packages:
        escaped = re.escape(package.replace("/", "%2f"))
        assert re.search(r"/%s(\s|$)" % escaped, served, re.IGNORECASE), (package, served)
        name = package.rsplit("/", 1)[-1]
        assert re.search(r"/-/%s-[0-9.]+\.tgz" % re.escape(name), served), (package, served)


@pytest.mark.parametrize("consumer", list(CONSUMERS))
def test_pnpm_installs_through_the_lab_registry_where_the_image_has_it(host, consumer):
    if host.run("command -v pnpm").rc != 0:
        pytest.skip("pnpm is not installed on %s" % host.backend.get_hostname())
    variables = lab_vars(host)
    packages = [variables["lab_npm_package"], variables["lab_npm_scoped_package"]]
    before = len(mirror_requests("npm"))
    out = host.run(CONSUMERS[consumer](install("pnpm", packages)))
    assert out.rc == 0 and "INSTALLED" in out.stdout, out.stdout + out.stderr
    served = "\n".join(mirror_requests("npm")[before:])
    for package in packages:
        assert re.search(r"/%s(\s|$)" % re.escape(package.replace("/", "%2f")), served, re.IGNORECASE), served


def test_npm_and_pnpm_resolve_the_policy_in_a_clean_environment(host):
    variables = lab_vars(host)
    out = host.check_output("cd / && env -i HOME=/nonexistent PATH=/usr/local/bin:/usr/bin:/bin "
                            "npm config get registry @corp:registry cafile")
    assert out.splitlines() == ["registry=%s" % variables["lab_npm_url"],
                                "@corp:registry=%s" % variables["lab_npm_tls_url"], "cafile=%s" % BUNDLE]
    if host.run("command -v pnpm").rc == 0:
        # What pnpm's own loader read (pnpm 10's `config get registry` answers npm's value instead).
        pnpm = json.loads(host.check_output("cd / && env -i HOME=/nonexistent PATH=/usr/local/bin:/usr/bin:/bin "
                                            "pnpm config list --json"))
        assert pnpm["registry"] == variables["lab_npm_url"]
        assert pnpm["@corp:registry"] == variables["lab_npm_tls_url"]
        own = pnpm.get("npm-globalconfig")
        if own and own != npmrc_path(host):
            # pnpm reads another file than npm (Debian): the writer put the same block there.
            assert host.file(own).content_string.startswith("# BEGIN buildfleet.mirrors\n")
