"""``python -m cnnrank reproduce rank-vs-noise``: the headline figure.

Sweeps the background noise σ_p (× seeds) on the paper regime, and records the stable rank of the
data (noisy and clean) and of the trained filters, with the theory's predicted data curve.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

DESCRIPTION = ("The headline: stable rank of the data and of the trained filters versus background "
               "noise σ_p (writes OUT/rank_vs_noise.json and OUT/rank_vs_noise.png).")

DEFAULT_NOISE = (0.0, 0.1, 0.2, 0.4, 0.8, 1.2, 1.6)
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
    add_run_arguments(parser)


def _executor(workers: int):
    if workers < 1:
        raise ValueError(f"workers={workers} is invalid: must be an integer >= 1")
    if workers == 1:
        return None
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers)


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
    noise = list(args.noise)
    grid = np.linspace(0.0, max(noise), 200)
    predicted = theory.expected_data_stable_rank(base, grid)
    mean = {k: res.mean(k).tolist() for k in res.values}
    fr = res.values["filter_stable_rank"]
    out = {
        "noise_std": noise,
        "data_stable_rank": mean["data_stable_rank"],
        "clean_data_stable_rank": mean["clean_data_stable_rank"],
        "patch_stable_rank": mean["patch_stable_rank"],
        "filter_stable_rank": mean["filter_stable_rank"],
        "filter_stable_rank_min": fr.min(axis=-1).tolist(),
        "filter_stable_rank_max": fr.max(axis=-1).tolist(),
        "learned_stable_rank": mean["learned_stable_rank"],
        "test_acc": mean["test_acc"],
        "train_acc": mean["train_acc"],
        "max_gamma": mean["max_gamma"],
        "max_rho_pos": mean["max_rho_pos"],
        "predicted_data_stable_rank": theory.expected_data_stable_rank(base, np.array(noise)).tolist(),
        "clean_rank": theory.clean_rank(base),
        "noise_takeoff": theory.noise_takeoff(base),
        "config": base.to_dict(),
        "seeds": {"root_seed": args.seed, "count": args.seeds,
                  "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"},
        "per_seed": {k: v.tolist() for k, v in res.values.items()},
        "seconds": seconds,
    }
    if abl is not None:
        out["ablation"] = {"activation": list(ABLATION),
                           "filter_stable_rank": abl.mean("filter_stable_rank").tolist(),
                           "test_acc": abl.mean("test_acc").tolist()}
    rows = [{"noise": s, **{k: out[k][i] for k in ("data_stable_rank", "predicted_data_stable_rank",
                                                   "clean_data_stable_rank", "filter_stable_rank", "test_acc")}}
            for i, s in enumerate(noise)]
    print(format_table(rows, [("noise", "σ_p", ".3g"), ("data_stable_rank", "data srank", ".2f"),
                              ("predicted_data_stable_rank", "predicted", ".2f"),
                              ("clean_data_stable_rank", "clean srank", ".2f"),
                              ("filter_stable_rank", "filter srank", ".2f"), ("test_acc", "test acc", ".3f")]))
    d0, f0 = out["data_stable_rank"], out["filter_stable_rank"]
    if f0[0] > 0 and d0[0] > 0:
        print(f"\ndata stable rank grows {max(d0) / d0[0]:.1f}x across the noise range; filters stay within "
              f"{100 * (min(f0) / f0[0] - 1):+.0f}% .. {100 * (max(f0) / f0[0] - 1):+.0f}% of their "
              f"noiseless value ({f0[0]:.2f}); 2K = {out['clean_rank']}; {seconds:.1f} s")
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / "rank_vs_noise.json", json.dumps(out, indent=1))
    fig = rank_vs_noise_figure(out, (grid, predicted))
    fig.savefig(args.out / "rank_vs_noise.png", dpi=130)
    written = [args.out / "rank_vs_noise.json", args.out / "rank_vs_noise.png"]
    if abl is not None:
        names = {"huber2": "Huberized q=2", "huber3": "Huberized q=3", "huber4": "Huberized q=4", "relu": "ReLU"}
        fig2 = plot_activation_ablation(noise, {names[a]: r for a, r in zip(ABLATION, out["ablation"]["filter_stable_rank"])},
                                        clean_rank=out["clean_rank"])
        fig2.savefig(args.out / "activation_ablation.png", dpi=130)
        written.append(args.out / "activation_ablation.png")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def rank_vs_noise_figure(out: dict, predicted: tuple | None = None):
    """Two panels from a ``rank_vs_noise.json`` record: ranks vs σ_p, and accuracy / γ / ρ̄ vs σ_p."""
    import matplotlib.pyplot as plt

    from cnnrank.plotting import plot_rank_vs_noise

    fig, (a, b) = plt.subplots(1, 2, figsize=(11.5, 4.3), layout="constrained")
    spread = None
    if "filter_stable_rank_min" in out:
        spread = (out["filter_stable_rank_min"], out["filter_stable_rank_max"])
    plot_rank_vs_noise(out["noise_std"], out["data_stable_rank"], out["filter_stable_rank"],
                       clean_data_stable_rank=out.get("clean_data_stable_rank"),
                       clean_rank=out.get("clean_rank"), predicted_data_stable_rank=predicted,
                       filter_spread=spread, ax=a)
    x = out["noise_std"]
    b.plot(x, out["test_acc"], "o-", color="C2", label="test accuracy")
    if "train_acc" in out:
        b.plot(x, out["train_acc"], "s--", color="0.5", label="train accuracy")
    b.set_ylim(0.4, 1.02)
    b.set_xlabel(r"background noise $\sigma_p$")
    b.set_ylabel("accuracy")
    if "max_gamma" in out:
        c = b.twinx()
        c.semilogy(x, np.maximum(out["max_gamma"], 1e-6), "^-", color="C0", label=r"max $\gamma$ (signal)")
        c.semilogy(x, np.maximum(out["max_rho_pos"], 1e-6), "v-", color="C3", label=r"max $\bar\rho$ (noise)")
        c.set_ylabel("coefficient at the end of training")
        c.legend(loc="lower right", fontsize=8)
    b.legend(loc="lower left", fontsize=8)
    b.set_title("what the filters learned")
    return fig
