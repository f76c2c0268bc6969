"""``python -m cnnrank simulate``: one training run, a table over training, and the γ/ρ figure."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DESCRIPTION = ("Train the two-layer CNN once on the signal-noise model; print loss, accuracy, "
               "signal learning γ, memorization ρ̄/ρ̲ and stable ranks over training; save the figure.")


def add_run_arguments(parser: argparse.ArgumentParser, base: Any = None) -> None:
    """Options for every flat field of :class:`cnnrank.experiments.RunConfig` (defaults from ``base``,
    ``RunConfig()`` when ``None``)."""
    from cnnrank.experiments.runs import FLAT_FIELDS, RunConfig

    base = RunConfig() if base is None else base
    g = parser.add_argument_group("run configuration (defaults: the paper regime)")
    for name in FLAT_FIELDS:
        default = getattr(base, name)
        flag = "--" + name.replace("_", "-")
        if isinstance(default, bool):
            g.add_argument(flag, type=_parse_bool, default=default, metavar="BOOL",
                           help=f"(default: {default})")
        elif name == "signal_position":
            g.add_argument(flag, type=_int_or_random, default=default, help="int or 'random' (default: 0)")
        else:
            g.add_argument(flag, type=type(default), default=default, help=f"(default: {default})")


def _parse_bool(text: str) -> bool:
    t = text.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (true/false)")


def _int_or_random(text: str) -> int | str:
    return "random" if text == "random" else int(text)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~cnnrank.experiments.RunConfig` of the parsed options (validated)."""
    from cnnrank.experiments.runs import FLAT_FIELDS, RunConfig

    return RunConfig(**{name: getattr(args, name) for name in FLAT_FIELDS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_run_arguments(parser)
    parser.add_argument("--seed", type=int, default=0, help="root seed (default: 0)")
    parser.add_argument("--out", type=Path, default=Path("results/simulate"),
                        help="output folder for trajectory.npz, summary.json, simulate.png")
    parser.add_argument("--no-save", action="store_true", help="print the table only, write nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from cnnrank.experiments.runs import run_once
    from cnnrank.results import atomic_write_text
    from cnnrank.tables import format_table

    config = config_from_args(args)  # validates before anything is written
    start = time.perf_counter()
    out = run_once(config, rng=args.seed, progress=None if not args.quiet else False)
    seconds = time.perf_counter() - start
    traj = out.trajectory
    picks = np.unique(np.linspace(0, len(traj) - 1, min(len(traj), 11)).round().astype(int))
    rows = [traj.summary(k) for k in picks]
    cols = [("step", "step", "d"), ("train_loss", "loss", ".4f"), ("train_acc", "acc", ".3f")]
    if traj.test_acc is not None:
        cols.append(("test_acc", "test acc", ".3f"))
    if traj.gamma is not None:
        cols += [("max_gamma", "max γ", ".4g"), ("max_rho_pos", "max ρ̄", ".4g"), ("min_rho_neg", "min ρ̲", ".4g")]
    cols.append(("filter_stable_rank", "srank W", ".3f"))
    print(format_table(rows, cols))
    r = out.data_ranks
    print(f"\nstable rank: data (n×Pd) {r['data_stable_rank']:.2f} (clean {r['clean_data_stable_rank']:.2f}), "
          f"patches (nP×d) {r['patch_stable_rank']:.2f}, filters {traj.filter_stable_rank[-1]:.2f}, "
          f"2K = {2 * config.K}; {config.steps} steps in {seconds:.1f} s")
    if not args.no_save:
        from cnnrank.plotting import training_figure

        args.out.mkdir(parents=True, exist_ok=True)
        traj.metadata.update(seed=args.seed, seconds=seconds)
        traj.save(args.out / "trajectory.npz")
        summary = {"config": config.to_dict(), "seed": args.seed, "final": traj.summary(),
                   "data_ranks": r, "seconds": seconds}
        atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2))
        fig = training_figure(traj, data_stable_rank=r["data_stable_rank"], data=out.data)
        fig.savefig(args.out / "simulate.png", dpi=120)
        print(f"wrote {args.out / 'trajectory.npz'}, {args.out / 'summary.json'}, {args.out / 'simulate.png'}")
    return 0
