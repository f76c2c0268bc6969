"""``python -m cnnrank sweep CONFIG``: a grid × seeds sweep from a TOML or JSON file.

The file has a ``[base]`` table (any :class:`~cnnrank.experiments.RunConfig` field), a ``[grid]``
table (field -> list of values), and ``seeds`` / ``root_seed``::

    seeds = 2
    root_seed = 0
    [base]
    d = 500
    steps = 1000
    [grid]
    noise_std = [0.0, 0.5, 1.0]
    activation = ["huber3", "relu"]

The format, resuming, the store's lock, the executors and the grouping of cells (``--cell-by-cell``
runs every cell alone) are described in docs/sweeps.md. ``--out`` is locked while the sweep runs (a
second sweep there fails at once). SIGTERM and Ctrl-C stop the sweep at once: the queued cells are
cancelled, the workers end, the finished cells stay in the store.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

_OUTPUTS = ("results.json", "results.npz")

DESCRIPTION = "Run a grid × seeds sweep from a TOML/JSON file; resumable; writes OUT/results.json and .npz."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._sweeping import add_executor_arguments

    parser.add_argument("config", type=Path, help="sweep definition (.toml or .json)")
    from cnnrank.reproduce._output import add_overwrite_argument

    parser.add_argument("--out", type=Path, required=True, help="store folder (re-run to resume)")
    add_overwrite_argument(parser)
    add_executor_arguments(parser, "cells that differ only in noise_std and lr")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from cnnrank._signals import deferred
    from cnnrank.reproduce._output import check_output_folder, check_sweep_store, remove_created
    from cnnrank.reproduce._sweeping import check_executor_arguments, keep_store_on_interrupt
    from cnnrank.results import remove_stale_temps
    from cnnrank.sweeps import sweep_from_file

    check_executor_arguments(args)
    spec = sweep_from_file(args.config)
    check_sweep_store(args.out, spec, args.overwrite)  # a different sweep's cells: refused or deleted
    # probed before any work; a folder this command created is removed again if the sweep fails before
    # it took the store's lock (once a sweep holds or held the lock, the folder is the store: another
    # sweep may be running in it, and finished cells are kept for a resume)
    created: list[Path] = []
    try:
        with deferred():  # a signal right after the folder is made still finds it in ``created``
            created += check_output_folder(args.out)
        remove_stale_temps(args.out, _OUTPUTS)  # left by a run killed while writing them
        with keep_store_on_interrupt(args.out):
            return _run(args, spec)
    except BaseException:
        if created and not (args.out / ".sweep.lock").exists():
            remove_created(created)
        raise


def _run(args: argparse.Namespace, spec: Any) -> int:
    from cnnrank.reproduce._output import write_outputs
    from cnnrank.reproduce._sweeping import sweep_executor
    from cnnrank.sweeps import run_sweep

    with sweep_executor(args.workers, args.dask, args.dask_timeout) as executor:
        res = run_sweep(spec, store=args.out, executor=executor, progress=False if args.quiet else None,
                        group=not args.cell_by_cell, balance=False)
    record = res.to_json()
    record.pop("seconds", None)  # no timings in the results: reruns write byte-identical JSON
    # both files together (both or neither), before the table
    write_outputs([(args.out / _OUTPUTS[0], json.dumps(record, indent=1).encode("utf-8")),
                   (args.out / _OUTPUTS[1], res.to_npz_bytes())])
    names = list(spec.grid)
    keys = ["data_stable_rank", "filter_stable_rank", "test_acc"]
    print("  ".join(f"{n:>14}" for n in names + keys))
    for g, point in enumerate(spec.points()):
        idx = np.unravel_index(g, spec.shape) if spec.shape else ()
        vals = [f"{res.mean(k)[idx]:14.4g}" for k in keys if k in res.values]
        print("  ".join([f"{point[n]!s:>14}" for n in names] + vals))
    print(f"wrote {args.out / 'results.json'} and {args.out / 'results.npz'} ({len(spec.cells())} cells)")
    return 0
