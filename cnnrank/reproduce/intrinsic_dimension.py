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
from typing import Any

from cnnrank.experiments.runs import RunConfig
from cnnrank.reproduce._args import comma_list, measures_test_accuracy

DESCRIPTION = ("The intrinsic dimension across K: learned dimension vs 2K, the filters' stable rank vs "
               "2K/(1+(K-1)c), the data's stable rank (writes OUT/intrinsic_dimension.json and .png).")

#: the run configuration: the headline's (five patches, 1000 steps) at the benign level σ_p = 0.1
BASE = RunConfig(patches=5, steps=1000, record_every=50, noise_std=0.1)
DEFAULT_K = (1, 2, 3, 4, 6, 8)


_ints = comma_list(int, "integers", lambda v: v >= 1, "every K must be an integer >= 1")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._output import add_overwrite_argument, seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/intrinsic-dimension"), help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--Ks", type=_ints, default=DEFAULT_K, metavar="K1,K2,...",
                        help="comma-separated signals per class")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per K")
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0")
    add_workers_argument(parser)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_arguments(parser, BASE, swept={"K": "--Ks"})
    measures_test_accuracy(parser, _TEST_USE)


_TEST_USE = "the regime of each K is read from the test accuracy"
_OUTPUTS = ("intrinsic_dimension.json", "intrinsic_dimension.png")


def run(args: argparse.Namespace) -> int:
    from cnnrank.reproduce._args import check_test_samples
    from cnnrank.reproduce._output import check_sweep_store, output_folder
    from cnnrank.reproduce._sweeping import keep_store_on_interrupt, resolve_workers, sweep_executor
    from cnnrank.reproduce.simulate import config_from_args
    from cnnrank.sweeps import SweepSpec, run_sweep

    base = config_from_args(args)
    resolve_workers(args)
    if args.seeds < 1:
        raise ValueError(f"seeds={args.seeds} is invalid: must be an integer >= 1")
    check_test_samples(args.n_test, _TEST_USE)
    Ks = list(args.Ks)
    spec = SweepSpec(base=base, grid={"K": Ks}, seeds=args.seeds, root_seed=args.seed)
    check_sweep_store(args.out / "sweep", spec, args.overwrite, args.out)
    # created and probed before computing; removed again on failure or a signal
    with output_folder(args.out, outputs=_OUTPUTS), keep_store_on_interrupt(args.out / "sweep"):
        start = time.perf_counter()
        with sweep_executor(args.workers) as executor:  # everything validated: from here on we write
            res = run_sweep(spec, store=args.out / "sweep", executor=executor,
                            progress=False if args.quiet else None, balance=False)
        _report(args, base, res, Ks, time.perf_counter() - start)
    return 0


def _report(args: argparse.Namespace, base: RunConfig, res: Any, Ks: list[int], seconds: float) -> None:
    """Print the table and write the record (no timings: reruns write byte-identical JSON) and figure."""
    from cnnrank.experiments.records import intrinsic_record
    from cnnrank.plotting import intrinsic_dimension_figure
    from cnnrank.reproduce._output import figure_bytes, write_outputs, written
    from cnnrank.tables import format_table

    out = intrinsic_record(res, base, Ks)
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
    # built in memory, then written together (both files or none), then printed
    paths = [args.out / name for name in _OUTPUTS]
    write_outputs([(paths[0], json.dumps(out, indent=1).encode("utf-8")),
                   (paths[1], figure_bytes(intrinsic_dimension_figure(out), "png", dpi=130))])
    rows: list[dict[str, Any]] = [{k: (out[k][i] if isinstance(out[k], list) else out[k]) for k in
             ("K", "two_K", "signals_learned", "learned_dimension", "learned_rank", "filter_stable_rank",
              "gamma_stable_rank", "predicted_learned_stable_rank", "expected_filter_stable_rank", "overlap_pos", "overlap_neg",
              "signal_overlap", "signal_energy_fraction", "data_stable_rank", "test_acc", "regime") if k in out}
            for i in range(len(Ks))]
    print(format_table(rows, [("K", "K", "d"), ("two_K", "2K", "d"), ("signals_learned", "signals", ".3g"),
                              ("learned_dimension", "learned dim", ".3g"), ("learned_rank", "learned rank", ".3g"),
                              ("filter_stable_rank", "learned srank", ".2f"),
                              ("gamma_stable_rank", "γ srank", ".2f"),
                              ("predicted_learned_stable_rank", "from W(0)", ".2f"),
                              ("overlap_pos", "c+", ".3f"), ("overlap_neg", "c-", ".3f"),
                              ("expected_filter_stable_rank", "2K/(1+(K-1)c)", ".2f"),
                              ("signal_overlap", "overlap c", ".3f"),
                              ("signal_energy_fraction", "signal energy", ".3f"),
                              ("data_stable_rank", "data srank", ".2f"), ("test_acc", "test acc", ".3f"),
                              ("regime", "regime", "")]))
    print(f"\nσ_p = {base.noise_std:g}; {seconds:.1f} s")
    print(written(paths))
