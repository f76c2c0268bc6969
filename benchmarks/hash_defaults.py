"""Fingerprint the numbers every default command writes, to show a refactoring changed no bit.

    python benchmarks/hash_defaults.py --out benchmarks/default_hashes.json          # record
    python benchmarks/hash_defaults.py --check benchmarks/default_hashes.json        # compare
    python benchmarks/hash_defaults.py --only simulate --keep OLD                      # keep the outputs
    python benchmarks/hash_defaults.py --diff OLD NEW                                  # how far apart

``--diff`` compares two kept output folders number by number (the JSON files, timings dropped):
per file, the largest relative difference ``|a - b| / max(|a|, |b|)`` of the numbers and the count
of entries that differ otherwise (strings, integers, ``null``) — for a change that is meant to move
results by rounding only.

Each command runs with its defaults (``--quick`` where marked) into a temporary folder; every JSON
it writes is loaded, keys that hold timings or versions are dropped, and the rest is hashed
(SHA-256 of the canonical JSON, floats written with ``repr``, so one flipped bit changes the hash).
The ``.npz`` results are hashed array by array (raw bytes); a trajectory file is hashed by the arrays
a format-1 file stores (γ and ρ included, the bookkeeping that format 2 keeps instead left out), as
:meth:`cnnrank.Trajectory.load` gives them back, so both file formats of one run hash alike. Timings cannot be equal across runs and
are not results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: the data folder: ``$CNNRANK_DATA``, else ``../shared/data`` beside the checkout
SHARED = Path(os.environ.get("CNNRANK_DATA") or ROOT.parent / "shared" / "data")

#: name -> argv after ``python -m cnnrank`` (the output folder is appended as ``--out DIR``)
COMMANDS = {
    "simulate": ["simulate", "--quiet"],
    "rank-vs-noise": ["reproduce", "rank-vs-noise", "--quiet"],
    "intrinsic-dimension": ["reproduce", "intrinsic-dimension", "--quiet"],
    "mnist-rank": ["reproduce", "mnist-rank", "--data-dir", str(SHARED / "mnist")],
    "cifar10-rank": ["reproduce", "cifar10-rank", "--data-dir", str(SHARED / "cifar10" / "cifar-10-batches-py")],
    # the theorem's network on real images: the default of both commands before they ran a network that learns
    "mnist-rank --setting theorem": ["reproduce", "mnist-rank", "--setting", "theorem", "--data-dir", str(SHARED / "mnist")],
    "cifar10-rank --setting theorem": ["reproduce", "cifar10-rank", "--setting", "theorem", "--data-dir",
                                       str(SHARED / "cifar10" / "cifar-10-batches-py")],
    "linear-cnn --quick": ["reproduce", "linear-cnn", "--quick"],
    "neural-collapse --quick": ["reproduce", "neural-collapse", "--quick"],
}

_VOLATILE = {"seconds", "elapsed", "runtime", "time", "timings", "wall", "cnnrank_version", "version",
             "blas_threads", "files", "data_dir", "path", "out"}


def _strip(value):
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in sorted(value.items())
                if k not in _VOLATILE and not k.endswith(("_seconds", "_s")) and not k.startswith("seconds")}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, float):
        return repr(value)
    return value


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` result (metadata left out); of a trajectory, those a format-1 file stores."""
    with np.load(path, allow_pickle=False) as z:
        raw = {name: z[name] for name in z.files}
    meta = json.loads(str(raw["__metadata__"])) if "__metadata__" in raw else {}
    if not (isinstance(meta, dict) and meta.get("kind") == "Trajectory"):
        return {k: v for k, v in raw.items() if not k.startswith("__")}
    import dataclasses

    if str(ROOT) not in sys.path:  # the cnnrank of this tree, as the commands run with cwd=ROOT
        sys.path.insert(0, str(ROOT))
    import cnnrank.trajectory as trajectory_module

    bookkeeping = getattr(trajectory_module, "_BOOKKEEPING", ())  # a tree before format 2 has none
    traj = trajectory_module.Trajectory.load(path)
    return {f.name: v for f in dataclasses.fields(traj)
            if isinstance(v := getattr(traj, f.name), np.ndarray) and f.name not in bookkeeping}


def fingerprint(folder: Path) -> dict[str, str]:
    """SHA-256 per results file under ``folder`` (JSON without timings; ``.npz`` array bytes)."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = str(path.relative_to(folder))
        if "/cells/" in f"/{rel}" or rel.endswith("sweep.json"):
            continue  # sweep stores repeat what the results file holds (and carry timings)
        if path.suffix == ".json":
            data = _strip(json.loads(path.read_text()))
            out[rel] = hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()
        elif path.suffix == ".npz":
            h = hashlib.sha256()
            arrays = _npz_arrays(path)
            for name in sorted(arrays):
                a = arrays[name]
                h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
            out[rel] = h.hexdigest()
    return out


def run_all(names: list[str], keep: Path | None = None) -> dict[str, dict[str, str]]:
    result = {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) if keep is None else keep / name.replace(" --", "_").replace(" ", "_")
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "cnnrank", *COMMANDS[name], "--out", str(folder)],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr}")
            result[name] = fingerprint(folder)
            print(f"{name}: {len(result[name])} files hashed in {time.perf_counter() - start:.1f} s", flush=True)
    return result


def _pairs(a, b, path=""):
    """Leaves of two stripped JSON values side by side: ``(path, a, b)``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            yield from _pairs(a.get(k), b.get(k), f"{path}/{k}")
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            yield from _pairs(x, y, f"{path}[{i}]")
    else:
        yield path, a, b


def diff(old: Path, new: Path) -> int:
    """Print, per JSON file under both folders, the largest relative difference of their numbers."""
    worst = 0.0
    for path in sorted(new.rglob("*.json")):
        rel = path.relative_to(new)
        if "cells" in rel.parts or rel.name == "sweep.json" or not (old / rel).is_file():
            continue
        a = _strip(json.loads((old / rel).read_text()))
        b = _strip(json.loads(path.read_text()))
        big, where, other = 0.0, "", 0
        for at, x, y in _pairs(a, b):
            if isinstance(x, str) and isinstance(y, str) and x != y:
                try:
                    fx, fy = float(x), float(y)
                except ValueError:
                    other += 1
                    continue
                r = abs(fx - fy) / max(abs(fx), abs(fy))
                if r > big:
                    big, where = r, at
            elif x != y:
                other += 1
        worst = max(worst, big)
        print(f"{rel}: max relative difference {big:.1e}{f' (at {where})' if where else ''}, "
              f"{other} other entries differ")
    print(f"largest relative difference: {worst:.1e}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the fingerprints here")
    parser.add_argument("--check", type=Path, help="compare with recorded fingerprints")
    parser.add_argument("--only", nargs="*", default=list(COMMANDS), choices=list(COMMANDS))
    parser.add_argument("--keep", type=Path, help="keep each command's outputs under KEEP/<name> ('--' and spaces as '_')")
    parser.add_argument("--diff", type=Path, nargs=2, metavar=("OLD", "NEW"),
                        help="compare two kept folders number by number (runs nothing)")
    args = parser.parse_args()
    if args.diff:
        return diff(*args.diff)
    got = run_all(args.only, args.keep)
    if args.out:
        args.out.write_text(json.dumps(got, indent=1) + "\n")
    if args.check:
        want = json.loads(args.check.read_text())
        bad = [(n, f) for n in got for f in set(got[n]) | set(want.get(n, {}))
               if want.get(n, {}).get(f) != got[n].get(f)]
        for n, f in bad:
            print(f"DIFFERS: {n}: {f}")
        print("all identical" if not bad else f"{len(bad)} files differ")
        return 1 if bad else 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
