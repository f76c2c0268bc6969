"""``python -m cnnrank reproduce rank-vs-noise``: the headline figure.

Sweeps the background noise σ_p (× seeds) and records, per level, the stable rank of the data (noisy
and clean, with the theory's predicted curve) and of the trained filters, and what the filters learned:
the learned dimension (directions of the 2K-dimensional signal span learned above the memorization
edge), the share of the learned energy in the signal span, the within-class overlap ``c`` and the
overlap-corrected expectation ``2K / (1 + (K-1) c)`` of the learned part's stable rank
(docs/theory.md §5). Levels outside the measured benign window (test accuracy < 0.95 or signal energy
fraction < 0.5, docs/theory.md §4) are marked ``"harmful"`` and shaded on the figure: there the network
learned no signal and the claim does not apply.

Defaults (:data:`HEADLINE`): the paper regime with ``P = 5`` patches, so that the benign window holds
six noise levels over which the data's stable rank grows about 7.5×, and 1000 steps (test accuracy and
signal energy fraction are settled by step 600).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from cnnrank.experiments import RunConfig

DESCRIPTION = ("The headline: stable rank of the data and of the trained filters versus background "
               "noise σ_p, with the learned dimension, the signal energy fraction and the measured "
               "benign window (writes OUT/rank_vs_noise.json and OUT/rank_vs_noise.png).")

#: the headline's run configuration: ``RunConfig()`` with five patches and 1000 steps
HEADLINE = RunConfig(patches=5, steps=1000, record_every=50)
DEFAULT_NOISE = (0.0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.8)
ABLATION = ("huber2", "huber3", "huber4", "relu")


def _floats(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None
    if not vals or any(v < 0 or not np.isfinite(v) for v in vals):
        raise argparse.ArgumentTypeError(f"{text!r}: noise levels must be finite and >= 0")
    return vals


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/rank-vs-noise"), help="output folder")
    parser.add_argument("--noise", type=_floats, default=DEFAULT_NOISE,
                        help="comma-separated σ_p values (default: %(default)s)")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per noise level (default: 2)")
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    parser.add_argument("--workers", type=int, default=1, help="processes (default: 1, in this process)")
    parser.add_argument("--ablation", action="store_true",
                        help="also sweep the activation (q = 2, 3, 4, ReLU): OUT/activation_ablation.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_arguments(parser, HEADLINE)


def _executor(workers: int):
    """The executor for ``--workers`` (:func:`cnnrank._parallel.make_executor`)."""
    from cnnrank._parallel import make_executor

    return make_executor(workers)


def run(args: argparse.Namespace) -> int:
    from cnnrank import theory
    from cnnrank.plotting import plot_activation_ablation
    from cnnrank.reproduce.simulate import config_from_args, format_table
    from cnnrank.results import atomic_write_text
    from cnnrank.sweeps import SweepSpec, run_sweep

    base = config_from_args(args)
    if args.seeds < 1:
        raise ValueError(f"seeds={args.seeds} is invalid: must be an integer >= 1")
    spec = SweepSpec(base=base, grid={"noise_std": list(args.noise)}, seeds=args.seeds, root_seed=args.seed)
    ablation = None
    if args.ablation:
        ablation = SweepSpec(base=base, grid={"activation": list(ABLATION), "noise_std": list(args.noise)},
                             seeds=args.seeds, root_seed=args.seed)
    executor = _executor(args.workers)  # everything validated: from here on we write
    progress = False if args.quiet else None
    start = time.perf_counter()
    try:
        res = run_sweep(spec, store=args.out / "sweep", executor=executor, progress=progress)
        abl = None if ablation is None else run_sweep(ablation, store=args.out / "ablation-sweep",
                                                      executor=executor, progress=progress)
    finally:
        if executor is not None:
            executor.shutdown()
    seconds = time.perf_counter() - start
    out = headline_record(res, base, list(args.noise))
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
    out["seconds"] = seconds
    noise = out["noise_std"]
    grid = np.linspace(0.0, max(noise), 200)
    predicted = theory.expected_data_stable_rank(base, grid)
    if abl is not None:
        from cnnrank.subspace import measured_regime

        out["ablation"] = {"activation": list(ABLATION),
                           "filter_stable_rank": abl.mean("filter_stable_rank").tolist(),
                           "test_acc": abl.mean("test_acc").tolist(),
                           "signal_energy_fraction": abl.mean("signal_energy_fraction").tolist(),
                           "regime": measured_regime(abl.values["test_acc"],
                                                     abl.values["signal_energy_fraction"]).tolist()}
    rows = [{"noise": s, **{k: out[k][i] for k in TABLE_KEYS}} for i, s in enumerate(noise)]
    print(format_table(rows, [("noise", "σ_p", ".3g"), ("data_stable_rank", "data srank", ".2f"),
                              ("predicted_data_stable_rank", "predicted", ".2f"),
                              ("filter_stable_rank", "filter srank", ".2f"),
                              ("learned_stable_rank", "learned srank", ".2f"),
                              ("expected_filter_stable_rank", "2K/(1+(K-1)c)", ".2f"),
                              ("learned_dimension", "learned dim", ".3g"),
                              ("signal_energy_fraction", "signal energy", ".3f"),
                              ("test_acc", "test acc", ".3f"), ("regime", "regime", "")]))
    print("\n" + headline_sentence(out) + f" ({seconds:.1f} s)")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "rank_vs_noise.json", json.dumps(out, indent=1))
    fig = rank_vs_noise_figure(out, (grid, predicted))
    fig.savefig(args.out / "rank_vs_noise.png", dpi=130)
    written = [args.out / "rank_vs_noise.json", args.out / "rank_vs_noise.png"]
    if abl is not None:
        names = {"huber2": "Huberized q=2", "huber3": "Huberized q=3", "huber4": "Huberized q=4", "relu": "ReLU"}
        fig2 = plot_activation_ablation(noise, {names[a]: r for a, r in zip(ABLATION, out["ablation"]["filter_stable_rank"])},
                                        clean_rank=out["clean_rank"],
                                        regime={names[a]: r for a, r in zip(ABLATION, out["ablation"]["regime"])})
        fig2.savefig(args.out / "activation_ablation.png", dpi=130)
        written.append(args.out / "activation_ablation.png")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


TABLE_KEYS = ("data_stable_rank", "predicted_data_stable_rank", "filter_stable_rank", "learned_stable_rank",
              "expected_filter_stable_rank", "learned_dimension", "signal_energy_fraction", "test_acc", "regime")


def headline_record(res, base: RunConfig, noise: list[float]) -> dict:
    """The ``rank_vs_noise.json`` record of a noise sweep (means over seeds, per-seed values, regimes).

    Per level: the data's, filters' and learned part's stable ranks, the learned dimension, the signal
    energy fraction, the within-class overlap ``c``, the expectation ``2K/(1+(K-1)c)`` (computed per
    seed, then averaged), accuracies and the measured ``regime``; and the scalars ``clean_rank`` (2K),
    ``noise_takeoff`` and ``benign_limit`` (the theory's σ_p threshold).
    """
    from cnnrank import theory
    from cnnrank.subspace import measured_regime

    mean = {k: res.mean(k).tolist() for k in res.values}
    fr = res.values["filter_stable_rank"]
    expected = theory.expected_filter_stable_rank(base.K, res.values["signal_overlap"])
    regime = measured_regime(res.values["test_acc"], res.values["signal_energy_fraction"])
    return {
        "noise_std": list(noise),
        "data_stable_rank": mean["data_stable_rank"],
        "clean_data_stable_rank": mean["clean_data_stable_rank"],
        "patch_stable_rank": mean["patch_stable_rank"],
        "filter_stable_rank": mean["filter_stable_rank"],
        "filter_stable_rank_min": fr.min(axis=-1).tolist(),
        "filter_stable_rank_max": fr.max(axis=-1).tolist(),
        "learned_stable_rank": mean["learned_stable_rank"],
        "learned_dimension": mean["learned_dimension"],
        "signal_energy_fraction": mean["signal_energy_fraction"],
        "signal_overlap": mean["signal_overlap"],
        "expected_filter_stable_rank": np.mean(expected, axis=-1).tolist(),
        "regime": regime.tolist(),
        "test_acc": mean["test_acc"],
        "train_acc": mean["train_acc"],
        "max_gamma": mean["max_gamma"],
        "max_rho_pos": mean["max_rho_pos"],
        "predicted_data_stable_rank": theory.expected_data_stable_rank(base, np.array(noise)).tolist(),
        "clean_rank": theory.clean_rank(base),
        "noise_takeoff": theory.noise_takeoff(base),
        "benign_limit": theory.benign_limit(base),
        "config": base.to_dict(),
        "per_seed": {k: v.tolist() for k, v in res.values.items()},
    }


def benign_window(out: dict) -> list[int]:
    """Indices of the levels of a ``rank_vs_noise.json`` record measured benign."""
    return [i for i, r in enumerate(out["regime"]) if r == "benign"]


def headline_sentence(out: dict) -> str:
    """One honest sentence about a ``rank_vs_noise.json`` record: the benign window and what holds in it."""
    win = benign_window(out)
    K2 = out["clean_rank"]
    if not win:
        return (f"no noise level is in the benign window (test accuracy >= 0.95 and signal energy >= 0.5): "
                f"the network learned no signal, so the claim does not apply here; 2K = {K2}")
    x, d = out["noise_std"], out["data_stable_rank"]
    lo, hi = win[0], win[-1]
    dims = sorted({round(out["learned_dimension"][i], 2) for i in win})
    ls = [out["learned_stable_rank"][i] for i in win]
    growth = d[hi] / d[lo] if d[lo] > 0 else float("inf")
    return (f"benign window (measured): σ_p = {x[lo]:g} .. {x[hi]:g} ({len(win)} levels); inside it the data's "
            f"stable rank grows {growth:.1f}x ({d[lo]:.1f} -> {d[hi]:.1f}), the learned dimension is "
            f"{', '.join(f'{v:g}' for v in dims)} (2K = {K2}), the learned part's stable rank stays in "
            f"{min(ls):.2f} .. {max(ls):.2f}; theory's threshold σ_p = {out['benign_limit']:.3g}")


def rank_vs_noise_figure(out: dict, predicted: tuple | None = None):
    """Two panels from a ``rank_vs_noise.json`` record: ranks vs σ_p, and what the filters learned.

    Levels outside the measured benign window are shaded; the theory's threshold is a dashed line.
    Records written before the learned-subspace diagnostics existed are drawn without them.
    """
    import matplotlib.pyplot as plt

    from cnnrank.plotting import plot_learning_vs_noise, plot_rank_vs_noise

    fig, (a, b) = plt.subplots(1, 2, figsize=(12.5, 4.8), layout="constrained")
    spread = None
    if "filter_stable_rank_min" in out:
        spread = (out["filter_stable_rank_min"], out["filter_stable_rank_max"])
    regime, limit = out.get("regime"), out.get("benign_limit")
    plot_rank_vs_noise(out["noise_std"], out["data_stable_rank"], out["filter_stable_rank"],
                       clean_data_stable_rank=out.get("clean_data_stable_rank"),
                       clean_rank=out.get("clean_rank"), predicted_data_stable_rank=predicted,
                       filter_spread=spread, ax=a, learned_stable_rank=out.get("learned_stable_rank"),
                       expected_filter_stable_rank=out.get("expected_filter_stable_rank"),
                       learned_dimension=out.get("learned_dimension"), regime=regime, benign_limit=limit,
                       title="(a) stable rank: data vs trained filters")
    if "signal_energy_fraction" in out:
        plot_learning_vs_noise(out["noise_std"], out["test_acc"], out["signal_energy_fraction"],
                               train_acc=out.get("train_acc"), learned_dimension=out.get("learned_dimension"),
                               clean_rank=out.get("clean_rank"), regime=regime, benign_limit=limit, ax=b,
                               title="(b) what the filters learned")
    else:
        x = out["noise_std"]
        b.plot(x, out["test_acc"], "o-", color="C2", label="test accuracy")
        b.set_ylim(0.4, 1.02)
        b.set_xlabel(r"background noise $\sigma_p$")
        b.set_ylabel("accuracy")
        b.legend(fontsize=8)
        b.set_title("(b) test accuracy")
    c = out.get("config", {})
    if c:
        fig.suptitle(f"n={c.get('n')}, d={c.get('d')}, P={c.get('patches')}, K={c.get('K')}, "
                     f"‖μ‖={c.get('signal_norm')}, m={c.get('m')}, {c.get('activation')}, "
                     f"η={c.get('lr')}, {c.get('steps')} steps; mean over seeds", fontsize=9)
    return fig
