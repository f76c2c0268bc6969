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
from typing import Any

import numpy as np

from cnnrank.experiments.runs import RunConfig
from cnnrank.reproduce._args import comma_list, measures_test_accuracy

DESCRIPTION = ("The headline: stable rank of the data and of the trained filters versus background "
               "noise σ_p, with the learned dimension, the signal energy fraction and the measured "
               "benign window (writes OUT/rank_vs_noise.json and OUT/rank_vs_noise.png).")

#: the headline's run configuration: ``RunConfig()`` with five patches and 1000 steps
HEADLINE = RunConfig(patches=5, steps=1000, record_every=50)
DEFAULT_NOISE = (0.0, 0.04, 0.08, 0.12, 0.16, 0.2, 0.25, 0.3, 0.4, 0.8)
ABLATION = ("huber2", "huber3", "huber4", "relu")
TABLE_KEYS = ("data_stable_rank", "predicted_data_stable_rank", "filter_stable_rank", "learned_stable_rank",
              "gamma_stable_rank", "predicted_learned_stable_rank", "expected_filter_stable_rank", "overlap_pos", "overlap_neg", "signals_learned",
              "learned_dimension", "learned_rank", "signal_energy_fraction", "test_acc", "regime")


_floats = comma_list(float, "numbers", lambda v: v >= 0 and bool(np.isfinite(v)),
                     "noise levels must be finite and >= 0")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._output import add_overwrite_argument, seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument
    from cnnrank.reproduce.simulate import add_run_arguments

    parser.add_argument("--out", type=Path, default=Path("results/rank-vs-noise"), help="output folder")
    add_overwrite_argument(parser)
    parser.add_argument("--noise", type=_floats, default=DEFAULT_NOISE,
                        help="comma-separated σ_p values")
    parser.add_argument("--seeds", type=int, default=2, help="seeds per noise level")
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0")
    add_workers_argument(parser)
    parser.add_argument("--ablation", action="store_true",
                        help="also sweep the activation (q = 2, 3, 4, ReLU): OUT/activation_ablation.png")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    add_run_arguments(parser, HEADLINE, swept={"noise_std": "--noise"})
    measures_test_accuracy(parser, _TEST_USE)


_TEST_USE = "the regime of each noise level is read from the test accuracy"
#: every file the command writes (the ablation's figure only with --ablation)
_OUTPUTS = ("rank_vs_noise.json", "rank_vs_noise.png", "activation_ablation.png")


def run(args: argparse.Namespace) -> int:
    from cnnrank.reproduce._args import check_test_samples
    from cnnrank.reproduce._output import check_sweep_store, output_folder
    from cnnrank.reproduce._sweeping import keep_store_on_interrupt, resolve_workers
    from cnnrank.reproduce.simulate import config_from_args
    from cnnrank.sweeps import SweepSpec

    base = config_from_args(args)
    resolve_workers(args)
    if args.seeds < 1:
        raise ValueError(f"seeds={args.seeds} is invalid: must be an integer >= 1")
    check_test_samples(args.n_test, _TEST_USE)
    spec = SweepSpec(base=base, grid={"noise_std": list(args.noise)}, seeds=args.seeds, root_seed=args.seed)
    ablation = None
    if args.ablation:
        ablation = SweepSpec(base=base, grid={"activation": list(ABLATION), "noise_std": list(args.noise)},
                             seeds=args.seeds, root_seed=args.seed)
    check_sweep_store(args.out / "sweep", spec, args.overwrite, args.out)
    if ablation is not None:
        check_sweep_store(args.out / "ablation-sweep", ablation, args.overwrite, args.out)
    # created and probed before computing; removed again on failure or a signal
    with output_folder(args.out, outputs=_OUTPUTS), keep_store_on_interrupt(args.out / "sweep"):
        return _run(args, base, spec, ablation)


def _run(args: argparse.Namespace, base: RunConfig, spec: Any, ablation: Any) -> int:
    import cnnrank.theory as theory
    from cnnrank.experiments.records import headline_record, headline_sentence
    from cnnrank.plotting import plot_activation_ablation, rank_vs_noise_figure
    from cnnrank.reproduce._output import figure_bytes, write_outputs, written
    from cnnrank.reproduce._sweeping import sweep_executor
    from cnnrank.sweeps import run_sweep
    from cnnrank.tables import format_table

    progress = False if args.quiet else None
    start = time.perf_counter()
    with sweep_executor(args.workers) as executor:  # everything validated: from here on we write
        res = run_sweep(spec, store=args.out / "sweep", executor=executor, progress=progress, balance=False)
        # the ablation's cells of the headline's activation are the headline's own (the same configuration,
        # seeds and grouping): copied from its store, not run again
        abl = None if ablation is None else run_sweep(ablation, store=args.out / "ablation-sweep",
                                                      executor=executor, progress=progress, balance=False,
                                                      reuse=(spec, args.out / "sweep"))
    seconds = time.perf_counter() - start
    out = headline_record(res, base, list(args.noise))
    out["seeds"] = {"root_seed": args.seed, "count": args.seeds,
                    "streams": "SeedSequence(root_seed).spawn(count), one stream per seed index"}
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
    # everything built in memory, then written together (all files or none), then printed: nothing can fail
    # between the sweep and the files. No timings in the results: two runs write byte-identical JSON.
    files = [(args.out / "rank_vs_noise.json", json.dumps(out, indent=1).encode("utf-8")),
             (args.out / "rank_vs_noise.png", figure_bytes(rank_vs_noise_figure(out, (grid, predicted)), "png", dpi=130))]
    if abl is not None:
        names = {"huber2": "Huberized q=2", "huber3": "Huberized q=3", "huber4": "Huberized q=4", "relu": "ReLU"}
        fig2 = plot_activation_ablation(noise, {names[a]: r for a, r in zip(ABLATION, out["ablation"]["filter_stable_rank"])},
                                        clean_rank=out["clean_rank"],
                                        regime={names[a]: r for a, r in zip(ABLATION, out["ablation"]["regime"])})
        files.append((args.out / "activation_ablation.png", figure_bytes(fig2, "png", dpi=130)))
    paths = write_outputs(files)
    rows = [{"noise": s, **{k: out[k][i] for k in TABLE_KEYS if k in out}} for i, s in enumerate(noise)]
    print(format_table(rows, [("noise", "σ_p", ".3g"), ("data_stable_rank", "data srank", ".2f"),
                              ("predicted_data_stable_rank", "predicted", ".2f"),
                              ("filter_stable_rank", "filter srank", ".2f"),
                              ("learned_stable_rank", "learned srank", ".2f"),
                              ("gamma_stable_rank", "γ srank", ".2f"),
                              ("predicted_learned_stable_rank", "from W(0)", ".2f"),
                              ("expected_filter_stable_rank", "2K/(1+(K-1)c)", ".2f"),
                              ("overlap_pos", "c+", ".3f"), ("overlap_neg", "c-", ".3f"),
                              ("signals_learned", "signals", ".3g"),
                              ("learned_dimension", "learned dim", ".3g"),
                              ("learned_rank", "learned rank", ".3g"),
                              ("signal_energy_fraction", "signal energy", ".3f"),
                              ("test_acc", "test acc", ".3f"), ("regime", "regime", "")]))
    print("\n" + headline_sentence(out) + f" ({seconds:.1f} s)")
    print(written(paths))
    return 0
