"""Wall time of the paper set: every figure-making command on its defaults, one after the other.

    python benchmarks/paper_set.py [--workers N] [--only NAME ...] [--check benchmarks/default_hashes.json]
                                   [--vs CHECKOUT] [--repeat N]

Runs ``rank-vs-noise --ablation``, ``phase-diagram``, ``neural-collapse``, ``cifar10-rank``,
``linear-cnn``, ``mnist-rank``, ``intrinsic-dimension`` and ``simulate``, each in a subprocess with a
fresh ``--out`` in a temporary folder (no stored cells to resume from), and prints each command's wall
time, its CPU time (user + system, the command and its worker processes; CPU / wall is the cores it kept
busy), the load average when it started (the machine may be shared) and the total; before and after the
set, the machine's speed (``machine_speed.py``), and the share of CPU time the host stole during it.
``--workers`` is passed to the commands that take it (default: not passed, so each uses its own
default, the CPUs this process may use). The real-image commands read ``$CNNRANK_DATA``, else
``../shared/data`` beside the checkout (its ``mnist`` and ``cifar10/cifar-10-batches-py`` folders when
present). With ``--check``, the outputs of the commands whose default run
``benchmarks/hash_defaults.py`` fingerprints (``simulate``, ``intrinsic-dimension``, ``mnist-rank``,
``cifar10-rank``) are compared with the recorded fingerprints. ``--vs CHECKOUT`` times the set with
another checkout's cnnrank too (``git worktree add ../base REV``), interleaved with this one's, and
``--repeat N`` runs N sets (N pairs with ``--vs``, the order alternating): the machine's speed drifts by
more than most changes within minutes, so only sets run side by side compare. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

#: name -> argv after ``python -m cnnrank`` (``--out DIR`` is appended), in the order they run
PAPER_SET = {
    "rank-vs-noise --ablation": ["reproduce", "rank-vs-noise", "--ablation", "--quiet"],
    "phase-diagram": ["reproduce", "phase-diagram", "--quiet"],
    "neural-collapse": ["reproduce", "neural-collapse", "--quiet"],
    "cifar10-rank": ["reproduce", "cifar10-rank", "--quiet"],
    "linear-cnn": ["reproduce", "linear-cnn", "--quiet"],
    "mnist-rank": ["reproduce", "mnist-rank", "--quiet"],
    "intrinsic-dimension": ["reproduce", "intrinsic-dimension", "--quiet"],
    "simulate": ["simulate", "--quiet"],
}
#: the commands that take --workers (simulate trains one network)
TAKES_WORKERS = {"rank-vs-noise --ablation", "phase-diagram", "neural-collapse", "cifar10-rank", "linear-cnn",
                 "mnist-rank", "intrinsic-dimension"}
#: paper-set name -> the name of the same default run in benchmarks/hash_defaults.py
FINGERPRINTED = {"simulate": "simulate", "intrinsic-dimension": "intrinsic-dimension",
                 "mnist-rank": "mnist-rank", "cifar10-rank": "cifar10-rank",
                 "mnist-rank --setting theorem": "mnist-rank --setting theorem",
                 "cifar10-rank --setting theorem": "cifar10-rank --setting theorem"}


def _data_dir() -> str:
    return os.environ.get("CNNRANK_DATA") or str(ROOT.parent / "shared" / "data")


def _data_args(name: str) -> list[str]:
    """``--data-dir`` of a real-image command: the dataset's folder under the data folder when it is
    there (the layout of ../shared/data), else the data folder itself."""
    sub = {"mnist-rank": ("mnist",), "cifar10-rank": ("cifar10", "cifar-10-batches-py")}.get(name.split()[0])
    if sub is None:
        return []
    folder = Path(_data_dir()).joinpath(*sub)
    return ["--data-dir", str(folder if folder.is_dir() else Path(_data_dir()))]


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _env(root: Path) -> dict[str, str]:
    """The commands' environment: ``root`` first on the path, the data folder, the default workers."""
    env = {**os.environ, "CNNRANK_DATA": _data_dir(), "PYTHONPATH": os.pathsep.join(
        [str(root)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    env.pop("CNNRANK_WORKERS", None)  # the commands' own default: the CPUs this process may use
    return env


def run_set(root: Path, names: list[str], args: argparse.Namespace, expected: dict, label: str = ""
            ) -> tuple[float, float, list[str]]:
    """Run the paper set's ``names`` with the cnnrank of ``root``, one after the other, printing a line
    per command; return the total wall time, the total CPU time and the commands whose fingerprint
    differs from ``expected`` (empty: not checked)."""
    from machine_speed import HostShare, describe, load_average, probe

    env = _env(root)
    total, total_cpu, mismatched = 0.0, 0.0, []
    print(f"{label}machine before: {describe(probe())}", flush=True)
    with HostShare() as host:
        for name in names:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "out"
                cmd = [sys.executable, "-m", "cnnrank", *PAPER_SET[name], "--out", str(out), *_data_args(name)]
                real = name in ("mnist-rank", "cifar10-rank")
                if real and args.real_setting == "theorem":
                    cmd += ["--setting", "theorem"]
                if args.workers is not None and name in TAKES_WORKERS:
                    cmd += ["--workers", str(args.workers)]
                load = load_average()
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env)
                seconds = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
                total += seconds
                total_cpu += cpu
                note = ""
                key = f"{name} --setting theorem" if real and args.real_setting == "theorem" else name
                if key in FINGERPRINTED and FINGERPRINTED[key] in expected:
                    from hash_defaults import fingerprint

                    same = fingerprint(out) == expected[FINGERPRINTED[key]]
                    note = "  fingerprint " + ("identical" if same else "DIFFERS")
                    if not same:
                        mismatched.append(name)
                print(f"{label}{name:<26} {seconds:7.1f} s  CPU {cpu:6.1f} s = {cpu / seconds:4.2f} cores   "
                      f"(load average at start: {load}){note}", flush=True)
    print(f"{label}{'total':<26} {total:7.1f} s  CPU {total_cpu:6.1f} s = {total_cpu / max(total, 1e-9):4.2f} cores"
          f"   (load average now: {load_average()}; host steal during the set {100 * host.steal:.1f} %)", flush=True)
    print(f"{label}machine after:  {describe(probe())}", flush=True)
    return total, total_cpu, mismatched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None,
                        help="passed to the commands that take it (default: their own default)")
    parser.add_argument("--only", nargs="+", choices=list(PAPER_SET), default=None, help="run only these")
    parser.add_argument("--real-setting", choices=("learns", "theorem"), default="learns",
                        help="the setting of mnist-rank and cifar10-rank (theorem: the figures of the paper set "
                             "before the real-image commands ran a network that learns)")
    parser.add_argument("--check", type=Path, default=None, metavar="HASHES",
                        help="compare the fingerprinted outputs with this file of hash_defaults.py")
    parser.add_argument("--vs", type=Path, default=None, metavar="CHECKOUT",
                        help="also time the set with the cnnrank of another checkout (e.g. a git worktree of an "
                             "earlier commit), interleaved with this one's: the machine's speed drifts by more "
                             "than most changes, so compare sets run side by side")
    parser.add_argument("--repeat", type=int, default=1, metavar="N",
                        help="run the set N times (with --vs: N pairs, the order alternating)")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} is invalid: must be an integer >= 1")
    if args.vs is not None and not (args.vs / "cnnrank" / "__init__.py").is_file():
        parser.error(f"--vs {args.vs} is invalid: no cnnrank package there (give a checkout's root folder)")
    names = args.only or list(PAPER_SET)
    expected = json.loads(args.check.read_text()) if args.check is not None else {}
    workers = "default" if args.workers is None else str(args.workers)
    print(f"paper set: {_cores()} CPUs may be used, --workers {workers}, data {_data_dir()}", flush=True)
    sides = [("", ROOT)] if args.vs is None else [("this: ", ROOT), ("vs:   ", args.vs.resolve())]
    totals: dict[str, list[float]] = {label: [] for label, _ in sides}
    mismatched: list[str] = []
    for i in range(args.repeat):
        for label, root in (sides if i % 2 == 0 else sides[::-1]):
            # the fingerprints are this checkout's: another commit's outputs may differ by design
            total, _, bad = run_set(root, names, args, expected if root == ROOT else {}, label)
            totals[label].append(total)
            mismatched += bad
    if args.vs is not None or args.repeat > 1:
        for label, values in totals.items():
            print(f"{label or 'sets: '}totals {', '.join(f'{v:.1f}' for v in values)} s, median "
                  f"{statistics.median(values):.1f} s")
    if args.vs is not None:
        this, other = (sum(totals[label]) for label, _ in sides)
        print(f"this / vs: {this / other:.3f} (sums of the interleaved sets)")
    if mismatched:
        print(f"fingerprints differ: {', '.join(sorted(set(mismatched)))}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
