"""Wall time of ``python -m cnnrank reproduce phase-diagram``: ``--quick`` and the default grid.

Runs each in a fresh temporary folder (no stored cells to resume from), in a subprocess, one worker,
and prints the wall times. Not a test: the targets (``--quick`` < 60 s, default < 10 min on the 2-core
machine) are stated in docs/phase-diagram.md with the measured figures.

    python benchmarks/phase_diagram_time.py [--skip-default] [--workers N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _time(extra: list[str], workers: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "cnnrank", "reproduce", "phase-diagram", "--out", str(Path(tmp) / "out"),
               "--quiet", "--workers", str(workers), *extra]
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--skip-default", action="store_true", help="time --quick only")
    p.add_argument("--workers", type=int, default=1)
    args = p.parse_args()
    print(f"--quick : {_time(['--quick'], args.workers):7.1f} s  (target < 60 s)", flush=True)
    if not args.skip_default:
        print(f"default : {_time([], args.workers):7.1f} s  (target < 600 s)", flush=True)


if __name__ == "__main__":
    main()
