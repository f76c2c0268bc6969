"""Fingerprint the numbers every default command writes, to show a refactoring changed no bit.

    python benchmarks/hash_defaults.py --out benchmarks/default_hashes.json          # record
    python benchmarks/hash_defaults.py --check benchmarks/default_hashes.json        # compare

Each command runs with its defaults (``--quick`` where marked) into a temporary folder; every JSON
it writes is loaded, keys that hold timings or versions are dropped, and the rest is hashed
(SHA-256 of the canonical JSON, floats written with ``repr``, so one flipped bit changes the hash).
The ``.npz`` results are hashed array by array (raw bytes). Timings cannot be equal across runs and
are not results.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"

#: name -> argv after ``python -m cnnrank`` (the output folder is appended as ``--out DIR``)
COMMANDS = {
    "simulate": ["simulate", "--quiet"],
    "rank-vs-noise": ["reproduce", "rank-vs-noise", "--quiet"],
    "intrinsic-dimension": ["reproduce", "intrinsic-dimension", "--quiet"],
    "mnist-rank": ["reproduce", "mnist-rank", "--data-dir", str(SHARED / "mnist")],
    "cifar10-rank": ["reproduce", "cifar10-rank", "--data-dir", str(SHARED / "cifar10" / "cifar-10-batches-py")],
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
            with np.load(path, allow_pickle=False) as z:
                for name in sorted(z.files):
                    if name.startswith("__"):
                        continue
                    a = z[name]
                    h.update(name.encode() + str(a.dtype).encode() + str(a.shape).encode() + a.tobytes())
            out[rel] = h.hexdigest()
    return out


def run_all(names: list[str]) -> dict[str, dict[str, str]]:
    result = {}
    for name in names:
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "cnnrank", *COMMANDS[name], "--out", tmp],
                                  capture_output=True, text=True, cwd=ROOT)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr}")
            result[name] = fingerprint(Path(tmp))
            print(f"{name}: {len(result[name])} files hashed in {time.perf_counter() - start:.1f} s", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the fingerprints here")
    parser.add_argument("--check", type=Path, help="compare with recorded fingerprints")
    parser.add_argument("--only", nargs="*", default=list(COMMANDS), choices=list(COMMANDS))
    args = parser.parse_args()
    got = run_all(args.only)
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
