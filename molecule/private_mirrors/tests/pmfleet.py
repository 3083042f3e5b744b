"""The runs of the private_mirrors scenario and the build servers' fingerprints around each.

`run_all` runs ../converge.yml (buildfleet.mirrors.site) against the scenario's inventory, in this order, on build
servers that have never been converged and do not trust the lab CA:

1. the refusals, each at -vvv: a wrong password for the Go proxy, a CA that does not sign the mirrors'
   certificate, an expired CA, a private key among the CA certificates; each must fail every build server and
   leave it exactly as it was;
2. the good run, at -vvv;
3. a second run (idempotence).

Each fingerprint also holds what must survive converge untouched: dockerd's PID and the start time of a container
prepare.yml started (a CA for dockerd must not need a restart).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from labinfra import group_hosts, host as lab_host, inventory, mirror
from playbook import PlaybookRun

CONVERGE = Path(__file__).resolve().parents[1] / "converge.yml"
PKI = "/root/pm-pki"
WRONG_PASSWORD = "wrongPw4Lq8Rv2"
GROUP = "goproxy-users"
NETRC = "/etc/go-proxy/netrc"
UNITS = ("pm-fetch-member.service", "pm-fetch-outsider.service")
# What the collection writes, and what a refused run must leave as it was.
WATCHED_PATHS = (
    "/etc/docker",
    "/etc/containerd",
    "/etc/containers",
    "/etc/go-proxy",
    "/etc/environment",
    "/etc/profile.d",
    "/etc/systemd/system.conf.d",
    "/etc/systemd/system",
    "/usr/local/share/ca-certificates",
    "/etc/ssl/certs",
)


def ca_files(*names: str) -> list[dict]:
    """__pm_ca_files for converge.yml: the lab CA (lab-ca) or files the mirror host's prepare made."""
    paths = {"lab-ca": "{{ lab_ca_path }}", "other-ca": PKI + "/other-ca.crt",
             "expired-ca": PKI + "/expired-ca.crt", "stray-key": PKI + "/stray.key"}
    return [{"name": name, "path": paths[name]} for name in names]


# id: (extra vars, what the output must say)
REFUSALS = {
    "a wrong password": (
        {"go_proxy_credentials": [{"machine": "{{ lab_goproxy_auth_url | urlsplit('netloc') }}",
                                   "login": "{{ lab_goproxy_login }}", "password": WRONG_PASSWORD}]},
        ("401",)),
    "a CA that does not sign the mirrors": ({"__pm_ca_files": ca_files("other-ca")},
                                            ("certificate verification failed",)),
    "an expired CA": ({"__pm_ca_files": ca_files("lab-ca", "expired-ca")},
                      ("_ca_certificates", "(name expired-ca)", "expired on 2001-01-01")),
    "a private key among the CAs": ({"__pm_ca_files": ca_files("lab-ca", "stray-key")},
                                    ("_ca_certificates", "(name stray-key)", "private key")),
}


def build_servers() -> list[str]:
    return group_hosts("build_servers")


def run_converge(extra_vars: dict | None = None, *options: str) -> PlaybookRun:
    command = [str(Path(sys.executable).with_name("ansible-playbook")),
               "--inventory", str(Path(inventory()).parent), str(CONVERGE), *options]
    with tempfile.NamedTemporaryFile("w", suffix=".json") as extra_vars_file:
        if extra_vars:
            json.dump(extra_vars, extra_vars_file)
            extra_vars_file.flush()
            command += ["--extra-vars", "@" + extra_vars_file.name]
        result = subprocess.run(command, capture_output=True, text=True, check=False,
                                env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0"))
    # The tail, for a reader of the verify log when a test fails (a -vvv run is long).
    print("$ %s\n...%s%s" % (" ".join(command), result.stdout[-6000:], result.stderr[-3000:]))
    return PlaybookRun(result.returncode, result.stdout + result.stderr)


def fingerprint(name: str) -> dict[str, str]:
    """Every watched path (type, mode, owner, link target, sha256), dockerd's mirrors and PID, the container's start."""
    host = lab_host(name)
    listing = host.check_output(
        "find %s -xdev -printf '%%p %%y %%m %%u:%%g %%l\\n' 2>/dev/null | LC_ALL=C sort; true" % " ".join(WATCHED_PATHS))
    sums = host.check_output(
        "find %s -xdev -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0r sha256sum; true"
        % " ".join(WATCHED_PATHS))
    paths = {line.split(" ", 1)[0]: line for line in listing.splitlines()}
    for line in sums.splitlines():
        digest, path = line.split(None, 1)
        paths[path] += " sha256:" + digest
    paths["dockerd registry-mirrors"] = host.check_output("docker info --format '{{json .RegistryConfig.Mirrors}}'")
    paths["dockerd pid"] = host.check_output("systemctl show --property=MainPID --value docker.service")
    paths["pm-long started"] = host.check_output("docker inspect --format '{{.State.StartedAt}}' pm-long")
    # curl with the system trust store against the TLS registry mirror: 60 (certificate refused) until the lab CA
    # is trusted, then 0.
    paths["curl registry mirror exit code"] = str(host.run(
        "curl -sS -o /dev/null --max-time 20 %s/v2/" % host.ansible.get_variables()["lab_registry_tls_url"]).rc)
    return paths


def fingerprints() -> dict[str, dict[str, str]]:
    return {name: fingerprint(name) for name in build_servers()}


def changed_paths(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))


def pem_body_lines(text: str) -> list[str]:
    """The base64 lines of every PEM block of a file (what must never be printed)."""
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("-----")]


def secrets() -> dict[str, list[str]]:
    """Every secret the runs handle: both passwords, and the body of every PEM file converge may read."""
    lab = mirror().ansible.get_variables()
    found = {"the Go proxy's password": [lab["lab_goproxy_password"]], "the wrong password": [WRONG_PASSWORD]}
    for name in ("lab-ca", "other-ca", "expired-ca", "stray-key"):
        path = ca_files(name)[0]["path"].replace("{{ lab_ca_path }}", lab["lab_ca_path"])
        found["the body of %s" % name] = pem_body_lines(mirror().file(path).content_string)
    return found


@dataclass
class Refusal:
    run: PlaybookRun
    before: dict[str, dict[str, str]]
    after: dict[str, dict[str, str]]


@dataclass
class Fleet:
    fresh: dict[str, dict[str, str]]
    refusals: dict[str, Refusal]
    good: PlaybookRun
    after_good: dict[str, dict[str, str]]
    second: PlaybookRun
    after_second: dict[str, dict[str, str]]

    @property
    def runs(self) -> dict[str, PlaybookRun]:
        runs = {"refused: %s" % case: refusal.run for case, refusal in self.refusals.items()}
        runs.update({"good run": self.good, "second run": self.second})
        return runs


def run_all() -> Fleet:
    fresh = fingerprints()
    refusals, before = {}, fresh
    for case, (extra_vars, _expected) in REFUSALS.items():
        run = run_converge(extra_vars, "-vvv")
        after = fingerprints()
        refusals[case] = Refusal(run, before, after)
        before = after
    good = run_converge(None, "-vvv")
    after_good = fingerprints()
    second = run_converge()
    return Fleet(fresh, refusals, good, after_good, second, fingerprints())
