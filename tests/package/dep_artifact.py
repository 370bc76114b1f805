"""Make an installable artifact of a collection that the `ansible` package ships.

The package's copies keep the upstream FILES.json, which lists files the
package leaves out, so ansible-galaxy refuses them as they are. This writes
FILES.json (and its checksum in MANIFEST.json) for the files that are there:
    python dep_artifact.py SRC_DIR OUT.tar.gz
"""
import hashlib
import io
import json
import os
import sys
import tarfile


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def main(src, out):
    entries = [{"name": ".", "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1}]
    members = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        rel_dir = os.path.relpath(dirpath, src)
        if rel_dir != ".":
            entries.append({"name": rel_dir, "ftype": "dir", "chksum_type": None, "chksum_sha256": None, "format": 1})
            members.append(rel_dir)
        for name in sorted(filenames):
            rel = os.path.normpath(os.path.join(rel_dir, name))
            if rel in ("MANIFEST.json", "FILES.json") or name.endswith(".pyc"):
                continue
            with open(os.path.join(src, rel), "rb") as handle:
                entries.append({"name": rel, "ftype": "file", "chksum_type": "sha256",
                                "chksum_sha256": sha256(handle.read()), "format": 1})
            members.append(rel)
    files_json = json.dumps({"files": entries, "format": 1}, indent=4).encode()
    with open(os.path.join(src, "MANIFEST.json")) as handle:
        manifest = json.load(handle)
    manifest["file_manifest_file"]["chksum_sha256"] = sha256(files_json)
    with tarfile.open(out, "w:gz") as tar:
        for name, data in (("MANIFEST.json", json.dumps(manifest, indent=4).encode()), ("FILES.json", files_json)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
        for rel in members:
            tar.add(os.path.join(src, rel), arcname=rel, recursive=False)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
