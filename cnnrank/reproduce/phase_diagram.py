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

from cnnrank.reproduce._args import comma_list

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


_floats = comma_list(float, "numbers", lambda v: bool(np.isfinite(v)) and v > 0,
                     "noise levels must be finite and > 0 (the axis is logarithmic)",
                     increasing="noise levels must be increasing, without repeats")


_ints = comma_list(int, "integers", lambda v: v >= 2, "sample sizes must be integers >= 2",
                   increasing="sample sizes must be increasing, without repeats")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.experiments.runs import RunConfig
    from cnnrank.reproduce._output import seed_type
    from cnnrank.reproduce.rank_vs_noise import HEADLINE
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/phase-diagram"), help="output folder")
    parser.add_argument("--n-grid", type=_ints, default=None, dest="n_grid",
                        help=f"comma-separated sample sizes (default: {','.join(map(str, DEFAULT_N))}; "
                             f"--quick: {','.join(map(str, QUICK_N))})")
    parser.add_argument("--noise", type=_floats, default=None,
                        help=f"comma-separated σ_p values, increasing (default: {','.join(map(str, DEFAULT_NOISE))}; "
                             f"--quick: {','.join(map(str, QUICK_NOISE))})")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per cell (default: 2; --quick: 1)")
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0 (default: 0)")
    parser.add_argument("--quick", action="store_true",
                        help=f"a small grid: n in {QUICK_N}, σ_p in {QUICK_NOISE}, 1 seed, {QUICK_STEPS} steps "
                             "(unless given)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1, in this process)")
    parser.add_argument("--dask", metavar="ADDRESS", default=None,
                        help="run on a Dask distributed scheduler at ADDRESS (needs the 'dist' extra)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--cell-by-cell", action="store_true", dest="cell_by_cell",
                        help="run every cell alone (default: the σ_p levels of one n and seed run together as "
                             "one batched run, same numbers to rounding level)")
    add_run_arguments(parser, RunConfig(**{**HEADLINE.to_dict(), "steps": DEFAULT_STEPS}), swept={"noise_std": "--noise", "n": "--n-grid"})
    parser.set_defaults(steps=None)


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
    from cnnrank.reproduce._output import output_folder
    from cnnrank.reproduce.simulate import config_from_args
    from cnnrank.sweeps import SweepSpec

    _settle(args)
    if args.seeds < 1:
        raise ValueError(f"--seeds {args.seeds} is invalid: must be an integer >= 1")
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers} is invalid: must be an integer >= 1")
    if args.dask is not None and args.workers != 1:
        raise ValueError("--workers is invalid with --dask: the Dask cluster decides the workers")
    if args.dask is not None:
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise ValueError("--dask is invalid here: install the 'dist' extra (pip install 'cnnrank[dist]')") from None
    base = config_from_args(args)
    spec = SweepSpec(base=base, grid={"n": list(args.n_grid), "noise_std": list(args.noise)},
                     seeds=args.seeds, root_seed=args.seed)
    with output_folder(args.out):  # created and probed before computing; removed again on failure
        return _run(args, base, spec)


def _sweep(args: argparse.Namespace, spec: Any) -> Any:
    from cnnrank.reproduce._sweeping import sweep_executor
    from cnnrank.sweeps import run_sweep

    with sweep_executor(args.workers, args.dask) as executor:
        return run_sweep(spec, store=args.out / "sweep", executor=executor, progress=False if args.quiet else None,
                         group=not args.cell_by_cell)


def _run(args: argparse.Namespace, base: Any, spec: Any) -> int:
    from cnnrank.experiments.phase import phase_record
    from cnnrank.reproduce._output import written
    from cnnrank.reproduce.simulate import _save_figure
    from cnnrank.results import atomic_write_text
    from cnnrank.tables import format_table

    start = time.perf_counter()
    res = _sweep(args, spec)
    seconds = time.perf_counter() - start
    out = phase_record(res, base, list(args.n_grid), list(args.noise))
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
    rows = [{"n": n, "theory": t, "measured": m, "ratio": r}
            for n, t, m, r in zip(out["n"], out["theory_boundary"], out["measured_boundary"], out["boundary_ratio"])]
    print(format_table(rows, [("n", "n", "d"), ("theory", "σ_p* theory", ".3g"),
                              ("measured", "σ_p at acc 0.9", ".3g"), ("ratio", "measured/theory", ".2f")]))
    print(f"\n{spec.n_cells} cells ({len(out['n'])} n × {len(out['noise_std'])} σ_p × {args.seeds} seeds) "
          f"in {seconds:.1f} s")
    # no timings in the results: two runs of one command write byte-identical JSON
    paths = [args.out / "phase_diagram.json", args.out / "phase_diagram.png"]
    atomic_write_text(paths[0], json.dumps(out, indent=1))
    _save_figure(phase_diagram_figure(out), paths[1], dpi=130)
    print(written(paths))
    return 0


def _edges(x: np.ndarray) -> np.ndarray:
    """Cell edges on a log axis: geometric midpoints, the outer ones mirrored."""
    lx = np.log(x)
    if lx.size == 1:
        return np.exp(np.array([lx[0] - 0.5, lx[0] + 0.5]))
    mid = (lx[1:] + lx[:-1]) / 2
    return np.exp(np.concatenate([[2 * lx[0] - mid[0]], mid, [2 * lx[-1] - mid[-1]]]))


def _arr(rows: Any) -> np.ndarray:
    return np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)


def phase_diagram_figure(record: dict[str, Any]) -> Any:
    """The four-panel phase diagram of a ``phase_diagram.json`` record (a matplotlib ``Figure``).

    Heatmaps over ``n`` (log, horizontal) and ``σ_p`` (log, vertical) of the test accuracy, the signal
    energy fraction, the learned dimension / 2K (a dot where it equals 2K) and the data's / filters'
    stable rank; on each the theory's benign boundary σ_p*(n), the data-rank take-off and the measured
    0.9-accuracy contour (with its interpolated crossing per ``n``).
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "pdf", "svg", "ps", "cairo"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    ns = np.asarray(record["n"], dtype=float)
    sig = np.asarray(record["noise_std"], dtype=float)
    shape = (ns.size, sig.size)
    acc = _arr(record["test_acc"])
    sef = _arr(record["signal_energy_fraction"])
    two_k = float(record.get("clean_rank", 2 * record.get("K", 1)))
    ld = _arr(record["learned_dimension"]) / two_k
    ratio = _arr(record["data_stable_rank"]) / _arr(record["filter_stable_rank"])
    for name, a in (("test_acc", acc), ("signal_energy_fraction", sef), ("learned_dimension", ld), ("ratio", ratio)):
        if a.shape != shape:
            raise ValueError(f"{name} has shape {a.shape}, expected (len(n), len(noise_std)) = {shape}")
    theory_b = np.asarray(record["theory_boundary"], dtype=float)
    meas = np.array([np.nan if v is None else v for v in record["measured_boundary"]], dtype=float)
    takeoff = np.asarray(record["noise_takeoff"], dtype=float)
    level = float(record.get("accuracy_level", 0.9))
    xe, ye = _edges(ns), _edges(sig)
    # the boundary is a power law in n: draw it across the whole axis (exponent from the record, 1/q)
    xs = np.geomspace(xe[0], xe[-1], 100)
    if ns.size > 1:
        slope = np.polyfit(np.log(ns), np.log(theory_b), 1)
        curve = np.exp(np.polyval(slope, np.log(xs)))
    else:
        curve = np.full_like(xs, theory_b[0])
    tk = np.interp(np.log(xs), np.log(ns), takeoff)

    fig, axes = plt.subplots(2, 2, figsize=(11, 8.6), sharex=True, sharey=True, constrained_layout=True)
    ratio_pos = ratio[np.isfinite(ratio) & (ratio > 0)]
    rmin, rmax = (float(ratio_pos.min()), float(ratio_pos.max())) if ratio_pos.size else (0.5, 2.0)
    rnorm = LogNorm(vmin=min(rmin, 0.99), vmax=max(rmax, 1.01))
    panels = [
        (acc, "test accuracy", "test accuracy (fraction correct)", dict(cmap="viridis", vmin=0.5, vmax=1.0)),
        (sef, "signal energy fraction", "share of learned energy in the signal span", dict(cmap="magma", vmin=0.0, vmax=1.0)),
        (ld, "learned dimension / 2K", f"learned dimension / 2K  (2K = {two_k:g})", dict(cmap="cividis", vmin=0.0, vmax=1.0)),
        (ratio, "data / filter stable rank", "srank(data) / srank(W)  (log scale)", dict(cmap="plasma", norm=rnorm)),
    ]
    for ax, (z, title, clabel, kw) in zip(axes.flat, panels):
        mesh = ax.pcolormesh(xe, ye, np.ma.masked_invalid(z.T), shading="flat", **kw)
        cb = fig.colorbar(mesh, ax=ax)
        cb.set_label(clabel)
        if title.startswith("learned dimension"):
            full = np.argwhere(np.isclose(z, 1.0))
            if full.size:
                ax.scatter(ns[full[:, 0]], sig[full[:, 1]], s=22, marker="o", facecolors="white",
                           edgecolors="black", linewidths=0.6, zorder=4, label="learned dimension = 2K")
        ax.plot(xs, curve, color="white", lw=2.4, zorder=5)
        ax.plot(xs, curve, color="black", lw=1.2, ls="--", zorder=6, label="theory: benign boundary σ_p*(n)")
        ax.plot(xs, tk, color="tab:green", lw=1.6, ls=":", zorder=6, label="theory: data-rank take-off")
        if ns.size > 1 and sig.size > 1 and np.nanmin(acc) < level < np.nanmax(acc):
            ax.contour(ns, sig, acc.T, levels=[level], colors="red", linewidths=1.6, zorder=6)
        ax.plot(ns, meas, "s", color="red", ms=5, mec="black", mew=0.5, zorder=7,
                label=f"measured: test accuracy {level:g} contour")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(xe[0], xe[-1])
        ax.set_ylim(ye[0], ye[-1])
        ax.set_title(title)
    for ax in axes[1]:
        ax.set_xlabel("number of training samples n")
        ax.set_xticks(ns)
        ax.set_xticklabels([f"{int(v)}" for v in ns])
        ax.minorticks_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("background noise σ_p")
        ax.set_yticks(sig)
        ax.set_yticklabels([f"{v:g}" for v in sig])
    extra = axes[1, 0].get_legend_handles_labels()
    by_label = dict(zip(*axes[0, 0].get_legend_handles_labels()[::-1]))
    by_label.update(dict(zip(extra[1], extra[0])))
    fig.legend(list(by_label.values()), list(by_label.keys()), loc="outside lower center", ncol=2, frameon=False)
    cfg = record.get("config", {})
    fig.suptitle(f"Phase diagram: d={cfg.get('d', '?')}, K={record.get('K', '?')}, P={cfg.get('patches', '?')}, "
                 f"m={cfg.get('m', '?')}, {cfg.get('activation', '?')}, {cfg.get('steps', '?')} steps; "
                 f"mean over {record.get('seeds', {}).get('count', '?')} seed(s)")
    return fig
