"""Wall time of ``python -m cnnrank reproduce phase-diagram``: ``--quick`` and the default grid, grouped
(the default: the σ_p levels of one ``n`` and seed run as one batched run) and ``--cell-by-cell``.

Runs each in a fresh temporary folder (no stored cells to resume from), in a subprocess, and prints the
wall times with the speed-up of the grouped run over the cell-by-cell one, and the load average at the
start of each run (the machine is shared). Not a test: the targets (``--quick`` < 60 s, default < 10 min
on the 2-core machine) are stated in docs/phase-diagram.md with the measured figures.

    python benchmarks/phase_diagram_time.py [--skip-default] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _load() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _time(extra: list[str], workers: int) -> tuple[float, str]:
    """Wall seconds of one command in a fresh folder, and the load average when it started."""
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cnnrank", "reproduce", "phase-diagram", "--out", str(Path(tmp) / "out"),
               "--quiet", "--workers", str(workers), *extra]
        load = _load()
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start, load


def _compare(name: str, extra: list[str], workers: int, target: float) -> None:
    """The cell-by-cell run, then the grouped run, and the speed-up."""
    alone, load_alone = _time([*extra, "--cell-by-cell"], workers)
    print(f"{name:8}  cell by cell: {alone:7.1f} s  (load average at start {load_alone})", flush=True)
    grouped, load_grouped = _time(extra, workers)
    print(f"{name:8}  grouped     : {grouped:7.1f} s  (load average at start {load_grouped})  "
          f"speed-up {alone / grouped:.2f}x  (target < {target:g} s)", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-default", action="store_true", help="time --quick only")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    print(f"workers={args.workers}, {os.cpu_count()} cores", flush=True)
    _compare("--quick", ["--quick"], args.workers, 60)
    if not args.skip_default:
        _compare("default", [], args.workers, 600)


if __name__ == "__main__":
    main()
