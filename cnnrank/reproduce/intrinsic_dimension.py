"""``python -m cnnrank reproduce intrinsic-dimension``: the learned dimension across K.

Sweeps the number of signals per class ``K`` (× seeds) at one benign noise level and records, per
``K``, the learned dimension of ``W - W(0)`` against ``2K``, the stable rank of the learned part against
its overlap-corrected expectation ``2K / (1 + (K-1) c)``, the signal energy fraction, the data's stable
rank and the test accuracy (docs/theory.md §5). A ``K`` whose runs fall outside the measured benign
window (docs/theory.md §4) is marked ``"harmful"`` and shaded: there nothing was learned and the claim
does not apply.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnnrank.experiments import RunConfig

DESCRIPTION = ("The intrinsic dimension across K: learned dimension vs 2K, the filters' stable rank vs "
               "2K/(1+(K-1)c), the data's stable rank (writes OUT/intrinsic_dimension.json and .png).")

#: the run configuration: the headline's (five patches, 1000 steps) at the benign level σ_p = 0.1
BASE = RunConfig(patches=5, steps=1000, record_every=50, noise_std=0.1)
DEFAULT_K = (1, 2, 3, 4, 6, 8)


def _ints(text: str) -> tuple[int, ...]:
    try:
        vals = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None
    if not vals or any(v < 1 for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: every K must be an integer >= 1")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/intrinsic-dimension"), help="output folder")
    parser.add_argument("--Ks", type=_ints, default=DEFAULT_K, metavar="K1,K2,...",
                        help="comma-separated signals per class (default: 1,2,3,4,6,8)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per K (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1, in this process)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_arguments(parser, BASE)


def intrinsic_record(res, base: RunConfig, Ks: list[int]) -> dict:
    """The ``intrinsic_dimension.json`` record of a sweep over ``K`` (means over seeds, per-seed values)."""
    from cnnrank import theory
    from cnnrank.subspace import measured_regime

    v = res.values
    expected = np.stack([theory.expected_filter_stable_rank(K, v["signal_overlap"][i]) for i, K in enumerate(Ks)])
    return {
        "K": list(Ks),
        "two_K": [2 * K for K in Ks],
        "learned_dimension": res.mean("learned_dimension").tolist(),
        "learned_dimension_min": v["learned_dimension"].min(axis=-1).tolist(),
        "learned_dimension_max": v["learned_dimension"].max(axis=-1).tolist(),
        "filter_stable_rank": res.mean("learned_stable_rank").tolist(),
        "all_filters_stable_rank": res.mean("filter_stable_rank").tolist(),
        "expected_filter_stable_rank": expected.mean(axis=-1).tolist(),
        "signal_overlap": res.mean("signal_overlap").tolist(),
        "signal_energy_fraction": res.mean("signal_energy_fraction").tolist(),
        "data_stable_rank": res.mean("data_stable_rank").tolist(),
        "clean_data_stable_rank": res.mean("clean_data_stable_rank").tolist(),
        "test_acc": res.mean("test_acc").tolist(),
        "train_acc": res.mean("train_acc").tolist(),
        "regime": measured_regime(v["test_acc"], v["signal_energy_fraction"]).tolist(),
        "benign_limit": [theory.benign_limit(base.replace(K=K)) for K in Ks],
        "noise_std": base.noise_std,
        "config": base.to_dict(),
        "per_seed": {k: a.tolist() for k, a in v.items()},
    }


def run(args: argparse.Namespace) -> int:
    from cnnrank.reproduce.rank_vs_noise import _executor
    from cnnrank.reproduce.simulate import config_from_args, format_table
    from cnnrank.results import atomic_write_text
    from cnnrank.sweeps import SweepSpec, run_sweep

    base = config_from_args(args)
    if args.seeds < 1:
        raise ValueError(f"seeds={args.seeds} is invalid: must be an integer >= 1")
    Ks = list(args.Ks)
    spec = SweepSpec(base=base, grid={"K": Ks}, seeds=args.seeds, root_seed=args.seed)
    executor = _executor(args.workers)  # everything validated: from here on we write
    start = time.perf_counter()
    try:
        res = run_sweep(spec, store=args.out / "sweep", executor=executor,
                        progress=False if args.quiet else None)
    finally:
        if executor is not None:
            executor.shutdown()
    out = intrinsic_record(res, base, Ks)
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
    out["seconds"] = time.perf_counter() - start
    rows = [{k: (out[k][i] if isinstance(out[k], list) else out[k]) for k in
             ("K", "two_K", "learned_dimension", "filter_stable_rank", "expected_filter_stable_rank",
              "signal_overlap", "signal_energy_fraction", "data_stable_rank", "test_acc", "regime")}
            for i in range(len(Ks))]
    print(format_table(rows, [("K", "K", "d"), ("two_K", "2K", "d"), ("learned_dimension", "learned dim", ".3g"),
                              ("filter_stable_rank", "learned srank", ".2f"),
                              ("expected_filter_stable_rank", "2K/(1+(K-1)c)", ".2f"),
                              ("signal_overlap", "overlap c", ".3f"),
                              ("signal_energy_fraction", "signal energy", ".3f"),
                              ("data_stable_rank", "data srank", ".2f"), ("test_acc", "test acc", ".3f"),
                              ("regime", "regime", "")]))
    print(f"\nσ_p = {base.noise_std:g}; {out['seconds']:.1f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "intrinsic_dimension.json", json.dumps(out, indent=1))
    fig = intrinsic_dimension_figure(out)
    fig.savefig(args.out / "intrinsic_dimension.png", dpi=130)
    print(f"wrote {args.out / 'intrinsic_dimension.json'}, {args.out / 'intrinsic_dimension.png'}")
    return 0


def intrinsic_dimension_figure(out: dict):
    """Two panels from an ``intrinsic_dimension.json`` record: dimensions and ranks vs K; what was learned."""
    import matplotlib.pyplot as plt

    from cnnrank.plotting import log_rank_axis

    K = np.asarray(out["K"], dtype=float)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 5.2), layout="constrained")
    bad = [i for i, r in enumerate(out["regime"]) if r != "benign"]
    for ax in (a, b):
        for j, i in enumerate(bad):
            ax.axvspan(K[i] - 0.4, K[i] + 0.4, color="0.85", alpha=0.7, lw=0, zorder=0,
                       label="outside the benign window (measured)" if j == 0 else None)
    kk = np.linspace(K.min(), K.max(), 50)
    a.plot(kk, 2 * kk, color="0.3", ls=":", lw=1.2, label="2K")
    a.plot(K, out["data_stable_rank"], "o-", color="C3", lw=2, label=f"data (noisy) stable rank, σ_p = {out['noise_std']:g}")
    a.plot(K, out["learned_dimension"], "D", color="C2", ms=8, mfc="none", mew=1.8, label="learned dimension")
    a.plot(K, out["filter_stable_rank"], "^-", color="C9", lw=1.5, label="stable rank of W − W(0)")
    a.plot(K, out["expected_filter_stable_rank"], "x", color="C9", ms=8, mew=1.8, label=r"expected $2K/(1+(K-1)c)$")
    log_rank_axis(a)
    a.set_xlabel("signals per class K")
    a.set_ylabel("stable rank / dimension")
    a.set_xticks(K)
    a.set_title("(a) the filters learn the 2K-dimensional signal span")
    a.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    b.plot(K, out["test_acc"], "o-", color="C2", lw=3, alpha=0.6, label="test accuracy")
    b.plot(K, out["signal_energy_fraction"], "^--", color="C0", lw=1.5, label="signal energy fraction")
    b.plot(K, out["signal_overlap"], "s-", color="C1", label="within-class overlap c (0 at K = 1)")
    b.plot(K, np.asarray(out["filter_stable_rank"]) / (2 * K), "^-", color="C9",
           label="stable rank of W − W(0) / 2K")
    b.plot(K, np.asarray(out["expected_filter_stable_rank"]) / (2 * K), "x", color="C9", ms=8, mew=1.8,
           label=r"expected $1/(1+(K-1)c)$")
    b.set_ylim(-0.03, 1.05)
    b.set_xticks(K)
    b.set_xlabel("signals per class K")
    b.set_ylabel("fraction / cosine / accuracy")
    b.set_title("(b) why the stable rank sits below 2K: shared filters (c > 0)")
    b.legend(fontsize=7.5, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    c = out.get("config", {})
    if c:
        fig.suptitle(f"n={c.get('n')}, d={c.get('d')}, P={c.get('patches')}, ‖μ‖={c.get('signal_norm')}, "
                     f"m={c.get('m')}, {c.get('activation')}, η={c.get('lr')}, {c.get('steps')} steps, "
                     f"σ_p={out['noise_std']:g}; mean over seeds", fontsize=9)
    return fig
