"""Check a prediction of the theory against a run: the data's stable rank explodes with noise,
the trained filters' stays near the clean rank 2K.

    python examples/check_a_prediction.py          # paper regime (about a minute)
    CNNRANK_EXAMPLE_QUICK=1 python examples/check_a_prediction.py   # seconds
"""

import os

from cnnrank import theory
from cnnrank.experiments import RunConfig, run_once

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
config = RunConfig(noise_std=0.8)
if quick:
    config = config.replace(n=32, n_test=32, d=200, K=2, m=8, steps=200, record_every=50, lr=1.0)

outcome = run_once(config, rng=0)
print(theory.format_report(theory.compare(config, outcome)))
print()
crit = theory.criterion(config)
print(f"regime predicted: {theory.regime(config)} ({crit.name}: {crit.formula}, indicator {crit.indicator:.3g}, "
      f"benign below σ_p = {crit.threshold / crit.band:.3g}, harmful above {crit.threshold * crit.band:.3g})")
print(f"data stable rank {outcome.data_ranks['data_stable_rank']:.1f} "
      f"(predicted {theory.expected_data_stable_rank(config):.1f}); "
      f"filters {outcome.trajectory.filter_stable_rank[-1]:.2f}; 2K = {theory.clean_rank(config)}")
verdicts = [r for r in theory.compare(config, outcome) if r.verdict not in ("agrees", "—")]
print("rows that do not agree or do not apply:", ", ".join(f"{r.quantity} ({r.verdict})" for r in verdicts) or "none")
