"""Move one assumption of the theorem at a time and see what the filters learn (docs/beyond-the-theorem.md).

    python examples/training_variants.py                        # the headline configuration (~1 min)
    CNNRANK_EXAMPLE_QUICK=1 python examples/training_variants.py  # seconds

Every variant is a field of the run configuration: a trainable second layer (``head``, ``a0``), minibatch
SGD (``batch_size``), weight decay (``weight_decay``), sign descent or Adam (``optimizer``), unequal signal
strengths (``signal_norms``). Seed 0 draws the same data and initial filters for each, so the rows differ
in training only.
"""

import os

from cnnrank.experiments import RunConfig, run_once
from cnnrank.tables import format_table

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
base = RunConfig(patches=5, steps=1000, record_every=100, noise_std=0.08)
if quick:
    base = base.replace(n=48, n_test=100, d=300, m=10, steps=300, balanced=True)
strong_weak = (5.0, 5.0, 2.0, 2.0) * 2  # per class: two strong signals, two weak ones (K = 4)

variants = {
    "theorem": {},
    "trainable head, a0 = 10/m": {"head": "trainable", "a0": 10 / base.m},
    "SGD, batch 16": {"batch_size": 16},
    "weight decay 1e-3": {"weight_decay": 1e-3},
    "Adam, η = 1e-3": {"optimizer": "adam", "lr": 1e-3},
    "unequal norms, η = 0.5": {"signal_norms": strong_weak, "lr": 0.5},
}
rows = []
for name, settings in variants.items():
    traj = run_once(base.replace(**settings), rng=0).trajectory
    rows.append({"variant": name, **traj.summary()})
print(f"σ_p = {base.noise_std}, 2K = {2 * base.K}")
print(format_table(rows, [("variant", "variant", ""), ("test_acc", "test acc", ".3f"),
                          ("signal_energy_fraction", "signal energy", ".3f"), ("signals_learned", "signals", "d"),
                          ("learned_dimension", "learned dim", "d"), ("learned_stable_rank", "learned srank", ".2f")]))
