"""``python -m cnnrank reproduce phase-diagram``: test accuracy and what the filters learned over ``n × σ_p``.

A grid over the sample size ``n`` (log-spaced) and the background noise ``σ_p`` × seeds, run on the
sweep machinery (resumable store under ``OUT/sweep``, ``--workers``, ``--dask``), drawn as four heatmaps
-- test accuracy, signal energy fraction, learned dimension / 2K and the ratio of the data's to the
filters' stable rank -- with the theory's benign boundary ``σ_p*(n) = (n/2K)^{1/q} ‖μ‖/√d``, the data-rank
take-off and the measured 0.9-accuracy contour on each (docs/phase-diagram.md).

Defaults: the headline's configuration (:data:`cnnrank.reproduce.rank_vs_noise.HEADLINE`, P = 5) with
:data:`DEFAULT_STEPS` steps, ``n`` in :data:`DEFAULT_N`, ``σ_p`` in :data:`DEFAULT_NOISE`, 2 seeds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank.reproduce._args import check_test_samples, comma_list, measures_test_accuracy

DESCRIPTION = ("The phase diagram: test accuracy, signal energy fraction, learned dimension and data/filter "
               "stable-rank ratio over n × σ_p, with the theory's benign boundary and the measured 0.9-accuracy "
               "contour (writes OUT/phase_diagram.json and OUT/phase_diagram.png).")

DEFAULT_N = (16, 32, 64, 128, 256)
DEFAULT_NOISE = (0.03, 0.05, 0.08, 0.12, 0.18, 0.27, 0.4, 0.6)
#: test accuracy and signal energy fraction are settled by step 600 (docs/rank-vs-noise.md)
DEFAULT_STEPS = 600
QUICK_N = (16, 64, 256)
QUICK_NOISE = (0.05, 0.15, 0.3, 0.6)
QUICK_STEPS = 300
_TEST_USE = "the phase diagram and its 0.9-accuracy contour are measured on test samples"
#: the files written into ``--out`` (together: both or neither)
OUTPUTS = ("phase_diagram.json", "phase_diagram.png")


_floats = comma_list(float, "numbers", lambda v: bool(np.isfinite(v)) and v > 0,
                     "noise levels must be finite and > 0 (the axis is logarithmic)",
                     increasing="noise levels must be increasing, without repeats")


_ints = comma_list(int, "integers", lambda v: v >= 2, "sample sizes must be integers >= 2",
                   increasing="sample sizes must be increasing, without repeats")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.experiments.runs import RunConfig
    from cnnrank.reproduce._output import add_overwrite_argument, seed_type
    from cnnrank.reproduce._sweeping import add_executor_arguments
    from cnnrank.reproduce.rank_vs_noise import HEADLINE
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/phase-diagram"), help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--n-grid", type=_ints, default=None, dest="n_grid",
                        help=f"comma-separated sample sizes (default: {','.join(map(str, DEFAULT_N))}; "
                             f"--quick: {','.join(map(str, QUICK_N))})")
    parser.add_argument("--noise", type=_floats, default=None,
                        help=f"comma-separated σ_p values, increasing (default: {','.join(map(str, DEFAULT_NOISE))}; "
                             f"--quick: {','.join(map(str, QUICK_NOISE))})")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: 2; --quick: 1)")
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0")
    parser.add_argument("--quick", action="store_true",
                        help=f"a small grid: n in {','.join(map(str, QUICK_N))}, σ_p in {','.join(map(str, QUICK_NOISE))}, 1 seed, "
                             f"{QUICK_STEPS} steps "
                             "(unless given)")
    add_executor_arguments(parser, "the σ_p levels of one n and seed")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_arguments(parser, RunConfig(**{**HEADLINE.to_dict(), "steps": DEFAULT_STEPS}), swept={"noise_std": "--noise", "n": "--n-grid"})
    parser.set_defaults(steps=None)
    steps = parser._option_string_actions["--steps"]
    steps.help = f"{steps.help} (default: {DEFAULT_STEPS}; --quick: {QUICK_STEPS})"
    measures_test_accuracy(parser, _TEST_USE)


def _settle(args: argparse.Namespace) -> None:
    """Fill the options left unset with the defaults of the grid (``--quick`` or the full one)."""
    if args.n_grid is None:
        args.n_grid = QUICK_N if args.quick else DEFAULT_N
    if args.noise is None:
        args.noise = QUICK_NOISE if args.quick else DEFAULT_NOISE
    if args.seeds is None:
        args.seeds = 1 if args.quick else 2
    if args.steps is None:
        args.steps = QUICK_STEPS if args.quick else DEFAULT_STEPS


def run(args: argparse.Namespace) -> int:
    from cnnrank.reproduce._output import check_sweep_store, output_folder
    from cnnrank.reproduce._sweeping import check_executor_arguments, keep_store_on_interrupt
    from cnnrank.reproduce.simulate import config_from_args
    from cnnrank.sweeps import SweepSpec

    _settle(args)
    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds} is invalid: must be an integer >= 1")
    check_test_samples(args.n_test, _TEST_USE)
    check_executor_arguments(args)
    base = config_from_args(args)
    spec = SweepSpec(base=base, grid={"n": list(args.n_grid), "noise_std": list(args.noise)},
                     seeds=args.seeds, root_seed=args.seed)
    check_sweep_store(args.out / "sweep", spec, args.overwrite, args.out)
    # created and probed before computing; removed again on failure; a killed run's temporary files removed
    with output_folder(args.out, outputs=OUTPUTS), keep_store_on_interrupt(args.out / "sweep"):
        return _run(args, base, spec)


def _sweep(args: argparse.Namespace, spec: Any) -> Any:
    from cnnrank.reproduce._sweeping import sweep_executor
    from cnnrank.sweeps import run_sweep

    with sweep_executor(args.workers, args.dask, args.dask_timeout) as executor:
        return run_sweep(spec, store=args.out / "sweep", executor=executor, progress=False if args.quiet else None,
                         group=not args.cell_by_cell, balance=False)


def _cell(value: float | None, fmt: str, missing: str) -> str:
    """A table cell: ``value`` formatted, ``missing`` for ``None`` (a boundary not crossed)."""
    return missing if value is None else format(value, fmt)


def _table(out: dict[str, Any]) -> str:
    """The boundary per ``n``; a measured boundary of ``None`` (the contour is not crossed) prints as
    ``not reached``, a ratio without it as ``-``."""
    from cnnrank.experiments.phase import ACCURACY_LEVEL
    from cnnrank.tables import format_table

    rows = [{"n": n, "theory": _cell(t, ".3g", "-"), "measured": _cell(m, ".3g", "not reached"),
             "ratio": _cell(r, ".2f", "-")}
            for n, t, m, r in zip(out["n"], out["theory_boundary"], out["measured_boundary"], out["boundary_ratio"])]
    return format_table(rows, [("n", "n", "d"), ("theory", "σ_p* theory", "s"),
                               ("measured", f"σ_p at acc {ACCURACY_LEVEL:g}", "s"), ("ratio", "measured/theory", "s")])


def _run(args: argparse.Namespace, base: Any, spec: Any) -> int:
    from cnnrank.experiments.phase import phase_record
    from cnnrank.plotting import phase_diagram_figure
    from cnnrank.reproduce._output import figure_bytes, write_outputs, written

    start = time.perf_counter()
    res = _sweep(args, spec)
    seconds = time.perf_counter() - start
    out = phase_record(res, base, list(args.n_grid), list(args.noise))
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
    # everything is built in memory first, then both files are written together (both or neither);
    # the table is printed only after that: nothing can fail after the cells ran and before the results
    # are on disk. No timings in the results: two runs of one command write byte-identical JSON.
    paths = [args.out / name for name in OUTPUTS]
    record = json.dumps(out, indent=1).encode("utf-8")
    write_outputs([(paths[0], record), (paths[1], figure_bytes(phase_diagram_figure(out), "png", dpi=130))])
    print(_table(out))
    print(f"\n{spec.n_cells} cells ({len(out['n'])} n × {len(out['noise_std'])} σ_p × {args.seeds} seeds) "
          f"in {seconds:.1f} s")
    print(written(paths))
    return 0
