"""``python -m cnnrank reproduce beyond-the-theorem``: the headline's noise sweep under training variants.

Runs every variant of :data:`cnnrank.experiments.beyond.VARIANTS` (the theorem; a trainable head with a
small and a large ``a0``; SGD with two batch sizes; weight decay at two strengths; sign descent; Adam;
unequal signal norms with a small and a large step) over the noise levels, ``--seeds`` seeds each, on
the sweep machinery (resumable in ``OUT/sweep``; ``--workers`` processes; a run that blows up is kept
as a harmful level). Writes ``OUT/beyond_the_theorem.json`` (:func:`cnnrank.experiments.beyond.beyond_record`)
and ``OUT/beyond_the_theorem.png`` (one panel per variant, its own harmful levels and the theorem's
benign window shaded). Verdicts per published prediction: docs/beyond-the-theorem.md.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

DESCRIPTION = ("Beyond the theorem: the noise sweep under a trainable head, SGD, weight decay, sign "
               "descent, Adam and unequal signal norms (writes OUT/beyond_the_theorem.json and .png).")

_OUTPUTS = ("beyond_the_theorem.json", "beyond_the_theorem.png")
#: --quick: fewer levels, one seed, 400 steps
QUICK_SEEDS, QUICK_STEPS = 1, 400


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.experiments.beyond import BEYOND_NOISE, QUICK_NOISE
    from cnnrank.reproduce._output import add_overwrite_argument, seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument
    from cnnrank.reproduce.rank_vs_noise import _floats

    parser.add_argument("--out", type=Path, default=Path("results/beyond-the-theorem"), help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--noise", type=_floats, default=None,
                        help=f"comma-separated σ_p values (default {','.join(map(str, BEYOND_NOISE))}; "
                             f"--quick: {','.join(map(str, QUICK_NOISE))})")
    parser.add_argument("--seeds", type=int, default=None, help=f"seeds per level (default 2; --quick: {QUICK_SEEDS})")
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0")
    parser.add_argument("--only", default=None, metavar="NAMES",
                        help="comma-separated variant names to run (default: all; 'theorem' is always run)")
    parser.add_argument("--quick", action="store_true",
                        help=f"{len(QUICK_NOISE)} noise levels, {QUICK_SEEDS} seed, {QUICK_STEPS} steps (under a minute)")
    add_workers_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _variants(only: str | None) -> tuple:
    from cnnrank.experiments.beyond import VARIANTS

    if only is None:
        return VARIANTS
    names = [s.strip() for s in only.split(",") if s.strip()]
    known = {v.name: v for v in VARIANTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"--only names unknown variant {unknown[0]!r}: known are {sorted(known)}")
    return tuple(v for v in VARIANTS if v.name == "theorem" or v.name in names)


def run(args: argparse.Namespace) -> int:
    from cnnrank.experiments.beyond import BEYOND_BASE, BEYOND_NOISE, QUICK_NOISE, beyond_record, beyond_spec
    from cnnrank.plotting.beyond import beyond_figure
    from cnnrank.reproduce._output import check_sweep_store, figure_bytes, output_folder, write_outputs, written
    from cnnrank.reproduce._sweeping import keep_store_on_interrupt, resolve_workers, sweep_executor
    from cnnrank.sweeps import run_sweep
    from cnnrank.tables import format_table

    workers = resolve_workers(args)
    noise = tuple(args.noise) if args.noise is not None else (QUICK_NOISE if args.quick else BEYOND_NOISE)
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if args.quick else 2)
    if isinstance(seeds, bool) or seeds < 1:
        raise ValueError(f"seeds={seeds} is invalid: must be an integer >= 1")
    base = BEYOND_BASE.replace(steps=QUICK_STEPS) if args.quick else BEYOND_BASE
    variants = _variants(args.only)
    spec = beyond_spec(base, noise, seeds, args.seed, variants)
    check_sweep_store(args.out / "sweep", spec, args.overwrite, args.out)
    with output_folder(args.out, outputs=_OUTPUTS), keep_store_on_interrupt(args.out / "sweep"):
        start = time.perf_counter()
        with sweep_executor(workers) as executor:
            res = run_sweep(spec, store=args.out / "sweep", executor=executor,
                            progress=False if args.quiet else None, keep_diverged=True, balance=True)
        seconds = time.perf_counter() - start
        out = beyond_record(res, variants, noise)
        out["root_seed"] = args.seed
        paths = write_outputs([(args.out / _OUTPUTS[0], json.dumps(out, indent=1).encode("utf-8")),
                               (args.out / _OUTPUTS[1], figure_bytes(beyond_figure(out), "png", dpi=120))])
    rows = []
    for s in out["summary"]:
        w = s["window"]
        rows.append({"variant": s["name"], "benign": f"{s['benign_levels']}/{len(noise)}",
                     "window": "none" if w is None else f"{w[0]:g}..{w[1]:g}",
                     "signals": "n/a" if s["signals_learned"] is None else "..".join(f"{v:g}" for v in dict.fromkeys(s["signals_learned"])),
                     "lsr": "n/a" if s["learned_stable_rank"] is None else f"{s['learned_stable_rank'][0]:.2f}..{s['learned_stable_rank'][1]:.2f}"})
    print(format_table(rows, [("variant", "variant", ""), ("benign", "benign levels", ""),
                              ("window", "benign σ_p", ""), ("signals", "signals learned", ""),
                              ("lsr", "learned srank", "")]))
    print(f"\n2K = {out['clean_rank']}; benign = test accuracy >= 0.95 and signal energy >= 0.5 at every seed "
          f"({seconds:.1f} s)")
    print(written(paths))
    return 0
