"""``python -m cnnrank reproduce linear-cnn``: stage-like learning and the dominant-frequency bias.

Writes ``linear-cnn.png`` (the figure), ``linear-cnn.json`` (the numbers) and one ``.npz`` per run
or sweep into ``--out``, and prints a compact table. See docs/linear-cnn.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnnrank._validation import check_int

DESCRIPTION = "linear CNN vs FCNN: Saxe curves, dominant-frequency reordering of modes, half-time sweeps"

SHARES = (1 / 9, 0.2, 0.4, 0.6, 0.8, 1.0)
KERNELS = (1, 2, 4, 8, 16, 32)
CHANNELS = (1, 2, 4, 8, 16)
QUICK = {"share": (1 / 9, 0.4, 0.8, 1.0), "kernel_size": (1, 4, 16, 32), "channels": (1, 4, 16)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="results/linear-cnn", metavar="DIR", help="output folder (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="base seed; sweeps use seed, seed+1, ... (default %(default)s)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per sweep point (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="fewer sweep points and one seed (about 15 s instead of about 45 s)")


def _clean(obj):
    """JSON-safe copy: NaN/inf (a mode that never reached half-strength) become ``null``."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def _fmt(x) -> str:
    return "nan" if not np.isfinite(x) else f"{x:.3f}"


def run(args: argparse.Namespace) -> int:
    seed = check_int("seed", args.seed, minimum=0)
    n_seeds = 1 if args.quick else check_int("seeds", args.seeds, minimum=1, maximum=50)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} is invalid: exists and is not a folder")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnrank.linear.closed_form import saxe_learning_time
    from cnnrank.linear.data import designed_task
    from cnnrank.linear.diagnostics import nan_stats
    from cnnrank.linear.experiments import ordering_task, run_cnn, run_fcnn, run_saxe, sweep
    from cnnrank.linear.plotting import linear_cnn_figure
    from cnnrank.results import atomic_write_text

    t_start = time.perf_counter()
    seeds = list(range(seed, seed + n_seeds))
    # (a) FCNN from the balanced decoupled init against the Saxe curves.
    saxe_task = designed_task(32, [3.0, 2.0, 1.0], [[1], [2, 3], [4, 5, 6]], rng=seed)
    u0 = 1e-3
    saxe = run_saxe(saxe_task, u0=u0, seed=seed)
    saxe_err = np.max(np.abs(saxe.strengths - saxe.saxe), axis=0) / saxe.s
    saxe_pred = [saxe_learning_time(s, u0) for s in saxe.s]
    # (b) the same task for an FCNN and a CNN with full-length kernels.
    task = ordering_task(rng=seed)
    fcnn = run_fcnn(task, seed=seed)
    cnn = run_cnn(task, channels=4, seed=seed)
    # (c) sweeps.
    grids = QUICK if args.quick else {"share": SHARES, "kernel_size": KERNELS, "channels": CHANNELS}
    sweeps = [sweep(p, grids[p], seeds=seeds, isolated=(p == "kernel_size")) for p in ("share", "kernel_size", "channels")]
    elapsed = time.perf_counter() - t_start

    out.mkdir(parents=True, exist_ok=True)
    fig = linear_cnn_figure(saxe, fcnn, cnn, sweeps)
    fig.savefig(out / "linear-cnn.png", dpi=110)
    plt.close(fig)
    saxe.save(out / "saxe.npz")
    fcnn.save(out / "fcnn.npz")
    cnn.save(out / "cnn.npz")
    for sw in sweeps:
        sw.save(out / f"sweep_{sw.parameter}.npz")

    def mean_ht(sw):
        return nan_stats(sw.half_times, axis=1)[0].tolist()

    summary = {
        "seed": seed,
        "sweep_seeds": seeds,
        "quick": bool(args.quick),
        "runtime_s": round(elapsed, 2),
        "a_saxe": {"s": saxe.s.tolist(), "u0": u0, "lr": saxe.lr,
                   "half_time_measured": saxe.half_times.tolist(), "half_time_closed_form": saxe_pred,
                   "max_abs_error_over_s": saxe_err.tolist()},
        "b_ordering": {
            "s": task.s.tolist(), "dominant_freq": task.dominant_frequency.tolist(),
            "dominant_share": task.dominant_share.tolist(),
            "fcnn_half_times": fcnn.half_times.tolist(), "cnn_half_times": cnn.half_times.tolist(),
            "cnn_predicted_rates": cnn.rates.tolist(), "cnn_channels": 4, "kernel_size": 32,
        },
        "c_sweeps": {sw.parameter: {"values": sw.values.tolist(), "mean_half_times": mean_ht(sw),
                                    "half_times": sw.half_times.tolist(), "predicted_rates": sw.rates.tolist(),
                                    "isolated_mean_half_times": (nan_stats(sw.isolated_half_times, axis=1)[0].tolist()
                                                                 if sw.isolated_half_times.size else None),
                                    "s": sw.s.tolist()} for sw in sweeps},
    }
    atomic_write_text(out / "linear-cnn.json", json.dumps(_clean(summary), indent=2, allow_nan=False))

    print("(a) FCNN from balanced decoupled init vs Saxe closed form (u0=1e-3)")
    print("   s     t½ measured  t½ closed form  max|u-u_saxe|/s")
    for a in range(saxe.s.size):
        print(f"   {saxe.s[a]:<5g} {_fmt(saxe.half_times[a]):>11}  {saxe_pred[a]:>14.3f}  {saxe_err[a]:>15.2e}")
    print("(b) same task, FCNN vs CNN (k=N=32, C=4)")
    print("   mode  s    f*  share  t½ FCNN  t½ CNN  CNN rate")
    for a in range(task.s.size):
        print(f"   {a:<5d} {task.s[a]:<4g} {task.dominant_frequency[a]:<3d} {task.dominant_share[a]:<6.3f}"
              f" {_fmt(fcnn.half_times[a]):>7}  {_fmt(cnn.half_times[a]):>6}  {cnn.rates[a]:>8.3f}")
    for sw in sweeps:
        print(f"(c) half-time vs {sw.parameter} (mean over {len(seeds)} seed(s))")
        iso = nan_stats(sw.isolated_half_times, axis=1)[0] if sw.isolated_half_times.size else None
        head = "   value   t½ per mode" + ("   | each mode alone" if iso is not None else "") + "   | rate σ per mode"
        print(head)
        for i, (v, h) in enumerate(zip(sw.values, nan_stats(sw.half_times, axis=1)[0])):
            vs = f"{v:.3f}" if sw.parameter == "share" else f"{int(v)}"
            line = f"   {vs:>6}  " + "  ".join(_fmt(x) for x in h)
            if iso is not None:
                line += "   | " + "  ".join(_fmt(x) for x in iso[i])
            print(line + "   | " + "  ".join(f"{r:.3f}" for r in sw.rates[i]))
    print(f"wrote {out / 'linear-cnn.png'} and {out / 'linear-cnn.json'} in {elapsed:.1f} s")
    return 0
