"""``python -m cnnrank reproduce linear-cnn``: stage-like learning and the dominant-frequency bias.

Command-line glue: the arguments go to :func:`cnnrank.linear.experiments.linear_cnn_experiment`, the
figure is :func:`cnnrank.linear.plotting.linear_cnn_figure`. Writes ``linear-cnn.png`` (the figure),
``linear-cnn.json`` (the numbers) and one ``.npz`` per run or sweep into ``--out``, and prints a
compact table. See docs/linear-cnn.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cnnrank._validation import check_int

#: every file the command writes (the sweeps' files are ``sweep_<parameter>.npz``)
OUTPUTS = ("linear-cnn.png", "linear-cnn.json", "saxe.npz", "fcnn.npz", "cnn.npz", "sweep_share.npz",
           "sweep_kernel_size.npz", "sweep_channels.npz")

DESCRIPTION = "linear CNN vs FCNN: Saxe curves, dominant-frequency reordering of modes, half-time sweeps"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._sweeping import add_workers_argument

    parser.add_argument("--out", default="results/linear-cnn", metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=int, default=0,
                        help="root seed; every run and sweep replicate draws from its own stream of "
                             "SeedSequence(seed)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per sweep point")
    parser.add_argument("--quick", action="store_true", help="fewer sweep points and one seed (about 15 s instead of about 45 s)")
    parser.add_argument("--quiet", action="store_true", help="no table: print only the files written")
    add_workers_argument(parser)


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


def _print_table(res) -> None:
    from cnnrank.linear.diagnostics import nan_stats

    saxe, task, fcnn, cnn = res.saxe, res.task, res.fcnn, res.cnn
    u0 = f"{res.u0:.0e}".replace("e-0", "e-").replace("e+0", "e")
    print(f"(a) FCNN from balanced decoupled init vs Saxe closed form (u0={u0})")
    print("   s     t½ measured  t½ closed form  max|u-u_saxe|/s")
    for a in range(saxe.s.size):
        print(f"   {saxe.s[a]:<5g} {_fmt(saxe.half_times[a]):>11}  {res.saxe_half_time_closed_form[a]:>14.3f}"
              f"  {res.saxe_max_error[a]:>15.2e}")
    print(f"(b) same task, FCNN vs CNN (k=N={cnn.network['kernel_size']}, C={cnn.network['channels']})")
    print("   mode  s    f*  share  t½ FCNN  t½ CNN  CNN rate")
    for a in range(task.s.size):
        print(f"   {a:<5d} {task.s[a]:<4g} {task.dominant_frequency[a]:<3d} {task.dominant_share[a]:<6.3f}"
              f" {_fmt(fcnn.half_times[a]):>7}  {_fmt(cnn.half_times[a]):>6}  {cnn.rates[a]:>8.3f}")
    for sw in res.sweeps:
        print(f"(c) half-time vs {sw.parameter} (mean over {len(sw.seeds)} seed(s))")
        iso = nan_stats(sw.isolated_half_times, axis=1)[0] if sw.isolated_half_times.size else None
        head = "   value   t½ per mode" + ("   | each mode alone" if iso is not None else "") + "   | rate σ per mode"
        print(head)
        for i, (v, h) in enumerate(zip(sw.values, nan_stats(sw.half_times, axis=1)[0])):
            vs = f"{v:.3f}" if sw.parameter == "share" else f"{int(v)}"
            line = f"   {vs:>6}  " + "  ".join(_fmt(x) for x in h)
            if iso is not None:
                line += "   | " + "  ".join(_fmt(x) for x in iso[i])
            print(line + "   | " + "  ".join(f"{r:.3f}" for r in sw.rates[i]))


def run(args: argparse.Namespace) -> int:
    seed = check_int("seed", args.seed, minimum=0)
    n_seeds = 1 if args.quick else check_int("seeds", args.seeds, minimum=1, maximum=50)
    from cnnrank.reproduce._sweeping import resolve_workers

    workers = resolve_workers(args)
    out = Path(args.out)

    import matplotlib

    matplotlib.use("Agg")

    from cnnrank._parallel import make_executor, stop_executor
    from cnnrank.linear.experiments import linear_cnn_experiment
    from cnnrank.linear.plotting import linear_cnn_figure
    from cnnrank.reproduce._output import figure_bytes, output_folder, write_outputs, written

    # created and probed before computing; removed again on failure or a signal (with the temporary files
    # of a killed run)
    with output_folder(out, outputs=OUTPUTS):
        executor = make_executor(workers)
        try:
            res = linear_cnn_experiment(seed, n_seeds, quick=bool(args.quick), executor=executor)
        except BaseException:  # a signal or an error: the workers end now, the queue is not drained
            stop_executor(executor)
            raise
        if executor is not None:
            executor.shutdown()
        # built in memory, then written together (all files or none); no timings in the results: two
        # runs write byte-identical JSON
        files = [(out / "linear-cnn.png", figure_bytes(linear_cnn_figure(res.saxe, res.fcnn, res.cnn, res.sweeps),
                                                       "png", dpi=110)),
                 (out / "linear-cnn.json",
                  json.dumps(_clean(res.summary()), indent=2, allow_nan=False).encode("utf-8"))]
        write_outputs(files + res.run_files(out))
    if not args.quiet:
        _print_table(res)
    print(f"{written([out / 'linear-cnn.png', out / 'linear-cnn.json'])} in {res.runtime_s:.1f} s")
    return 0
