"""``python -m cnnrank reproduce calibration``: the calibration scorecard (docs/calibration.md).

Draws ``--n-configs`` configurations at random from the documented ranges (:mod:`cnnrank.calibration`),
runs each once on the sweep machinery (resumable in ``OUT/sweep``; ``--workers`` processes), and
reports for every prediction the library makes how often it lies within its tolerance. Writes
``OUT/calibration.json`` (``configs``, ``measured``, ``predicted``, ``predictions``, ``bands``) and
``OUT/calibration.png`` (predicted against measured, per prediction, coloured by activation).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

DESCRIPTION = ("The calibration scorecard: every prediction against runs at random configurations "
               "(writes OUT/calibration.json and .png).")

#: configurations drawn by default, and with --quick
DEFAULT_N, QUICK_N = 200, 24
_OUTPUTS = ("calibration.json", "calibration.png")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._output import add_overwrite_argument, seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument

    parser.add_argument("--out", type=Path, default=Path("results/calibration"), help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--n-configs", type=int, default=None, metavar="N",
                        help=f"configurations to draw ({DEFAULT_N}; --quick: {QUICK_N})")
    parser.add_argument("--seed", type=seed_type, default=0, help="seed of the draw and of the runs, an integer >= 0")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_N} configurations (about a minute)")
    add_workers_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from cnnrank.calibration import calibration_spec, draw_configs, scorecard
    from cnnrank.reproduce._output import check_sweep_store, output_folder
    from cnnrank.reproduce._sweeping import keep_store_on_interrupt, resolve_workers, sweep_executor
    from cnnrank.sweeps import run_sweep

    n = args.n_configs if args.n_configs is not None else (QUICK_N if args.quick else DEFAULT_N)
    if isinstance(n, bool) or n < 1 or n > 100_000:
        raise ValueError(f"n_configs={n} is invalid: must be an integer in [1, 100000]")
    workers = resolve_workers(args)
    configs = draw_configs(n, rng=np.random.SeedSequence(args.seed).spawn(1)[0])
    spec = calibration_spec(configs, args.seed)
    check_sweep_store(args.out / "sweep", spec, args.overwrite, args.out)
    with output_folder(args.out, outputs=_OUTPUTS), keep_store_on_interrupt(args.out / "sweep"):
        start = time.perf_counter()
        with sweep_executor(workers) as executor:
            res = run_sweep(spec, store=args.out / "sweep", executor=executor,
                            progress=False if args.quiet else None, keep_diverged=True, balance=False)
        record = scorecard(configs, res.values)
        record.update(n_configs=n, seed=args.seed)
        _report(args, record, time.perf_counter() - start)
    return 0


def _report(args: argparse.Namespace, record: dict[str, Any], seconds: float) -> None:
    from cnnrank.plotting import calibration_figure
    from cnnrank.reproduce._output import figure_bytes, write_outputs, written
    from cnnrank.tables import format_table

    paths = [args.out / name for name in _OUTPUTS]
    write_outputs([(paths[0], json.dumps(record, indent=1).encode("utf-8")),
                   (paths[1], figure_bytes(calibration_figure(record), "png", dpi=120))])
    rows = []
    for k, v in record["predictions"].items():
        rows.append({"name": k, **v, "met": {True: "met", False: "missed", None: "-"}[v["met"]]})
        if "narrowed" in v:
            w = v["narrowed"]
            rows.append({"name": f"  where {w['where']}", **{x: w[x] for x in ("n", "within", "fraction")},
                         "target": v["target"], "met": {True: "met", False: "missed", None: "-"}[w["met"]]})
    print(format_table(rows, [("name", "prediction", ""), ("tolerance", "tolerance", "g"), ("n", "runs", "d"),
                              ("within", "within", "d"), ("fraction", "fraction", ".3f"),
                              ("target", "target", "g"), ("met", "target met", "")]))
    bands = [{"criterion": k, **v} for k, v in record["bands"].items()]
    print()
    print(format_table(bands, [("criterion", "criterion", ""), ("benign_side", "benign side from σ*/", "g"),
                               ("harmful_side", "harmful side from σ*×", "g"), ("runs", "runs", "d")]))
    n_div = sum(bool(x) for x in record["measured"]["diverged"])
    print(f"\n{record['n_configs']} configurations ({n_div} diverged); {seconds:.1f} s")
    print(written(paths))
