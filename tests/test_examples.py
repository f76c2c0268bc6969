"""Every script in examples/ runs (on small settings: CNNRANK_EXAMPLE_QUICK=1).

A script that starts worker processes runs in a subprocess of its own, as a user runs it: its workers
(spawned) import its ``__main__``, which here would be pytest's. The others run in this process with
``runpy`` as ``__main__``, in an empty working folder, with their output captured: the same script
without the second or so that a fresh interpreter and its imports cost.
"""

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.py"))
#: what a script must print besides exiting 0 (neural_collapse_metrics.py: its table of the metrics)
PRINTS = {"neural_collapse_metrics.py": "nc1", "training_variants.py": "unequal norms"}
#: the scripts that start a process pool: run in a subprocess (see the module's docstring)
POOLS = {"custom_activation.py", "sweep_on_a_process_pool.py"}


def test_the_scripts_that_start_pools_are_the_ones_run_in_a_subprocess():
    starts_pool = {p.name for p in EXAMPLES if any(w in p.read_text() for w in ("Pool", "make_executor", "Client("))}
    assert starts_pool == POOLS


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script, tmp_path, monkeypatch, capsys):
    if script.name in POOLS:
        env = dict(os.environ, CNNRANK_EXAMPLE_QUICK="1", MPLBACKEND="Agg")
        res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=300)
        assert res.returncode == 0, f"{script.name} failed:\n{res.stdout[-2000:]}\n{res.stderr[-4000:]}"
        stdout = res.stdout
    else:
        monkeypatch.setenv("CNNRANK_EXAMPLE_QUICK", "1")
        monkeypatch.setenv("MPLBACKEND", "Agg")
        monkeypatch.chdir(tmp_path)
        monkeypatch.setattr(sys, "argv", [str(script)])
        monkeypatch.syspath_prepend(str(script.parent))  # as `python script.py` puts the script's folder first
        try:
            runpy.run_path(str(script), run_name="__main__")
        except SystemExit as exc:  # a script that ends with sys.exit(0) succeeded
            assert exc.code in (0, None), f"{script.name} exited with status {exc.code}"
        stdout = capsys.readouterr().out
    assert PRINTS.get(script.name, "") in stdout
