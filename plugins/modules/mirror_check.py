#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: buildfleet.mirrors contributors
# GNU General Public License v3.0+ (see LICENSES/GPL-3.0-or-later.txt or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: mirror_check
short_description: Prove from the host that its Go proxies, checksum database, registry mirrors and package indexes answer
version_added: 0.1.0
description:
  - Probes, from the managed host's own network position, every mirror a policy names, and reports for each one
    whether it answers, its HTTP status, its latency and, when it does not answer, why (timeout, refused connection,
    TLS or certificate error, name resolution, unexpected HTTP status).
  - Python package indexes (O(pypi_indexes)) and npm registries (O(npm_registries)) are probed in the same run, with
    the same deadline, each asked for a known project or package as pip or npm asks for it.
  - It is the gate of this collection's roles. Run it before writing any configuration, and nothing is written on a
    host whose mirrors do not answer.
  - All probes run at the same time in threads, so a host with ten mirrors of which three never answer costs about
    one O(timeout), not three. O(timeout) is a wall-clock deadline for each probe, whatever the mirror does.
  - The module makes its own connections, so that it can keep that deadline, and makes them as Ansible's URL layer
    does for M(ansible.builtin.uri); C(HTTP_PROXY), C(HTTPS_PROXY) and C(NO_PROXY) from the environment (an HTTPS
    mirror through a proxy is reached with a C(CONNECT) tunnel), Ansible's TLS settings with the CA bundle of
    O(ca_path) or the system's trust store (plus O(ca_data)), client certificates (O(client_cert)), and basic
    authentication from the URL's C(user:password@) (percent-decoded) or, without it, from O(credentials) for Go
    proxies and checksum databases, or from C(~/.netrc) (or the file C(NETRC) names).
  - Credentials in a URL (C(user:password@), C(token@), or a query parameter such as C(?token=)) never appear in the
    result, in a message or in the host's log. See RV(reachable_urls) for how such URLs are reported. Neither do
    the passwords of O(credentials) nor the certificates of O(ca_data).
  - It never changes anything; C(changed) is always C(false).
author:
  - buildfleet.mirrors maintainers (!UNKNOWN)
options:
  goproxy:
    description:
      - Go module proxies to probe, as a list with one GOPROXY entry per item, or as one GOPROXY string whose
        entries are separated by V(,) or V(|).
      - Each entry is an V(https://), V(http://) or V(file://) URL, or one of the keywords V(direct) and V(off).
        Keywords are not probed. They must come last; an entry after V(direct) or V(off) is an error, because the go
        command never uses it.
      - Without O(probe_module), a proxy is reachable when C(GET <proxy>) gets any HTTP answer below 500, except 401
        and 403, on which the go command fails too (see O(credentials)).
      - A V(file://) proxy is checked on the host's file system (the directory, or the module's C(@v/list) file
        with O(probe_module)).
    type: raw
  probe_module:
    description:
      - A module path that every proxy in O(goproxy) must serve, for example V(corp.example.com/platform/lib).
      - Each proxy must answer C(GET <proxy>/<module>/@v/list) with status 200. Uppercase letters are case-escaped
        as the module proxy protocol requires (V(github.com/Azure/x) is asked as C(github.com/!azure/x)).
    type: str
  gosumdb:
    description:
      - A GOSUMDB value in any of its forms, V(name), V(name+hash+key), V(name+hash+key url) or V(off).
        The V(name) form is accepted only for V(sum.golang.org) (and its alias V(sum.golang.google.cn)), the
        databases whose key the go command knows.
      - The database is probed at C(<url>/latest), where the URL is the one given after the key, or
        C(https://<name>).
      - For each proxy in O(goproxy), C(GET <proxy>/sumdb/<name>/supported) tells whether the proxy serves the
        database (RV(probes[].sumdb_supported)). As in the go command, the database counts as reachable when it
        answers directly or when a reachable proxy serves it, unless the value names its URL, which Go always uses
        directly.
      - V(off) probes nothing.
    type: str
  registry_mirrors:
    description:
      - Docker registry mirror URLs (the C(registry-mirrors) of C(daemon.json)) to probe with C(GET <url>/v2/).
      - A mirror is reachable when it answers like a registry; 200 or 401 (a registry that wants a login is up)
        with the C(Docker-Distribution-API-Version) header, or, without that header, 200 with a JSON object as body
        (C({}), as Docker's registry sends). A web server that answers 200 with a page, or 401 without the header,
        is not a registry mirror, and the error says so. The header is reported in RV(probes[].api_version).
      - A registry mirror must answer C(/v2/) on its own host; a redirect to another host is not followed.
      - URLs that dockerd refuses are refused here too, before anything is probed, with the reason; a scheme other
        than V(https) or V(http), a query, a fragment, or credentials (C(user:password@)).
    type: list
    elements: str
  registries:
    description:
      - Mirrors of registries other than Docker Hub, as a mapping of the upstream registry name to its list of
        mirror URLs (see the examples). Each mirror is probed
        like those of O(registry_mirrors), C(GET <url>/v2/), and with O(probe_images) it must also serve that
        registry's probe image.
      - A registry name is C(host[:port]) as image references write it (V(ghcr.io), V(quay.io),
        V(registry.corp.example:5000)); a scheme, a path, credentials or whitespace are refused. Docker Hub
        (V(docker.io), V(index.docker.io), V(registry-1.docker.io)) is refused here; give its mirrors in
        O(registry_mirrors).
      - Mirror URLs follow the rules of O(registry_mirrors), O(registry_allow_path) included.
      - The same URL listed for two registries is probed once for each of them (two entries in RV(probes)), because
        a mirror may serve one registry's images and not another's.
      - An empty mapping probes nothing.
    type: dict
  probe_images:
    description:
      - An image whose manifest every mirror of a registry must serve, as a mapping of the registry to an image
        reference on it, for example V(docker.io) to V(library/hello:latest) and V(ghcr.io) to V(acme/hello:1.2).
        A mirror that answers C(/v2/) but does not serve that image is then unreachable, like a dead one.
      - A key is V(docker.io), which applies to the mirrors of O(registry_mirrors), or a key of O(registries). Any
        other key, an alias of Docker Hub, or V(docker.io) without O(registry_mirrors) is an error.
      - The reference is the image's path on that registry, without the registry, with an optional C(:tag) and/or
        C(@digest) (V(library/hello), V(acme/tools:1.2), V(acme/x@sha256:...)); no tag and no digest means
        C(:latest), and on Docker Hub a one-component name gets C(library/) (V(hello) is C(library/hello)).
        Repository names are lower case; tags and digests follow the distribution reference grammar.
      - 'After C(/v2/) answered, the probe sends C(HEAD <mirror>/v2/<repository>/manifests/<tag or digest>),
        with C(?ns=<registry>) for registries other than Docker Hub (as containerd asks a mirror), accepting the
        OCI image index and manifest and the Docker manifest list and v2 manifest. A mirror that refuses C(HEAD)
        (405, 501) is asked with C(GET), reading none of the manifest. 200 means it serves the image
        (RV(probes[].image), RV(probes[].digest)); any other answer makes it unreachable, with the registry''s error
        code (such as C(MANIFEST_UNKNOWN)) in the message when its error body gives one.'
      - 'A mirror that answers 401 with a C(Bearer) challenge gets the registry''s token flow: C(GET <realm>) with
        C(service) and C(scope=repository:<repository>:pull) (or the challenge''s own scope), then the manifest again
        with the token. The realm must be an http or https URL, and not http for an https mirror. The mirror''s
        credentials (the URL''s C(user:password@), or C(~/.netrc)) go to the realm only when it is on the mirror''s
        own host and port; any other token service is asked anonymously. The token never appears in the result.'
      - A C(Basic) challenge is answered with the credentials the probe sends anyway (URL or C(~/.netrc)).
      - All of it, token included, happens within the probe's O(timeout) and its O(retries).
    type: dict
  pypi_indexes:
    description:
      - Python package indexes (the simple API of PEP 503 and PEP 691, as pip's C(index-url) and C(extra-index-url)
        and uv's C([[index]]) name them, such as V(https://pypi.corp.example/simple/)) to probe.
      - Each index is asked C(GET <index>/<project>/) for the project of O(pypi_probe_package), with the C(Accept)
        header pip sends. It is reachable when it answers 200 with a page pip reads; a PEP 691 JSON page
        (C(application/vnd.pypi.simple.v1+json)) with a C(files) list that is not empty, or a PEP 503 HTML page
        (C(text/html) or C(application/vnd.pypi.simple.v1+html)) with at least one link to a distribution file.
        Anything else (a 404, a login or error page, C(application/json)) is unreachable, with the reason.
      - A redirect to another host is followed, as pip follows it. C(~/.netrc) is read, as pip reads it.
      - The URLs follow the rules of the files pip and uv read (those of the C(buildfleet.mirrors) filter
        C(validate_python_mirrors)); V(https) or V(http) (a probe writes nothing, so C(http) needs no opt-in
        here), a host, no query, no fragment, no whitespace, quotes, C($), C(;), C(#) or backslash, and no
        credentials (C(user:password@) or a secret-looking query parameter), which are refused with the value
        masked. The same index twice is refused.
      - An empty list is an error; leave the option out instead.
    type: list
    elements: str
  pypi_probe_package:
    description:
      - The Python project every index of O(pypi_indexes) must list with at least one file, as PEP 508 spells it
        (V(pip), V(typing_extensions)); it is asked for by its PEP 503 normalised name (V(typing-extensions)).
    type: str
    default: pip
  npm_registries:
    description:
      - npm registries (the C(registry) and C(@scope:registry) of an npmrc) to probe, in the order given.
      - An item is a registry URL, probed with O(npm_probe_package), or a mapping with the keys C(url) and, optionally,
        C(package), so that a scope's registry that serves only its scope is probed with a package of that scope
        (see the examples).
      - Each registry is asked C(GET <registry>/<package>) (a scoped package as C(@scope%2fname), as npm asks) with the
        C(Accept) header npm sends, and is reachable when it answers 200 with a packument (a JSON object with a
        C(versions) object that is not empty, for that package).
      - C(~/.netrc) is not read, because npm does not read it. A registry that asks for credentials is unreachable.
      - The URLs follow the rules of the files npm reads (those of the C(buildfleet.mirrors) filter
        C(validate_node_mirrors)), as for O(pypi_indexes); the same URL twice with the same package is refused.
      - An empty list is an error; leave the option out instead.
    type: list
    elements: raw
  npm_probe_package:
    description:
      - The npm package every registry of O(npm_registries) must serve, unless its item names a C(package) of its own.
      - A package name as npm accepts it for a new package (V(npm), V(@corp/tool)).
    type: str
    default: npm
  registry_allow_path:
    description:
      - Accept a path in a registry mirror URL, such as V(https://mirror.example.com/dockerhub).
      - Docker Engine 24 and newer accept such a path; older engines refuse it, so leave this V(false) unless every
        engine that will use the mirrors is 24 or newer.
    type: bool
    default: false
  timeout:
    description:
      - The deadline of each probe, in seconds of wall-clock time from the probe's start; name resolution,
        connecting, the TLS handshake, the proxy tunnel, every read, every redirect, every retry and the back-off
        between retries all end by it, whatever the server does (a server that trickles its answer byte by byte,
        or sends C(100 Continue) forever, is cut off at the deadline). This is not the per-read timeout of
        O(ansible.builtin.uri#module:timeout). A probe whose deadline passes is unreachable with the error
        C(timed out after <timeout>s).
      - 'What bounds the whole check: when every probe can start at once (the default O(max_workers)), it ends
        within O(timeout), plus a quarter of a second. With more probes than O(max_workers), probes wait for a free
        worker, and no probe runs past 1.5 x O(timeout) from the start of the check: a probe that starts late has
        only what is left of that (its error then says so), and a probe still waiting then is not started and is
        reported unreachable (C(not started: ...)). So the whole check ends within 1.5 x O(timeout), plus a quarter
        of a second.'
      - A finite number above 0, at most 3600.
    type: float
    default: 5
  retries:
    description:
      - How many more times to try a probe that got no HTTP answer or a 5xx answer. Any other answer is final.
      - Retries back off, 0.2 seconds before the first, doubling each time, at most 2 seconds, and happen only
        while the probe's O(timeout) deadline leaves time for them; a mirror that never answers uses its whole
        deadline in the first attempt.
    type: int
    default: 0
  max_workers:
    description:
      - How many probes may run at the same time. By default, all of them. See O(timeout) for what a smaller
        number costs.
    type: int
  require:
    description:
      - When the module fails.
      - V(all) fails when any probed mirror does not answer.
      - V(any) fails when, for one of the kinds probed (goproxy, gosumdb, registry, pypi, npm), no mirror answers; for
        registry mirrors, when no mirror of one of the registries (Docker Hub for O(registry_mirrors), each key of
        O(registries)) answers; for npm registries, when no registry probed with one of the probe packages answers
        (a scope's registry probed with a package of its scope is no alternative to the main registry).
      - The indexes of O(pypi_indexes) are one group for V(any); pip merges what every index offers, so an index
        that does not answer is rarely harmless. A role that writes them all should use V(all).
      - V(none) never fails for an unreachable mirror; use the returned lists to decide, for example to keep only
        the mirrors that answer.
      - When the module fails, its message lists each unreachable URL (credentials redacted) and its reason.
    type: str
    choices: [all, any, none]
    default: all
  validate_certs:
    description:
      - Verify the TLS certificate of HTTPS mirrors. Leave it V(true); use O(ca_path) for a private CA instead.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of CA certificates to verify HTTPS mirrors with, instead of the system's trust store.
    type: path
  ca_data:
    description:
      - PEM text of one or more CA certificates trusted for HTTPS mirrors B(in addition to) the system's trust store
        (or O(ca_path)), such as the corporate CA that a role is about to install, so that the gate proves the
        mirrors with the trust they will have.
      - Each certificate must be a CA certificate (basicConstraints CA:TRUE, keyUsage with keyCertSign when it has
        one) that is valid now; a private key, text outside the C(BEGIN)/C(END) blocks other than blank and C(#)
        lines, or the same certificate twice is refused, naming O(ca_data) and the certificate's position, never its
        body.
      - An empty text, or one of whitespace only, adds nothing.
      - A mirror whose certificate no trusted CA signs is unreachable with C(TLS certificate verification failed).
      - Unused with O(validate_certs=false).
      - Python 3.13 and newer verify strictly (X509_STRICT); a CA whose basicConstraints are not critical, or that
        has no keyUsage, is then refused by this module (a warning says so) while Go, curl and containerd accept it.
    type: str
  credentials:
    description:
      - Credentials for Go module proxies and checksum databases, as the go command reads them from a netrc file
        (such as the one the C(buildfleet.mirrors.go_proxy) role writes from C(go_proxy_credentials)).
      - Each request of a O(goproxy) or O(gosumdb) probe (the version list of O(probe_module),
        C(/sumdb/<name>/supported), C(/latest)) to an V(https) URL whose host, or host and port, matches a
        O(credentials[].machine) sends its login and password as HTTP basic authentication, as Go does; a
        V(machine) without a port matches every port of its host (as Go before 1.24 reads it), one with a port that
        port only (Go 1.24 and newer). Nothing is ever sent over V(http), nor to another host a redirect names.
      - Once O(credentials) is a non-empty list, C(~/.netrc) is not read for these probes, as the go command does not
        read it once C(NETRC) names another file. Credentials in a URL (C(user:password@)) still come first.
      - A proxy or checksum database that answers 401 or 403 is unreachable, with the reason C(refused the
        credentials for machine <machine> (401)) when credentials were sent, or C(asks for credentials (401)) when
        none were.
      - Registry mirror probes do not use them; they keep the URL's credentials, C(~/.netrc) and the registry's
        token flow.
      - An entry that matches no https URL probed is not used, and a warning says so. Two entries that give one
        host different credentials are refused (Go uses only the first). Logins and passwords must be what a netrc
        line can carry (no whitespace, quotes, backslashes or control characters).
      - The passwords are never shown (each is a secret of the task, masked in all output).
    type: list
    elements: dict
    suboptions:
      machine:
        description: V(host) or V(host:port) (V([v6]) or V([v6]:port) for IPv6), as in a netrc file.
        type: str
        required: true
      login:
        description: The user name.
        type: str
        required: true
      password:
        description: The password or token.
        type: str
        required: true
  client_cert:
    description:
      - PEM file with the client certificate (and possibly its key) for mirrors that ask for one.
    type: path
  client_key:
    description:
      - PEM file with the private key of O(client_cert), when that file does not hold it.
    type: path
  use_proxy:
    description:
      - Honour C(HTTP_PROXY), C(HTTPS_PROXY) and C(NO_PROXY) from the module's environment. Set the environment
        with the C(environment) keyword of the task.
    type: bool
    default: true
notes:
  - Give at least one of O(goproxy), O(gosumdb), O(registry_mirrors), O(registries), O(pypi_indexes) and
    O(npm_registries). An empty list is an error.
  - Probes are sent from the managed host. Run it against every host whose configuration you are about to change,
    not once from the controller, so that each host's own firewall, DNS and proxy settings are tested.
  - URL credentials are also registered as secrets of the task, so Ansible masks them in the echo of the module
    arguments too. The module does not write its arguments to the host's log at all.
  - Basic authentication from a URL's C(user:password@) (or O(credentials), or C(~/.netrc)) is sent with the first
    request, as the go command does, and after a redirect only to the same host and port (or from C(http) port 80
    to C(https) port 443 of the same host), never to another host.
  - 'Redirects: at most 5 are followed. A redirect from C(https) to C(http), or to any scheme other than C(http) and
    C(https), is never followed; the probe is unreachable and its error says where the mirror pointed (credentials
    redacted). A redirect to another host is followed for O(goproxy) and O(gosumdb) probes, as the go command does,
    and reported in RV(probes[].redirected_to); for O(registry_mirrors) it is not followed.'
  - 'A probe reads little: the status line and headers of each answer (at most 64 KiB), at most 64 KiB of the body
    of a registry''s C(/v2/) answer and of a token service''s answer, at most 16 KiB of a manifest request''s error
    body, at most 1 MiB of a simple-index page or a packument (a larger one is judged by its start), and nothing of
    any other body (a manifest itself is never read); a redirect''s body is never read.'
  - A manifest request follows a redirect to another host (as the engines do), without credentials or token; a
    token service's redirect is not followed.'
seealso:
  - module: ansible.builtin.uri
  - name: The GOPROXY protocol
    description: What a Go module proxy serves, including case-escaped module paths.
    link: https://go.dev/ref/mod#goproxy-protocol
  - name: Checksum database
    description: GOSUMDB forms and how the go command reaches a checksum database through a proxy.
    link: https://go.dev/ref/mod#checksum-database
  - name: Registry mirror configuration
    description: How dockerd uses registry-mirrors for Docker Hub.
    link: https://docs.docker.com/docker-hub/image-library/mirror/
  - name: Simple repository API
    description: The index pages pip and uv read (PEP 503 HTML and PEP 691 JSON).
    link: https://packaging.python.org/en/latest/specifications/simple-repository-api/
  - name: npm registry
    description: How npm finds the registry of a package and of a scope.
    link: https://docs.npmjs.com/cli/using-npm/registry
  - name: Distribution token authentication
    description: The Bearer token flow a registry asks for with a 401 challenge.
    link: https://distribution.github.io/distribution/spec/auth/token/
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action_group:
    description: Use C(group/buildfleet.mirrors.mirrors) in C(module_defaults) to set defaults for this module.
    support: full
    membership:
      - buildfleet.mirrors.mirrors
  check_mode:
    support: full
    details: The module only reads; it probes in check mode exactly as in a normal run.
  diff_mode:
    support: none
  idempotent:
    description: When run twice with the same options, the module reports the same result (it never changes anything).
    support: full
  platform:
    platforms: posix
  action:
    support: none
  async:
    support: full
  bypass_host_loop:
    support: none
"""

EXAMPLES = r"""
- name: Gate the host, every Go proxy must serve our private module and every registry mirror must answer
  buildfleet.mirrors.mirror_check:
    goproxy:
      - https://goproxy.corp.example.com
      - https://athens.corp.example.com
      - direct
    probe_module: corp.example.com/platform/lib
    gosumdb: sum.golang.org
    registry_mirrors:
      - https://dockerhub-mirror.corp.example.com
    ca_path: /etc/pki/corp/ca.pem
    timeout: 3

- name: Gate a private proxy with the corporate CA and the credentials that are about to be installed
  buildfleet.mirrors.mirror_check:
    goproxy: [https://goproxy.corp.example.com:8443]
    probe_module: corp.example.com/platform/lib
    ca_data: "{{ lookup('ansible.builtin.file', 'files/corp-root-ca.pem') }}"
    credentials:
      - machine: goproxy.corp.example.com:8443
        login: ci-builder
        password: "{{ vault_goproxy_password }}"

- name: Check a GOPROXY string exactly as it will be exported
  buildfleet.mirrors.mirror_check:
    goproxy: "https://goproxy.corp.example.com|https://proxy.golang.org,off"

- name: Probe without failing, to keep only the mirrors that answer
  buildfleet.mirrors.mirror_check:
    goproxy: "{{ go_proxy_urls }}"
    registry_mirrors: "{{ docker_mirrors_registry_mirrors }}"
    require: none
  register: __mirrors_gate

- name: Warn about the registry mirrors that are left out (URLs shown with credentials redacted)
  ansible.builtin.debug:
    msg: "Left out: {{ __mirrors_gate.unreachable_urls.registry | join(', ') }}"
  when: __mirrors_gate.unreachable_urls.registry | length > 0

- name: Keep the proxies that answered, as the caller wrote them (credentials included), picked by position
  ansible.builtin.set_fact:
    _go_proxy_reachable_urls: >-
      {{ __mirrors_gate.probes
         | selectattr('kind', 'equalto', 'goproxy')
         | selectattr('reachable')
         | map(attribute='index')
         | map('extract', go_proxy_urls)
         | list }}

- name: A private checksum database, reached through an egress proxy with the corporate CA and a client certificate
  buildfleet.mirrors.mirror_check:
    goproxy: [https://goproxy.corp.example.com]
    gosumdb: "sum.corp.example.com+a6d35feb+AajXOycQ/pKWhk/OVpEEm1VG1WXnoM+0UJsPw7OzYbO5 https://sum.corp.example.com"
    ca_path: /etc/pki/corp/ca.pem
    client_cert: /etc/pki/corp/host.pem
    client_key: /etc/pki/corp/host.key
  environment:
    HTTPS_PROXY: http://egress.corp.example.com:3128
    NO_PROXY: localhost,127.0.0.1

- name: Every registry mirror must serve a known image, not only answer /v2/
  buildfleet.mirrors.mirror_check:
    registry_mirrors:
      - https://dockerhub-mirror.corp.example.com
    registries:
      ghcr.io:
        - https://ghcr-mirror.corp.example.com
      registry.corp.example:5000:
        - https://mirror.corp.example.com/corp
    registry_allow_path: true
    probe_images:
      docker.io: library/hello:latest
      ghcr.io: acme/hello:1.2

- name: Gate a Python index and an npm registry, the corporate scope's registry with a package of its scope
  buildfleet.mirrors.mirror_check:
    pypi_indexes:
      - https://pypi.corp.example/simple/
      - https://pypi-extra.corp.example/simple/
    pypi_probe_package: requests
    npm_registries:
      - https://npm.corp.example/
      - url: https://npm-corp.corp.example/
        package: "@corp/tool"
    timeout: 3

- name: At least one mirror of each kind must answer, trying each probe twice more on errors
  buildfleet.mirrors.mirror_check:
    goproxy: "{{ go_proxy_urls }}"
    registry_mirrors: "{{ docker_mirrors_registry_mirrors }}"
    require: any
    retries: 2
    timeout: 2
"""

RETURN = r"""
msg:
  description:
    - One line, how many mirrors answered, per kind.
    - When the module fails, why; for an unmet O(require), each unreachable URL (credentials redacted) and its reason.
  returned: always
  type: str
  sample: 3 of 4 mirrors reachable (goproxy 1/2, gosumdb 1/1, registry 1/1)
  # pypi and npm are counted too when they were probed: 2 of 2 mirrors reachable (pypi 1/1, npm 1/1)
probes:
  description:
    - One entry per probed mirror, in this order; the proxies of O(goproxy), the checksum database of O(gosumdb),
      the mirrors of O(registry_mirrors), the mirrors of each registry of O(registries), the indexes of
      O(pypi_indexes), then the registries of O(npm_registries), each in the order given. Keywords and V(off) are
      not probed.
  returned: when the mirrors were probed, also when the module fails because O(require) is not met
  type: list
  elements: dict
  contains:
    kind:
      description: What the mirror is.
      type: str
      choices: [goproxy, gosumdb, registry, pypi, npm]
      sample: goproxy
    index:
      description:
        - Position of the URL in its option's list (0-based; for a GOPROXY string, in its entries; for
          O(registries), in the list of its RV(probes[].registry)), so a role can pick the caller's own string with
          the P(ansible.builtin.extract#filter) filter. Always V(0) for gosumdb.
        - For npm, the position of the item in O(npm_registries), whether a URL or a mapping.
      type: int
      sample: 0
    url:
      description: The mirror URL, credentials replaced by C(***).
      type: str
      sample: https://***@goproxy.corp.example.com
    request_url:
      description:
        - The URL that was requested (credentials replaced by C(***)), or the local path for a file proxy.
        - For a registry mirror with a probe image, the manifest's URL once C(/v2/) has answered.
      type: str
      sample: https://***@goproxy.corp.example.com/corp.example.com/platform/lib/@v/list
    reachable:
      description:
        - Whether the mirror answered as required.
        - For gosumdb, whether the go command can reach the database, directly or through a proxy.
      type: bool
      sample: true
    status:
      description:
        - HTTP status of the last answer; null when no HTTP answer came, or for a file proxy.
        - For a registry mirror with a probe image, the manifest's status once C(/v2/) has answered (never the token
          service's).
      type: int
      sample: 200
    latency_ms:
      description: Milliseconds the last attempt took, until the answer or the failure; null for a probe that was not started.
      type: int
      sample: 12
    error:
      description: Why the mirror is not reachable; null when it is.
      type: str
      sample: timed out after 5s
    attempts:
      description: How many times the probe was tried (1 + retries used); 0 for a probe that was not started.
      type: int
      sample: 1
    redirected_to:
      description:
        - The URL that gave the answer when the mirror redirected the probe (credentials replaced by C(***)), or
          null when it answered itself. A redirect that was not followed is in RV(probes[].error) instead.
      type: str
      sample: https://storage.corp.example.com/goproxy/corp.example.com/platform/lib/@v/list
    sumdb_supported:
      description:
        - goproxy only. Whether the proxy serves the checksum database of O(gosumdb)
          (C(/sumdb/<name>/supported) answered 200). Null without O(gosumdb), or when the proxy did not answer.
      type: bool
      returned: for goproxy
      sample: true
    api_version:
      description: registry only. The C(Docker-Distribution-API-Version) header of the C(/v2/) answer, or null.
      type: str
      returned: for registry
      sample: registry/2.0
    registry:
      description:
        - registry only. The registry the mirror stands in for; V(docker.io) for O(registry_mirrors), else the key of
          O(registries).
      type: str
      returned: for registry
      sample: ghcr.io
    image:
      description:
        - registry only. The probe image asked of this mirror, as a whole name (C(<registry>/<repository>:<tag>),
          C(@<digest>) appended when given); null without a probe image for its registry.
      type: str
      returned: for registry
      sample: ghcr.io/acme/hello:latest
    digest:
      description:
        - registry only. The C(Docker-Content-Digest) of the probe image's manifest as the mirror served it; null
          without a probe image, when the mirror did not serve it, or when it sent no such header.
      type: str
      returned: for registry
      sample: sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4
    package:
      description:
        - pypi and npm only. The project asked of the index, PEP 503 normalised (V(typing-extensions)), or the package
          asked of the registry (the item's C(package), else O(npm_probe_package)).
      type: str
      returned: for pypi and npm
      sample: pip
    name:
      description: gosumdb only. The checksum database name.
      type: str
      returned: for gosumdb
      sample: sum.golang.org
    direct:
      description: gosumdb only. Whether the database answered directly at its URL.
      type: bool
      returned: for gosumdb
      sample: false
    proxied_by:
      description:
        - gosumdb only. Reachable proxies that serve the database (credentials redacted). Empty when O(gosumdb)
          names its URL, because the go command then never uses a proxy for it.
      type: list
      elements: str
      returned: for gosumdb
      sample: [https://goproxy.corp.example.com]
reachable_urls:
  description:
    - The mirrors that answered, per kind, in the order given.
    - Each URL is the caller's own string, so a role can render the list of mirrors that answer, except a URL that
      carries credentials, which is returned redacted (C(***)). To keep such URLs, pick the caller's strings by
      RV(probes[].index) instead (see the examples).
    - The gosumdb list holds the database URL.
    - The keys V(goproxy), V(gosumdb) and V(registry) are always there (with empty lists for kinds not asked for);
      V(pypi) and V(npm) only when O(pypi_indexes) or O(npm_registries) is given, so a check without them returns
      exactly what it returned before those options existed.
  returned: when the mirrors were probed, also when the module fails because O(require) is not met
  type: dict
  contains:
    goproxy:
      description: Proxies of O(goproxy) that answered.
      type: list
      elements: str
    gosumdb:
      description: The database URL, when it is reachable.
      type: list
      elements: str
    registry:
      description:
        - Mirrors of O(registry_mirrors) and of O(registries) that answered (and served the probe image, if any).
        - A URL listed for two registries is listed once per registry it answered for; one unreachable for one
          registry is in RV(unreachable_urls) too. RV(probes[].registry) tells which.
      type: list
      elements: str
    pypi:
      description: Indexes of O(pypi_indexes) that served the page of O(pypi_probe_package).
      type: list
      elements: str
      returned: when O(pypi_indexes) is given
    npm:
      description:
        - Registries of O(npm_registries) that served the packument of their probe package (for a mapping item, its
          C(url)).
        - A URL listed twice (with two packages) is listed once per package it served; RV(probes[].package) tells
          which.
      type: list
      elements: str
      returned: when O(npm_registries) is given
  sample:
    goproxy: [https://goproxy.corp.example.com]
    gosumdb: [https://sum.golang.org]
    registry: [https://dockerhub-mirror.corp.example.com]
unreachable_urls:
  description: The mirrors that did not answer, per kind, in the order given; as RV(reachable_urls).
  returned: when the mirrors were probed, also when the module fails because O(require) is not met
  type: dict
  contains:
    goproxy:
      description: Proxies of O(goproxy) that did not answer.
      type: list
      elements: str
    gosumdb:
      description: The database URL, when it is not reachable.
      type: list
      elements: str
    registry:
      description: Mirrors of O(registry_mirrors) and of O(registries) that did not answer (or did not serve the image).
      type: list
      elements: str
    pypi:
      description: Indexes of O(pypi_indexes) that did not serve the page of O(pypi_probe_package).
      type: list
      elements: str
      returned: when O(pypi_indexes) is given
    npm:
      description: Registries of O(npm_registries) that did not serve the packument of their probe package.
      type: list
      elements: str
      returned: when O(npm_registries) is given
  sample:
    goproxy: [https://athens.corp.example.com]
    gosumdb: []
    registry: []
"""

import math
import re
import ssl

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import make_context

from ansible_collections.buildfleet.mirrors.plugins.module_utils._certificates import (
    validate_ca_bundle,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_credentials import (
    CredentialTarget,
    validate_go_credentials,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._go_rules import (
    escape_module_path,
    parse_goproxy,
    parse_gosumdb,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._node_rules import (
    validate_package_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._python_rules import (
    validate_project_name,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._redact import (
    has_credentials,
    redact_url,
    url_secrets,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._registry_rules import (
    validate_probe_images,
    validate_registries,
    validate_registry_mirrors,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._values import (
    PolicyError,
)
from ansible_collections.buildfleet.mirrors.plugins.module_utils._probe import (
    REQUIREMENTS,
    HttpFetcher,
    check_mirrors,
    parse_npm_registries,
    parse_pypi_indexes,
    unmet_requirement,
)

USER_AGENT = 'ansible-buildfleet.mirrors.mirror_check'
# One probe's deadline may not exceed an hour: a gate that waits longer has stopped being a gate.
MAX_TIMEOUT = 3600


def build_fetch(validate_certs=True, ca_path=None, client_cert=None, client_key=None, use_proxy=True, ca_pem=None):
    """Return the probes' ``fetch``: connections of its own within each probe's deadline, safe from many threads.

    The TLS context is Ansible's own (``make_context``: the CA bundle of
    ``ca_path`` or the system's trust store, the client certificate,
    ``validate_certs``), built once for every probe: loading the trust store per
    request costs more CPU than a probe. ``ca_pem`` (checked PEM text) is
    trusted on top of that (``make_context``'s own ``cadata`` is dropped when
    ``ca_path`` is given, so it is loaded here).
    """
    context = make_context(cafile=ca_path, validate_certs=validate_certs, client_cert=client_cert,
                           client_key=client_key)
    if ca_pem and validate_certs:
        try:
            context.load_verify_locations(cadata=ca_pem)
        except ssl.SSLError as error:  # checked PEM that this OpenSSL still refuses (a key type it does not know)
            raise PolicyError('cannot load the CA certificates of ca_data: %s' % (error.reason or error)) from None
    return HttpFetcher(context, use_proxy=use_proxy, user_agent=USER_AGENT)


def parse_ca_data(value):
    """Check O(ca_data); return (normalised PEM or None, the certificates' dicts). Raise PolicyError naming it."""
    if value is None or not value.strip():
        return None, []
    checked = validate_ca_bundle(value, 'ca_data')
    return checked['pem'], checked['certificates']


def strict_verification_warnings(context, certificates):
    """Warnings for the CAs of O(ca_data) that a strictly verifying context (Python 3.13+) refuses to chain to.

    ``certificates`` are the dicts of validate_ca_bundle; Go, curl and containerd do not verify strictly, so the
    gate would refuse a mirror they accept.
    """
    if not getattr(context, 'verify_flags', 0) & getattr(ssl, 'VERIFY_X509_STRICT', 0):
        return []
    return ['ca_data certificate %s: %s; this Python verifies strictly (X509_STRICT) and refuses what it signed, '
            'while Go, curl and containerd accept it'
            % (certificate['subject'], '; '.join(certificate['strict_findings']))
            for certificate in certificates if certificate['strict_findings']]


def parse_credentials(credentials, goproxy_urls, sumdb):
    """Check O(credentials) as the go command will read them; return (GoCredential list, entries matching no URL).

    The list is None when no credentials are given (an empty list too): the probes then read ~/.netrc. Each entry
    is matched against the https proxies and checksum database probed, with the rules of the role's netrc
    (``validate_go_credentials``); an entry that matches none is kept aside (a warning), not refused: the
    list may be a whole policy's and this check only part of it.
    """
    if not credentials:
        return None, []
    targets = [CredentialTarget(url, 'goproxy') for url in goproxy_urls]
    if sumdb is not None:
        targets.append(CredentialTarget(sumdb.url, 'gosumdb'))
    # First every entry with its own machine as a target too: the checks of each entry and the conflicts between
    # them, naming each by its position; validate_go_credentials refuses an entry that matches no URL, and here
    # such an entry is only unused.
    own = [CredentialTarget('https://' + entry['machine'], 'credentials') for entry in credentials
           if isinstance(entry, dict) and isinstance(entry.get('machine'), str)]
    validate_go_credentials(credentials, targets + own, 'credentials')
    # Then the netrc lines as the role writes them: only for the https URLs each entry matches (a machine with a
    # port of its own would otherwise get a port-less line that old Go sends to every port of the host).
    used, unused = [], []
    for index, entry in enumerate(credentials):
        try:
            validate_go_credentials([entry], targets, 'credentials')
        except PolicyError:
            unused.append('credentials[%d] (machine %s)' % (index, entry['machine']))
        else:
            used.append(entry)
    return validate_go_credentials(used, targets, 'credentials'), unused


def parse_options(params):
    """Turn the module options into check_mirrors arguments; raise PolicyError on a value Go or dockerd refuses.

    ``unused_credentials`` (the entries of O(credentials) that match no URL probed) is for a warning, not for
    check_mirrors.
    """
    goproxy_urls = []
    if params['goproxy'] is not None:
        goproxy_urls = [entry.value for entry in parse_goproxy(params['goproxy'], 'goproxy') if not entry.is_keyword]
    if params['probe_module'] is not None:
        escape_module_path(params['probe_module'], 'probe_module')
    sumdb = parse_gosumdb(params['gosumdb'], 'gosumdb') if params['gosumdb'] is not None else None
    registry_urls = []
    if params['registry_mirrors'] is not None:
        validate_registry_mirrors(params['registry_mirrors'], 'registry_mirrors', params['registry_allow_path'])
        registry_urls = list(params['registry_mirrors'])
    registries = validate_registries(params['registries'], 'registries', params['registry_allow_path'])
    probe_images = validate_probe_images(params['probe_images'], 'probe_images', registries,
                                         params['registry_mirrors'] is not None)
    if not math.isfinite(params['timeout']):
        raise PolicyError('timeout must be a finite number of seconds, got %s' % params['timeout'])
    for option, minimum in (('timeout', 0.001), ('retries', 0), ('max_workers', 1)):
        if params[option] is not None and params[option] < minimum:
            raise PolicyError('%s must be at least %g, got %g' % (option, minimum, params[option]))
    if params['timeout'] > MAX_TIMEOUT:
        raise PolicyError('timeout must be at most %d seconds (the deadline of one probe), got %g'
                          % (MAX_TIMEOUT, params['timeout']))
    if not (goproxy_urls or sumdb or registry_urls or registries) and params['goproxy'] is None \
            and params['gosumdb'] is None and params['pypi_indexes'] is None and params['npm_registries'] is None:
        raise PolicyError('registries is empty and no other option names a mirror; give at least one of goproxy, '
                          'gosumdb, registry_mirrors, registries, pypi_indexes and npm_registries')
    pypi_project = validate_project_name(params['pypi_probe_package'], 'pypi_probe_package')
    npm_package = validate_package_name(params['npm_probe_package'], 'npm_probe_package')
    pypi_indexes = parse_pypi_indexes(params['pypi_indexes'])
    npm_registries = parse_npm_registries(params['npm_registries'], npm_package)
    credentials, unused_credentials = parse_credentials(params['credentials'], goproxy_urls, sumdb)
    return dict(pypi_indexes=pypi_indexes, npm_registries=npm_registries, pypi_project=pypi_project,
                npm_package=npm_package,
                unused_credentials=unused_credentials, goproxy_urls=goproxy_urls, probe_module=params['probe_module'],
                sumdb=sumdb,
                registry_urls=registry_urls, timeout=params['timeout'], retries=params['retries'],
                max_workers=params['max_workers'], registries=registries, probe_images=probe_images,
                credentials=credentials)


def urls_in(option, value):
    """Every piece of an option's value that may be a URL: GOPROXY entries, the URL of a GOSUMDB value, list items.

    Split here rather than trusted to url_secrets, which reads one URL: a
    credential in the second GOPROXY entry, or in GOSUMDB's "key url" form,
    must be masked too, also when the value is refused later.
    """
    items = value if isinstance(value, list) else [value]
    pieces = []
    for item in items:
        if not isinstance(item, str):
            continue
        if option == 'goproxy':
            pieces.extend(re.split(r'[,|]', item))
        elif option == 'gosumdb':
            pieces.extend(item.split())
        else:
            pieces.append(item)
        pieces.append(item)  # and the whole value, for whatever url_secrets finds in it
    return [piece for piece in pieces if piece]


def register_url_secrets(module):
    """Hand every credential found in a URL option to Ansible, which then masks it in all output."""
    for option in ('goproxy', 'gosumdb', 'registry_mirrors', 'pypi_indexes'):
        for piece in urls_in(option, module.params[option]):
            module.no_log_values.update(url_secrets(piece))
    npm_registries = module.params['npm_registries']
    for item in (npm_registries if isinstance(npm_registries, list) else ()):
        for piece in urls_in('npm_registries', item.get('url') if isinstance(item, dict) else item):
            module.no_log_values.update(url_secrets(piece))
    registries = module.params['registries']
    for registry, urls in (registries.items() if isinstance(registries, dict) else ()):
        for piece in urls_in('registries', urls) + urls_in('registries', registry):
            module.no_log_values.update(url_secrets(piece))
    # Ansible masks no_log values in the values of the echoed arguments, never in dict keys: redact those here (a
    # registry name with credentials is refused anyway, and its message redacts them too).
    for option in ('registries', 'probe_images'):
        value = module.params[option]
        if isinstance(value, dict) and any(has_credentials(key) for key in value if isinstance(key, str)):
            module.params[option] = dict((redact_url(key) if isinstance(key, str) else key, item)
                                         for key, item in value.items())


def main():
    module = AnsibleModule(
        argument_spec=dict(
            goproxy=dict(type='raw'),
            probe_module=dict(type='str'),
            gosumdb=dict(type='str'),
            registry_mirrors=dict(type='list', elements='str'),
            registry_allow_path=dict(type='bool', default=False),
            registries=dict(type='dict'),
            probe_images=dict(type='dict'),
            pypi_indexes=dict(type='list', elements='str'),
            pypi_probe_package=dict(type='str', default='pip'),
            npm_registries=dict(type='list', elements='raw'),
            npm_probe_package=dict(type='str', default='npm'),
            timeout=dict(type='float', default=5),
            retries=dict(type='int', default=0),
            max_workers=dict(type='int'),
            require=dict(type='str', choices=list(REQUIREMENTS), default='all'),
            validate_certs=dict(type='bool', default=True),
            ca_path=dict(type='path'),
            ca_data=dict(type='str', no_log=True),
            # Only the passwords are secrets: a no_log on the whole list would mask every host name and port of
            # the machines wherever they appear in the result (URLs included).
            credentials=dict(type='list', elements='dict', options=dict(
                machine=dict(type='str', required=True),
                login=dict(type='str', required=True),
                password=dict(type='str', required=True, no_log=True),
            )),
            client_cert=dict(type='path'),
            client_key=dict(type='path', no_log=False),
            use_proxy=dict(type='bool', default=True),
        ),
        required_one_of=[('goproxy', 'gosumdb', 'registry_mirrors', 'registries', 'pypi_indexes', 'npm_registries')],
        required_by={'probe_module': 'goproxy', 'client_key': 'client_cert'},
        supports_check_mode=True,
        # The host log line is written before any URL is parsed, and Ansible's own log sanitiser misses
        # tokens in query strings and in a bare token@ userinfo; a read-only probe loses nothing by not logging.
        no_log=True,
    )
    register_url_secrets(module)

    try:
        arguments = parse_options(module.params)
        ca_pem, ca_certificates = parse_ca_data(module.params['ca_data'])
    except PolicyError as error:
        module.fail_json(msg=str(error))
    for unused in arguments.pop('unused_credentials'):
        module.warn('%s matches no https goproxy or gosumdb URL of this check; it is not sent' % unused)

    try:
        fetch = build_fetch(module.params['validate_certs'], module.params['ca_path'], module.params['client_cert'],
                            module.params['client_key'], module.params['use_proxy'], ca_pem)
    except PolicyError as error:
        module.fail_json(msg=str(error))
    except (OSError, ValueError) as error:  # unreadable CA bundle or client certificate
        module.fail_json(msg='cannot load the TLS files (ca_path, client_cert, client_key): %s' % error)
    if module.params['validate_certs']:
        for warning in strict_verification_warnings(fetch.tls_context, ca_certificates):
            module.warn(warning)

    report = check_mirrors(fetch, **arguments)
    failure = unmet_requirement(report, module.params['require'])
    if failure:
        report['msg'] = failure  # the same report comes with the failure, so a role can still read the lists
        module.fail_json(changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == '__main__':
    main()
