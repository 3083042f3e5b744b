"""The lab's Python index and npm registry serve real clients, and nothing but their own packages.

Every client runs as the login user `builder` with a clean environment (`env -i`, a fresh HOME): no
configuration of the image, the user or this test process decides where it goes but its command line.
PyPI and the npm registry may still answer inside the lab through this network's package proxy, so each
download is proven by the mirror's own access log (labinfra.mirror_requests), not by the client's success.
"""
from __future__ import annotations

import json
import shlex

import pytest
from labinfra import group_hosts, lab_vars, mirror_requests

testinfra_hosts = group_hosts("build_servers")

# prepare_lab.yml installs the lab CA here (and into the system bundle).
LAB_CA = "/usr/local/share/ca-certificates/buildfleet-lab.crt"
WHEEL = "buildfleet_hello-1.0.0-py3-none-any.whl"
# Neither is in the lab index or registry; both are on the public ones.
PYPI_ABSENT, NPM_ABSENT = "requests", "left-pad"


@pytest.fixture
def home(host):
    """A fresh home directory of the login user, removed afterwards."""
    path = host.check_output("runuser -u builder -- mktemp -d /tmp/lab-home.XXXXXX")
    yield path
    host.run("rm -rf %s" % path)


def as_builder(host, home: str, command: str, **env: str):
    """Run `command` (sh syntax) as builder with nothing in the environment but HOME, PATH, LANG and `env`."""
    variables = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in env.items())
    return host.run("cd %s && runuser -u builder -- env -i HOME=%s PATH=/usr/local/bin:/usr/bin:/bin LANG=C.UTF-8"
                    " %s sh -c %s" % (home, home, variables, shlex.quote(command)))


def lab_clients(host) -> dict[str, str]:
    """/etc/buildfleet/lab-clients of the image: client -> version, as build.sh found them."""
    lines = host.file("/etc/buildfleet/lab-clients").content_string.splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def served(lines: list[str], scheme_port: str, method: str, path: str, status: int, agent: str) -> list[str]:
    """The log lines of one request: method and path on that listener, with that status, from that client."""
    return [line for line in lines
            if line.split(" ")[1:5] == [scheme_port, method, path, str(status)]
            and line.split(" ua=", 1)[1].startswith(agent)]


def listener(url: str) -> str:
    """'https:15447' for https://127.0.0.1:15447/simple/."""
    scheme, rest = url.split("://", 1)
    return "%s:%s" % (scheme, rest.split("/", 1)[0].rsplit(":", 1)[1])


PYPI_URLS = {"http": ("lab_pypi_url", ""), "https": ("lab_pypi_tls_url", "--cert %s" % LAB_CA)}


def pip_version(host) -> tuple[int, ...]:
    return tuple(int(part) for part in lab_clients(host)["pip"].split(".")[:2])


def pip_tls_options(host, url: str) -> str:
    """What pip needs for an https index on an IP address: pip >= 24.2 checks certificates with truststore, which
    cannot check an IP address (pypa/pip#12906, ValueError: check_hostname requires server_hostname); its older
    verifier can (the lab's certificate names IP:127.0.0.1)."""
    if url.startswith("https://127.") and pip_version(host) >= (24, 2):
        return "--use-deprecated=legacy-certs"
    return ""


NPM_URLS = {"http": ("lab_npm_url", ""), "https": ("lab_npm_tls_url", "--cafile %s" % LAB_CA)}


def test_the_images_carry_the_clients_and_no_index_configuration(host):
    clients = lab_clients(host)
    for client in ("python3", "pip", "uv", "node", "npm"):
        assert clients.get(client), clients
    assert host.check_output("/usr/local/bin/uv --version").split()[1] == clients["uv"]
    if clients.get("pnpm"):
        assert host.check_output("/usr/local/bin/pnpm --version") == clients["pnpm"]
    for path in ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "/etc/npmrc", "/usr/local/etc/npmrc", "/etc/uv/uv.toml"):
        assert not host.file(path).exists, path


@pytest.mark.parametrize("scheme", sorted(PYPI_URLS))
def test_pip_downloads_the_lab_wheel(host, home, scheme):
    lab = lab_vars(host)
    url_var, cert = PYPI_URLS[scheme]
    before = len(mirror_requests("pypi"))
    result = as_builder(host, home, "python3 -m pip download --no-deps --no-cache-dir --dest dl --index-url %s %s %s %s"
                        % (lab[url_var], cert, pip_tls_options(host, lab[url_var]), lab["lab_pypi_package"]))
    assert result.rc == 0, result.stdout + result.stderr
    assert host.file("%s/dl/%s" % (home, WHEEL)).exists
    new = mirror_requests("pypi")[before:]
    where = listener(lab[url_var])
    assert served(new, where, "GET", "/simple/%s/" % lab["lab_pypi_package"], 200, "pip/"), new
    assert served(new, where, "GET", "/packages/%s" % WHEEL, 200, "pip/"), new


def test_pip_installs_the_lab_wheel_into_a_venv(host, home):
    # Debian's pip refuses installs outside a virtual environment (PEP 668).
    lab = lab_vars(host)
    before = len(mirror_requests("pypi"))
    result = as_builder(host, home, "python3 -m venv venv && venv/bin/pip install --no-cache-dir --index-url %s %s %s"
                        " && venv/bin/python -c 'import buildfleet_hello as h; print(h.__version__, h.GREETING)'"
                        % (lab["lab_pypi_tls_url"], pip_tls_options(host, lab["lab_pypi_tls_url"]),
                           lab["lab_pypi_package"]), PIP_CERT=LAB_CA)
    assert result.rc == 0, result.stdout + result.stderr
    assert "1.0.0 Hello from the buildfleet lab index" in result.stdout
    new = mirror_requests("pypi")[before:]
    assert served(new, listener(lab["lab_pypi_tls_url"]), "GET", "/packages/%s" % WHEEL, 200, "pip/"), new


def test_pip_with_truststore_cannot_check_an_ip_address_but_a_host_name(host, home):
    # A fact the roles must live with (pypa/pip#12906): pip >= 24.2 (Debian 13) fails on an https index named by its
    # IP address, before any request; the same index named `localhost` (also in the lab's certificate) works with the
    # system trust store, where prepare_lab.yml put the lab CA.
    if pip_version(host) < (24, 2):
        pytest.skip("pip %s checks certificates without truststore" % lab_clients(host)["pip"])
    lab = lab_vars(host)
    ip_url = lab["lab_pypi_tls_url"]
    name_url = ip_url.replace("://127.0.0.1:", "://localhost:")
    command = "python3 -m pip download --no-deps --no-cache-dir --dest dl --index-url %s " + lab["lab_pypi_package"]
    before = len(mirror_requests("pypi"))
    by_ip = as_builder(host, home, command % ip_url)
    assert by_ip.rc != 0
    assert "check_hostname requires server_hostname" in by_ip.stderr, by_ip.stderr
    assert mirror_requests("pypi")[before:] == []
    by_name = as_builder(host, home, command % name_url)
    assert by_name.rc == 0, by_name.stdout + by_name.stderr
    new = mirror_requests("pypi")[before:]
    assert served(new, listener(ip_url), "GET", "/packages/%s" % WHEEL, 200, "pip/"), new


@pytest.mark.parametrize("scheme", sorted(PYPI_URLS))
def test_the_lab_index_has_no_fallback_to_pypi(host, home, scheme):
    lab = lab_vars(host)
    url_var, cert = PYPI_URLS[scheme]
    before = len(mirror_requests("pypi"))
    result = as_builder(host, home, "python3 -m pip download --no-deps --no-cache-dir --dest dl --index-url %s %s %s %s"
                        % (lab[url_var], cert, pip_tls_options(host, lab[url_var]), PYPI_ABSENT))
    assert result.rc != 0
    assert "No matching distribution found for %s" % PYPI_ABSENT in result.stdout + result.stderr
    new = mirror_requests("pypi")[before:]
    # A 404, not a redirect to pypi.org: pip asked the lab index and nothing else.
    assert served(new, listener(lab[url_var]), "GET", "/simple/%s/" % PYPI_ABSENT, 404, "pip/"), new
    assert not [line for line in new if line.split(" ")[4].startswith("3")], new
    assert host.run("ls -A %s/dl 2>/dev/null" % home).stdout.strip() == ""


@pytest.mark.parametrize("scheme", sorted(PYPI_URLS))
def test_uv_installs_the_lab_wheel_into_a_venv(host, home, scheme):
    lab = lab_vars(host)
    url_var = PYPI_URLS[scheme][0]
    before = len(mirror_requests("pypi"))
    # uv trusts its own copy of the public CAs unless told: SSL_CERT_FILE adds the lab CA.
    result = as_builder(host, home, "uv venv --python /usr/bin/python3 venv && uv pip install --python venv/bin/python"
                        " --index-url %s %s && venv/bin/python -c 'import buildfleet_hello as h; print(h.__version__)'"
                        % (lab[url_var], lab["lab_pypi_package"]),
                        UV_CACHE_DIR=home + "/uv-cache", UV_PYTHON_DOWNLOADS="never", SSL_CERT_FILE=LAB_CA)
    assert result.rc == 0, result.stdout + result.stderr
    assert result.stdout.strip().endswith("1.0.0")
    new = mirror_requests("pypi")[before:]
    where = listener(lab[url_var])
    assert served(new, where, "GET", "/simple/%s/" % lab["lab_pypi_package"], 200, "uv/"), new
    assert served(new, where, "GET", "/packages/%s" % WHEEL, 200, "uv/"), new


@pytest.mark.parametrize("scheme", sorted(NPM_URLS))
@pytest.mark.parametrize("package_var", ["lab_npm_package", "lab_npm_scoped_package"])
def test_npm_view_reads_the_lab_packument(host, home, scheme, package_var):
    lab = lab_vars(host)
    url_var, cafile = NPM_URLS[scheme]
    package = lab[package_var]
    before = len(mirror_requests("npm"))
    result = as_builder(host, home, "npm view --json --registry %s %s --cache npm-cache %s name version dist.tarball"
                        % (lab[url_var], cafile, package))
    assert result.rc == 0, result.stdout + result.stderr
    view = json.loads(result.stdout)
    assert (view["name"], view["version"]) == (package, lab["lab_package_version"])
    # The registry names its tarballs on the listener the client asked.
    assert view["dist.tarball"].startswith(lab[url_var]), view
    new = mirror_requests("npm")[before:]
    assert served(new, listener(lab[url_var]), "GET", "/" + package.replace("/", "%2f"), 200, "npm/"), new


@pytest.mark.parametrize("scheme", sorted(NPM_URLS))
def test_npm_installs_both_lab_packages(host, home, scheme):
    lab = lab_vars(host)
    url_var, cafile = NPM_URLS[scheme]
    plain, scoped = lab["lab_npm_package"], lab["lab_npm_scoped_package"]
    before = len(mirror_requests("npm"))
    result = as_builder(host, home, "mkdir project && cd project && npm install --no-audit --no-fund"
                        " --cache ../npm-cache --registry %s %s %s %s"
                        " && node -e 'console.log(require(\"%s\")); console.log(require(\"%s\"))'"
                        % (lab[url_var], cafile, plain, scoped, plain, scoped))
    assert result.rc == 0, result.stdout + result.stderr
    assert "Hello from the buildfleet lab registry" in result.stdout
    assert "Hello from the @corp scope of the buildfleet lab registry" in result.stdout
    new = mirror_requests("npm")[before:]
    where = listener(lab[url_var])
    scope, name = scoped.split("/")
    assert served(new, where, "GET", "/%s/-/%s-1.0.0.tgz" % (plain, plain), 200, "npm/"), new
    assert served(new, where, "GET", "/%s/%s/-/%s-1.0.0.tgz" % (scope, name, name), 200, "npm/"), new


@pytest.mark.parametrize("scheme", sorted(NPM_URLS))
def test_the_lab_registry_has_no_uplink(host, home, scheme):
    lab = lab_vars(host)
    url_var, cafile = NPM_URLS[scheme]
    before = len(mirror_requests("npm"))
    result = as_builder(host, home, "npm view --registry %s %s --cache npm-cache %s version"
                        % (lab[url_var], cafile, NPM_ABSENT))
    assert result.rc != 0
    assert "E404" in result.stdout + result.stderr
    new = mirror_requests("npm")[before:]
    assert served(new, listener(lab[url_var]), "GET", "/" + NPM_ABSENT, 404, "npm/"), new


def test_pnpm_installs_both_lab_packages(host, home):
    if not lab_clients(host).get("pnpm"):
        pytest.skip("this image has no pnpm (see /etc/buildfleet/lab-clients)")
    lab = lab_vars(host)
    plain, scoped = lab["lab_npm_package"], lab["lab_npm_scoped_package"]
    before = len(mirror_requests("npm"))
    result = as_builder(host, home, "mkdir project && cd project && echo '{}' > package.json && pnpm add"
                        " --registry %s --store-dir ../pnpm-store %s %s && node -e 'console.log(require(\"%s\"))'"
                        % (lab["lab_npm_url"], plain, scoped, scoped))
    assert result.rc == 0, result.stdout + result.stderr
    assert "Hello from the @corp scope of the buildfleet lab registry" in result.stdout
    new = mirror_requests("npm")[before:]
    where = listener(lab["lab_npm_url"])
    scope, name = scoped.split("/")
    assert served(new, where, "GET", "/%s/-/%s-1.0.0.tgz" % (plain, plain), 200, "pnpm/"), new
    assert served(new, where, "GET", "/%s/%s/-/%s-1.0.0.tgz" % (scope, name, name), 200, "pnpm/"), new
