"""How fast the machine is right now: a fixed single-core workload, timed, and the CPU time the host took.

    python benchmarks/machine_speed.py [--repeats N]

The machine these benchmarks run on is shared: the same command took 88 s and 181 s within an hour
(docs/benchmarks.md). A time measured there means little without the machine's speed at that moment,
so the timing scripts (``paper_set.py``, ``suite_time.py``) run this probe before and after what they
time and print both readings beside the time.

The probe runs two fixed workloads on one core, each ``repeats`` times, and reports the median rate:

- ``dgemm``: a 1000 × 1000 float64 matrix product on one BLAS thread, in GFLOP/s (the kind of work of
  the engines);
- ``python``: a pure-Python loop of 10⁶ additions, in millions of iterations per second (the kind of
  work of matplotlib and of the command-line layer).

:class:`HostShare` reads ``/proc/stat`` around a span of time and gives the share of the machine's CPU
time in that span that went to ``steal`` (the hypervisor ran another guest while this one wanted to
run) and to ``idle``. Contention that the host does not report as steal (a busy sibling hyperthread, a
shared cache) shows only in the probe's rates. Not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

#: the fields of the first line of /proc/stat, in order (Linux)
_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def _proc_stat() -> dict[str, int] | None:
    try:
        first = Path("/proc/stat").read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if first[:1] != ["cpu"]:
        return None
    return dict(zip(_FIELDS, (int(v) for v in first[1:1 + len(_FIELDS)])))


class HostShare:
    """``with HostShare() as h: ...``, then ``h.steal`` and ``h.idle``: the shares (0-1) of all CPU time
    in the span that were stolen by the host and idle (``nan`` where ``/proc/stat`` is unreadable)."""

    def __enter__(self) -> HostShare:
        self._start = _proc_stat()
        self.steal = self.idle = float("nan")
        return self

    def __exit__(self, *exc: object) -> None:
        end = _proc_stat()
        if self._start is None or end is None:
            return
        diff = {k: end[k] - self._start[k] for k in _FIELDS}
        total = sum(diff.values())
        if total > 0:
            self.steal = diff["steal"] / total
            self.idle = (diff["idle"] + diff["iowait"]) / total


def load_average() -> str:
    """The 1-, 5- and 15-minute load averages, ``"0.52, 1.10, 1.31"`` (``"unknown"`` where not reported)."""
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "unknown"


def _dgemm_rate(repeats: int) -> float:
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((1000, 1000)), rng.standard_normal((1000, 1000))
    times = []
    with threadpool_limits(1, user_api="blas"):
        a @ b  # warm up
        for _ in range(repeats):
            t = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - t)
    return 2e9 / statistics.median(times) / 1e9


def _python_rate(repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        s = 0
        for i in range(1_000_000):
            s += i
        times.append(time.perf_counter() - t)
    return 1.0 / statistics.median(times)


def probe(repeats: int = 7) -> dict[str, float]:
    """``{"dgemm": GFLOP/s, "python": M iterations/s, "steal": share}``: medians over ``repeats`` runs of
    each workload (about 0.1 s each on this machine), and the host's steal share while they ran."""
    with HostShare() as host:
        rates = {"dgemm": _dgemm_rate(repeats), "python": _python_rate(repeats)}
    return {**rates, "steal": host.steal}


def describe(reading: dict[str, float]) -> str:
    """One line: ``dgemm 52.1 GFLOP/s, python 21.3 M it/s, steal 0.4 %``."""
    return (f"dgemm {reading['dgemm']:.1f} GFLOP/s, python {reading['python']:.1f} M it/s, "
            f"steal {100 * reading['steal']:.1f} %")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=7, help="runs of each workload (default: 7)")
    args = ap.parse_args(argv)
    print(describe(probe(args.repeats)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
