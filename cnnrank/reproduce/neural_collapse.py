"""``python -m cnnrank reproduce neural-collapse``: collapse dynamics, margins, the two probes.

Command-line glue: the arguments go to :func:`cnnrank.collapse.experiments.neural_collapse_experiment`,
the figures are :func:`cnnrank.collapse.plotting.collapse_figure` and
:func:`~cnnrank.collapse.plotting.probes_figure`. Writes into ``--out``: ``neural-collapse.png``
(dynamics: UFM and Gaussian mixture), ``neural-collapse-probes.png`` (fixed-classifier probes and the
frame solver), ``neural-collapse.json`` (all numbers) and one ``.npz`` per run / probe; prints a
compact table. See docs/neural-collapse.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from cnnrank._validation import check_int

#: every file the command writes (one ``probe_<kind>.npz`` per probe)
_OUTPUTS = ("neural-collapse.png", "neural-collapse-probes.png", "neural-collapse.json", "ufm.npz", "mixture.npz",
            "probe_*.npz")

DESCRIPTION = "neural collapse: NC1-NC4 and p_min over CE training (UFM, Gaussian mixture), ETF/Grassmannian probes"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._sweeping import add_workers_argument

    parser.add_argument("--out", default="results/neural-collapse", metavar="DIR", help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="base seed")
    parser.add_argument("--classes", type=int, default=5, help="classes C of the UFM, mixture and ETF probe")
    parser.add_argument("--steps", type=int, default=3000, help="GD steps of the mixture run")
    parser.add_argument("--ufm-steps", type=int, default=4000, help="GD steps of the UFM run")
    parser.add_argument("--assignments", type=int, default=6, help="classifier variants per probe")
    parser.add_argument("--probe-seeds", type=int, default=4, help="initializations per variant, >= 2")
    parser.add_argument("--probe-steps", type=int, default=1500, help="GD steps per probe run")
    parser.add_argument("--frame-classes", type=int, default=6, help="classes of the Grassmannian probe")
    parser.add_argument("--frame-dim", type=int, default=3, help="feature dimension of the Grassmannian probe, < classes-1")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds), for smoke tests")
    parser.add_argument("--quiet", action="store_true", help="no table: print only the files written")
    add_workers_argument(parser)


def _f(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else (f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}")


def _validate(args: argparse.Namespace) -> dict:
    """The options, checked under their command-line names (before anything is written)."""
    p = {
        "seed": check_int("seed", args.seed, minimum=0),
        "classes": check_int("classes", args.classes, minimum=3, maximum=50),
        "steps": check_int("steps", args.steps, minimum=10, maximum=10**6),
        "ufm_steps": check_int("ufm-steps", args.ufm_steps, minimum=10, maximum=10**6),
        "assignments": check_int("assignments", args.assignments, minimum=2, maximum=100),
        "probe_seeds": check_int("probe-seeds", args.probe_seeds, minimum=2, maximum=100),
        "probe_steps": check_int("probe-steps", args.probe_steps, minimum=10, maximum=10**6),
        "frame_classes": check_int("frame-classes", args.frame_classes, minimum=3, maximum=50),
        "frame_dim": check_int("frame-dim", args.frame_dim, minimum=1),
        "quick": bool(args.quick),
    }
    if p["frame_classes"] <= p["frame_dim"] + 1:
        raise ValueError(f"frame-classes={p['frame_classes']} is invalid: must exceed frame-dim + 1 = "
                         f"{p['frame_dim'] + 1} (generalized collapse, C > d + 1)")
    return p


def _print_table(res, summary: dict, out: Path) -> None:
    mix, ufm = res.mixture, res.ufm
    print(f"neural collapse (seed {res.params['seed']}, {res.runtime_s:.1f} s) -> {out}")
    names = ("nc1", "equinorm_means", "equiangular_means", "maxangle_means", "etf_distance_means",
             "equinorm_classifier", "etf_distance_classifier", "nc3_duality", "nc4_ncc_mismatch", "p_min")
    fu, fm = summary["ufm"]["final"], summary["mixture"]["final"]
    i0 = dict(zip(mix.history_names, mix.history[0]))
    u0 = dict(zip(ufm.history_names, ufm.history[0]))
    print("final NC metrics          UFM: init -> end        mixture: init -> end")
    for n in names:
        print(f"  {n:<24} {_f(u0[n]):>9} -> {_f(fu[n]):<10}   {_f(i0[n]):>9} -> {_f(fm[n])}")
    pm = summary["mixture"]["p_min"]
    print(f"mixture: zero train error at step {mix.first_zero_error_step}; test accuracy "
          f"{_f(summary['mixture']['test_accuracy_at_zero_error'])} -> {_f(summary['mixture']['final_test_accuracy'])}")
    print("  p_min trajectory: " + ", ".join(f"{s}:{v:.2f}" for s, v in zip(pm["steps"], pm["values"])))
    print("probes (test accuracy per variant, mean over seeds)")
    for pr in res.etf_probes + res.frame_probes:
        print(f"  {pr.kind:<18} {' '.join(f'{a:.3f}' for a in pr.test_accuracy.mean(1))}  spread {pr.spread:.3f}"
              f"  seed spread {pr.seed_spread:.3f}  F {pr.f_statistic:.2f}  p {pr.p_value:.2g}"
              f"  min train acc {pr.train_accuracy.min():.2f}")
    print("frame solver: N d kind  coherence  bound (name)  gap")
    for f in res.frames:
        print(f"  {f.vectors.shape[0]:>3} {f.vectors.shape[1]:>2} {'signed' if f.signed else 'abs   '} "
              f"{f.coherence:>9.6f}  {f.bound:>9.6f} ({f.bound_name})  {f.gap:.2e}")


def run(args: argparse.Namespace) -> int:
    from cnnrank.reproduce._sweeping import resolve_workers

    p = _validate(args)
    workers = resolve_workers(args)
    out = Path(args.out)

    import matplotlib

    matplotlib.use("Agg")

    from cnnrank._parallel import make_executor, stop_executor
    from cnnrank.collapse.experiments import neural_collapse_experiment
    from cnnrank.collapse.plotting import collapse_figure, probes_figure
    from cnnrank.reproduce._output import figure_bytes, output_folder, write_outputs, written

    with output_folder(out, outputs=_OUTPUTS):  # created and probed before computing; removed again on failure
        # the runs, probes and frames on --workers processes (the same bits for any number); on a
        # signal or an error the workers end at once
        executor = make_executor(workers)
        try:
            res = neural_collapse_experiment(**p, executor=executor)
        except BaseException:
            stop_executor(executor)
            raise
        if executor is not None:
            executor.shutdown()
        summary = res.summary()  # no timings: two runs write byte-identical JSON
        files = [(out / "neural-collapse.png", figure_bytes(collapse_figure(res.ufm, res.mixture), "png", dpi=100)),
                 (out / "neural-collapse-probes.png",
                  figure_bytes(probes_figure(res.etf_probes, res.frame_probes, res.frames), "png", dpi=100)),
                 (out / "neural-collapse.json", json.dumps(summary, indent=2, allow_nan=True).encode("utf-8"))]
        write_outputs(files + res.run_files(out))  # built in memory, then written together: all or none
    if not args.quiet:
        _print_table(res, summary, out)
    print(written([out / "neural-collapse.png", out / "neural-collapse-probes.png", out / "neural-collapse.json"]))
    return 0
