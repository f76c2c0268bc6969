"""Step time of the exact training variants on the Gram engine, as a ratio to plain gradient descent.

The headline configuration (``RunConfig()`` defaults: n = 128, P = 3, d = 2000, m = 40, the paper's data
and step size), one BLAS thread. Each variant (trainable head, weight decay, minibatch SGD at several
batch sizes, and their combinations) is timed on the same data and initial filters, interleaved with the
plain step over several repeats; a repeat advances ``--steps`` steps, and the median per-step time is
reported with its ratio to the plain step (target: at most 1.3 for the full-batch variants; an SGD step
should cost about its batch's share).

Usage::

    python benchmarks/variants_speed.py [--steps 300] [--repeats 7] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before numpy loads its BLAS

import numpy as np

from cnnrank.engines.base import TrainingVariant
from cnnrank.engines.gram import GramEngine
from cnnrank.experiments.runs import RunConfig


def variants(m: int) -> dict[str, TrainingVariant | None]:
    """The variants timed (name -> variant; ``None``: plain gradient descent)."""
    return {
        "plain": None,
        "head": TrainingVariant(head_scale=1.0 / m),
        "decay": TrainingVariant(weight_decay=1e-3),
        "head+decay": TrainingVariant(head_scale=1.0 / m, weight_decay=1e-3),
        "sgd64": TrainingVariant(batch_size=64, batch_rng=0),
        "sgd32": TrainingVariant(batch_size=32, batch_rng=0),
        "sgd16": TrainingVariant(batch_size=16, batch_rng=0),
        "head+sgd32+decay": TrainingVariant(head_scale=1.0 / m, weight_decay=1e-3, batch_size=32, batch_rng=0),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7, help="repeats (the median is reported)")
    parser.add_argument("--json", default=None, help="write the numbers to this file")
    args = parser.parse_args(argv)
    config = RunConfig()
    g_data, _, g_init = np.random.default_rng(0).spawn(3)
    data = config.model().sample(config.n, rng=g_data)
    net = config.network.init(config.d, rng=g_init)
    act = config.make_activation()
    lr = 0.01 * config.lr  # small steps: every variant stays in the same regime over all repeats
    engines = {name: GramEngine(net.W, data, act, variant=v) for name, v in variants(config.m).items()}
    for eng in engines.values():
        eng.advance(10, lr)  # warm-up (buffers, BLAS)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.repeats):
        for name, eng in engines.items():  # interleaved: machine noise hits every variant alike
            start = time.perf_counter()
            eng.advance(args.steps, lr)
            times[name].append((time.perf_counter() - start) / args.steps)
    plain = statistics.median(times["plain"])
    out = {"config": "RunConfig() defaults", "n": config.n, "P": config.patches, "d": config.d, "m": config.m,
           "distinct_patches": int(engines["plain"].core.M), "steps": args.steps, "repeats": args.repeats,
           "step_seconds": {}, "ratio_to_plain": {}}
    print(f"Gram engine, n={config.n}, P={config.patches}, m={config.m}, M={out['distinct_patches']} distinct "
          f"patches; median of {args.repeats} repeats of {args.steps} steps")
    print(f"{'variant':<20} {'µs/step':>9} {'ratio':>7}")
    for name, ts in times.items():
        med = statistics.median(ts)
        out["step_seconds"][name] = med
        out["ratio_to_plain"][name] = med / plain
        print(f"{name:<20} {1e6 * med:9.1f} {med / plain:7.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)
    return out


if __name__ == "__main__":
    main()
