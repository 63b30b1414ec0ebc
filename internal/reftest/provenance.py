"""Runs a golden-file generator and records, in a PROVENANCE.json beside each file it
wrote, what the file was made with: the generator and its arguments, the reference
commit, and the versions of torch, torchvision, NumPy and OpenCV.

Usage (from the repository root, with the interpreter the generator needs):

    /usr/bin/python3 internal/reftest/provenance.py components/model/testdata/gen_golden.py \
        build/reference components/model/testdata

The reference commit is read from an argument that is a reference checkout: the
.reference-commit file that `make reference` writes, or `git rev-parse HEAD` in a clone.
A file is recorded when the generator created or changed it (rewriting it unchanged
counts: that re-verifies it), in any testdata folder of the repository or folder given as
an argument. The reference checkout is recorded as REF_CHECKOUT among the arguments. The Go tests log these entries
(internal/reftest.Provenance) and check that every golden file has one.
"""
import glob
import importlib
import json
import os
import subprocess
import sys


def snapshot(dirs):
    out = {}
    for d in dirs:
        for name in os.listdir(d):
            p = os.path.join(d, name)
            if os.path.isfile(p) and name != "PROVENANCE.json":
                st = os.stat(p)
                out[p] = (st.st_mtime_ns, st.st_size)
    return out


def reference_commit(args):
    for a in args:
        if not os.path.isfile(os.path.join(a, "vision", "ssd", "ssd.py")):
            continue
        marker = os.path.join(a, ".reference-commit")
        if os.path.isfile(marker):
            return open(marker).read().strip()
        try:
            return subprocess.check_output(["git", "-C", a, "rev-parse", "HEAD"], text=True).strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown (a checkout without .reference-commit or git)"
    return None


def arg(a, root):
    """a as recorded: REF_CHECKOUT for the reference, repository paths relative to the root."""
    if os.path.isfile(os.path.join(a, "vision", "ssd", "ssd.py")):
        return "REF_CHECKOUT"
    if os.path.exists(a):
        rel = os.path.relpath(os.path.abspath(a), root)
        return rel if not rel.startswith("..") else os.path.basename(os.path.normpath(a))
    return a


def versions():
    out = {}
    for mod in ("torch", "torchvision", "numpy", "cv2"):
        try:
            out[mod] = importlib.import_module(mod).__version__
        except ImportError:
            pass
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    gen, args = sys.argv[1], sys.argv[2:]
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    dirs = {os.path.dirname(os.path.abspath(gen))}
    dirs.update(glob.glob(os.path.join(root, "*", "*", "testdata")))
    dirs.update(os.path.abspath(a) for a in args if os.path.isdir(a) and not os.path.isfile(os.path.join(a, "vision", "ssd", "ssd.py")))
    before = snapshot(dirs)
    subprocess.run([sys.executable, gen] + args, check=True)
    after = snapshot(dirs)
    changed = sorted(p for p, v in after.items() if before.get(p) != v and not p.endswith(".py"))
    entry = {
        "generator": os.path.basename(gen),
        "args": [arg(a, root) for a in args],
        "reference_commit": reference_commit(args),
        **versions(),
    }
    by_dir = {}
    for p in changed:
        by_dir.setdefault(os.path.dirname(p), []).append(os.path.basename(p))
    for d, names in by_dir.items():
        path = os.path.join(d, "PROVENANCE.json")
        prov = json.load(open(path)) if os.path.exists(path) else {}
        for n in names:
            prov[n] = entry
        with open(path, "w") as f:
            json.dump(dict(sorted(prov.items())), f, indent=1)
            f.write("\n")
        print(f"provenance: {len(names)} file(s) recorded in {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
