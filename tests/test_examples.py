"""Every script in examples/ runs (on small settings: CNNRANK_EXAMPLE_QUICK=1)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
#: what a script must print besides exiting 0 (neural_collapse_metrics.py: its table of the metrics)
PRINTS = {"neural_collapse_metrics.py": "nc1", "training_variants.py": "unequal norms"}


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    env = dict(os.environ, CNNRANK_EXAMPLE_QUICK="1", MPLBACKEND="Agg")
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 0, f"{script.name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
    assert PRINTS.get(script.name, "") in res.stdout
