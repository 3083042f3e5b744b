"""Write the lab's one Python package, buildfleet-hello 1.0.0, as a pure wheel into a directory.

A wheel is a zip file of the package and its .dist-info (METADATA, WHEEL, RECORD with a
sha256 of every other file); this builds it from the standard library alone, when the
mirror image is built, so the lab index serves a wheel that no public index has.
"""
import base64
import hashlib
import os
import sys
import zipfile

NAME, VERSION = "buildfleet_hello", "1.0.0"
DIST_INFO = "%s-%s.dist-info" % (NAME, VERSION)
FILES = {
    "%s/__init__.py" % NAME: '"""The buildfleet lab\'s own package: only the lab index serves it."""\n'
                             '__version__ = "%s"\nGREETING = "Hello from the buildfleet lab index"\n' % VERSION,
    "%s/METADATA" % DIST_INFO: "Metadata-Version: 2.1\nName: buildfleet-hello\nVersion: %s\n"
                               "Summary: The buildfleet lab's own package, served by the lab index only\n"
                               "Requires-Python: >=3.7\n" % VERSION,
    "%s/WHEEL" % DIST_INFO: "Wheel-Version: 1.0\nGenerator: buildfleet-lab\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "%s/top_level.txt" % DIST_INFO: NAME + "\n",
}


def record_line(path, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return "%s,sha256=%s,%d" % (path, digest, len(data))


def main(directory):
    os.makedirs(directory, exist_ok=True)
    wheel = os.path.join(directory, "%s-%s-py3-none-any.whl" % (NAME, VERSION))
    record = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in FILES.items():
            data = text.encode()
            zf.writestr(zipfile.ZipInfo(path, date_time=(2024, 1, 1, 0, 0, 0)), data, zipfile.ZIP_DEFLATED)
            record.append(record_line(path, data))
        record.append("%s/RECORD,," % DIST_INFO)
        zf.writestr(zipfile.ZipInfo("%s/RECORD" % DIST_INFO, date_time=(2024, 1, 1, 0, 0, 0)),
                    "\n".join(record) + "\n", zipfile.ZIP_DEFLATED)
    print(wheel)


if __name__ == "__main__":
    main(sys.argv[1])
