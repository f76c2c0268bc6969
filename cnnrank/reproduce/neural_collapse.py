"""``python -m cnnrank reproduce neural-collapse``: collapse dynamics, margins, the two probes.

Writes into ``--out``: ``neural-collapse.png`` (dynamics: UFM and Gaussian mixture),
``neural-collapse-probes.png`` (fixed-classifier probes and the frame solver), ``neural-collapse.json``
(all numbers) and one ``.npz`` per run / probe; prints a compact table. See docs/neural-collapse.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnnrank._validation import check_int

DESCRIPTION = "neural collapse: NC1-NC4 and p_min over CE training (UFM, Gaussian mixture), ETF/Grassmannian probes"

#: (N, d, signed) instances for the frame solver panel.
FRAME_TABLE = ((3, 2, False), (4, 3, False), (6, 3, False), (5, 2, False), (7, 3, False), (10, 4, False),
               (16, 6, False), (4, 3, True), (5, 2, True), (6, 3, True), (8, 3, True), (12, 3, True))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="results/neural-collapse", metavar="DIR", help="output folder (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="base seed (default %(default)s)")
    parser.add_argument("--classes", type=int, default=5, help="classes C of the UFM, mixture and ETF probe (default %(default)s)")
    parser.add_argument("--steps", type=int, default=3000, help="GD steps of the mixture run (default %(default)s)")
    parser.add_argument("--ufm-steps", type=int, default=4000, help="GD steps of the UFM run (default %(default)s)")
    parser.add_argument("--assignments", type=int, default=6, help="classifier variants per probe (default %(default)s)")
    parser.add_argument("--probe-seeds", type=int, default=4, help="initializations per variant, >= 2 (default %(default)s)")
    parser.add_argument("--probe-steps", type=int, default=1500, help="GD steps per probe run (default %(default)s)")
    parser.add_argument("--frame-classes", type=int, default=6, help="classes of the Grassmannian probe (default %(default)s)")
    parser.add_argument("--frame-dim", type=int, default=3, help="feature dimension of the Grassmannian probe, < classes-1 (default %(default)s)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds), for smoke tests")


def _f(x: float) -> str:
    return "nan" if x is None or not np.isfinite(x) else (f"{x:.3g}" if abs(x) < 1e-3 and x != 0 else f"{x:.4f}")


def _validate(args: argparse.Namespace) -> dict:
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
    if p["quick"]:
        p.update(steps=300, ufm_steps=500, assignments=3, probe_seeds=2, probe_steps=200)
    return p


def run(args: argparse.Namespace) -> int:
    p = _validate(args)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out={str(out)!r} is invalid: exists and is not a folder")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnrank.collapse import grassmannian_frame, nc_metrics, simplex_etf
    from cnnrank.collapse.plotting import collapse_figure, probes_figure
    from cnnrank.collapse.probes import classifier_variants, fixed_classifier_probe
    from cnnrank.collapse.simulate import (
        FeatureNetConfig,
        MixtureConfig,
        UFMConfig,
        sample_mixture,
        train_mixture,
        train_ufm,
    )
    from cnnrank.results import atomic_write_text

    t_start = time.perf_counter()
    C, seed = p["classes"], p["seed"]
    streams = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(10)]
    # 1. dynamics
    ufm = train_ufm(UFMConfig(num_classes=C, dim=max(8, C), steps=p["ufm_steps"]), rng=streams[0])
    mix_data = sample_mixture(MixtureConfig(num_classes=C, input_dim=64, n_train_per_class=10,
                                            n_test_per_class=200), rng=streams[1])
    mix = train_mixture(mix_data, FeatureNetConfig(width=16, activation="relu", lr=0.5, steps=p["steps"],
                                                   record_every=max(1, p["steps"] // 150)), rng=streams[2])
    # 2. probes
    pcfg = FeatureNetConfig(width=C - 1, activation="tanh", lr=0.5, steps=p["probe_steps"])
    etf_data = sample_mixture(MixtureConfig(num_classes=C, input_dim=64, n_train_per_class=10,
                                            n_test_per_class=200), rng=streams[3])
    etf = simplex_etf(C, C - 1, rng=streams[4])
    # tanh features break the rotation/permutation symmetry; linear features are the control: any
    # P M = M R or M Q is absorbed by V -> R V, so only initialization noise remains.
    etf_probes = [fixed_classifier_probe(etf_data, classifier_variants(etf, p["assignments"], kind, rng=streams[5]),
                                         pcfg.replace(activation=act), seeds=p["probe_seeds"],
                                         kind=f"ETF {kind[:4]}. {act}", rng=streams[6])
                  for act in ("tanh", "linear") for kind in ("permutation", "rotation")]
    Cf, df = p["frame_classes"], p["frame_dim"]
    frame = grassmannian_frame(Cf, df, signed=True, rng=streams[7])
    fr_data = sample_mixture(MixtureConfig(num_classes=Cf, input_dim=64, n_train_per_class=10,
                                           n_test_per_class=200), rng=streams[8])
    fcfg = pcfg.replace(width=df)
    frame_probes = [fixed_classifier_probe(fr_data, classifier_variants(frame.vectors, p["assignments"], kind,
                                                                        rng=streams[5]),
                                           fcfg, seeds=p["probe_seeds"], kind=f"frame {kind[:4]}. tanh", rng=streams[6])
                    for kind in ("permutation", "rotation")]
    # 3. frame solver table
    table = FRAME_TABLE[:4] + FRAME_TABLE[7:9] if p["quick"] else FRAME_TABLE
    frames = [grassmannian_frame(N, d, signed=s, rng=streams[9]) for N, d, s in table]
    elapsed = time.perf_counter() - t_start

    out.mkdir(parents=True, exist_ok=True)
    fig = collapse_figure(ufm, mix)
    fig.savefig(out / "neural-collapse.png", dpi=100)
    plt.close(fig)
    fig = probes_figure(etf_probes, frame_probes, frames)
    fig.savefig(out / "neural-collapse-probes.png", dpi=100)
    plt.close(fig)
    ufm.save(out / "ufm.npz")
    mix.save(out / "mixture.npz")
    for pr in etf_probes + frame_probes:
        pr.save(out / f"probe_{pr.kind.lower().replace('. ', '-').replace(' ', '-')}.npz")

    def final(run):
        return nc_metrics(run.H, run.labels, run.W, run.b).as_dict()

    def traj(run, name, k=12):
        idx = np.unique(np.linspace(0, run.steps.size - 1, k).round().astype(int))
        return {"steps": run.steps[idx].tolist(), "values": run.series(name)[idx].tolist()}

    def probe_json(pr):
        return {"kind": pr.kind, "mean_test_accuracy": pr.test_accuracy.mean(1).tolist(),
                "test_accuracy": pr.test_accuracy.tolist(), "min_train_accuracy": float(pr.train_accuracy.min()),
                "spread": pr.spread, "seed_spread": pr.seed_spread, "f_statistic": pr.f_statistic,
                "p_value": pr.p_value, "signed_coherence": pr.coherence.tolist()}

    summary = {
        "params": p, "runtime_s": round(elapsed, 2),
        "ufm": {"final": final(ufm), "first_zero_error_step": ufm.first_zero_error_step,
                "p_min": traj(ufm, "p_min"), "nc1": traj(ufm, "nc1"), "config": ufm.config},
        "mixture": {"final": final(mix), "first_zero_error_step": mix.first_zero_error_step,
                    "initial": dict(zip(mix.history_names, mix.history[0].tolist())),
                    "final_test_accuracy": float(mix.series("test_accuracy")[-1]),
                    "test_accuracy_at_zero_error": float(mix.series("test_accuracy")[mix.series("train_error") == 0][0])
                    if mix.first_zero_error_step is not None else None,
                    "p_min": traj(mix, "p_min"), "p_min_normalized": traj(mix, "p_min_normalized"),
                    "nc1": traj(mix, "nc1"), "config": mix.config},
        "etf_probes": [probe_json(pr) for pr in etf_probes],
        "frame_probes": {"frame_coherence": frame.coherence, "frame_bound": frame.bound, "frame_gap": frame.gap,
                         "classes": Cf, "dim": df, "results": [probe_json(pr) for pr in frame_probes]},
        "frames": [{"N": f.vectors.shape[0], "d": f.vectors.shape[1], "signed": f.signed, "coherence": f.coherence,
                    "bound": f.bound, "bound_name": f.bound_name, "gap": f.gap} for f in frames],
    }
    atomic_write_text(out / "neural-collapse.json", json.dumps(summary, indent=2, allow_nan=True))

    print(f"neural collapse (seed {seed}, {elapsed:.1f} s) -> {out}")
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
    for pr in etf_probes + frame_probes:
        print(f"  {pr.kind:<18} {' '.join(f'{a:.3f}' for a in pr.test_accuracy.mean(1))}  spread {pr.spread:.3f}"
              f"  seed spread {pr.seed_spread:.3f}  F {pr.f_statistic:.2f}  p {pr.p_value:.2g}"
              f"  min train acc {pr.train_accuracy.min():.2f}")
    print("frame solver: N d kind  coherence  bound (name)  gap")
    for f in frames:
        print(f"  {f.vectors.shape[0]:>3} {f.vectors.shape[1]:>2} {'signed' if f.signed else 'abs   '} "
              f"{f.coherence:>9.6f}  {f.bound:>9.6f} ({f.bound_name})  {f.gap:.2e}")
    return 0
