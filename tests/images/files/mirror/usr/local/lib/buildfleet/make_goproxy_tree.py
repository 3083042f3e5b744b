"""Write a static GOPROXY tree (the Go module proxy protocol as plain files).

The lab's modules live under a private path, so a client needs GOPRIVATE or
GONOSUMDB for them and never asks a public checksum database.

    make_goproxy_tree.py ROOT [PRIVATE_ROOT]

PRIVATE_ROOT (default: ROOT-private) gets the modules only a login may
download (PRIVATE_MODULES), which goproxy_server.py serves on its
authenticated listener alone.
"""
import json
import os
import sys
import zipfile

MODULES = {
    # module path: {version: {file name: content}}
    "corp.example.com/platform/greeting": {
        "v1.0.0": {"greeting.go": 'package greeting\n\n// Hello greets.\nfunc Hello() string { return "hello from v1.0.0" }\n'},
        "v1.1.0": {"greeting.go": 'package greeting\n\n// Hello greets.\nfunc Hello() string { return "hello from v1.1.0" }\n'},
    },
    # Upper case in a module path is escaped as '!' + lower case on the wire.
    "corp.example.com/Platform/Tools": {
        "v0.1.0": {"tools.go": "package tools\n\n// Version of the tools.\nconst Version = \"v0.1.0\"\n"},
    },
}
# Served only to a login, on the authenticated HTTPS listener.
PRIVATE_MODULES = {
    "corp.example/private/hello": {
        "v1.0.0": {"hello.go": 'package hello\n\n// Hello greets from behind the login.\nfunc Hello() string { return "private hello" }\n'},
    },
}
TIME = "2024-01-01T00:00:00Z"


def escape(path):
    return "".join("!" + c.lower() if c.isupper() else c for c in path)


def write_module(root, module, versions):
    vdir = os.path.join(root, escape(module), "@v")
    os.makedirs(vdir, exist_ok=True)
    gomod = "module %s\n\ngo 1.15\n" % module
    for version, files in versions.items():
        ev = escape(version)
        with open(os.path.join(vdir, ev + ".info"), "w") as f:
            json.dump({"Version": version, "Time": TIME}, f)
        with open(os.path.join(vdir, ev + ".mod"), "w") as f:
            f.write(gomod)
        prefix = "%s@%s/" % (module, version)
        with zipfile.ZipFile(os.path.join(vdir, ev + ".zip"), "w") as z:
            z.writestr(prefix + "go.mod", gomod)
            for name, content in files.items():
                z.writestr(prefix + name, content)
    with open(os.path.join(vdir, "list"), "w") as f:
        f.write("".join(v + "\n" for v in versions))
    latest = list(versions)[-1]
    with open(os.path.join(root, escape(module), "@latest"), "w") as f:
        json.dump({"Version": latest, "Time": TIME}, f)


def main(root, private_root=None):
    for module, versions in MODULES.items():
        write_module(root, module, versions)
    for module, versions in PRIVATE_MODULES.items():
        write_module(private_root or root.rstrip("/") + "-private", module, versions)


if __name__ == "__main__":
    main(*sys.argv[1:3])
