"""Wall time of the test suite, with the machine's speed before and after it.

    python benchmarks/suite_time.py [--repeat N] [-- PYTEST ARGS...]

Runs ``python -m pytest -q -p no:cacheprovider`` (the suite of ``.ci/run``, on the workers of its
configuration; the arguments after ``--`` are added) in this checkout, ``N`` times, and prints for each
run the wall time, the CPU time of pytest and its children (user + system), the share of the machine's
CPU time the host stole during the run, the load average before it, and the machine's speed before and
after it (``machine_speed.py``): on a shared machine the same suite took 94 s and 158 s within two
hours, and these readings tell a slow machine from a slow suite. Needs the test extras
(``pip install -e ".[test]"``).
Not a test.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def main(argv: list[str] | None = None) -> int:
    from machine_speed import HostShare, describe, load_average, probe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="runs of the suite (default: 1)")
    parser.add_argument("pytest_args", nargs="*", help="added to pytest's arguments (after --)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat {args.repeat} is invalid: must be an integer >= 1")
    env = {**os.environ, "MPLBACKEND": "Agg"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args.pytest_args]
    status = 0
    for i in range(args.repeat):
        print(f"run {i + 1}: machine before: {describe(probe())}; load average {load_average()}", flush=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with HostShare() as host:
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
        print(f"run {i + 1}: {seconds:.1f} s wall, CPU {cpu:.1f} s, host steal {100 * host.steal:.1f} %: {last}",
              flush=True)
        print(f"run {i + 1}: machine after:  {describe(probe())}", flush=True)
        if done.returncode != 0:
            print(done.stdout[-3000:] + done.stderr[-2000:], flush=True)
            status = done.returncode
    return status


if __name__ == "__main__":
    raise SystemExit(main())
