"""The equality tests of batched runs, grouped sweeps and the engines, run a second time under another
OpenBLAS kernel.

OpenBLAS picks its matrix-product kernels for the CPU it runs on, and its kernels block (and so round)
products of different shapes differently: an assertion that holds bit for bit only thanks to one CPU's
kernel passes there and fails on another machine. Running the equality tests again in a subprocess with
``OPENBLAS_CORETYPE=Nehalem`` -- the kernels of the x86-64-v2 baseline, which every CPU that runs
NumPy's x86-64 wheels can execute, and which round some of these products differently from the Haswell
and SkylakeX kernels -- makes such an assertion fail on every machine (docs/engines.md, "What is equal
bit for bit").
"""

import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
#: the OpenBLAS kernel of the second run
CORETYPE = "Nehalem"
#: the tests run again: batched against single runs, grouped sweeps against cell-by-cell sweeps and
#: groups of other sizes, the Gram engine against the feature engine (about 10 s)
SELECTION = ("tests/test_batched.py", "tests/test_sweep_groups.py", "tests/test_engines.py")
#: set in the subprocess: this module then skips itself instead of starting a third run
MARK = "CNNRANK_SECOND_BLAS_KERNEL"

#: the subprocess: the selected tests under pytest, then the kernels of every OpenBLAS loaded by then
#: (NumPy's and SciPy's) on a last line, for the parent to check that the kernel really changed
SCRIPT = """
import sys

import pytest
from threadpoolctl import threadpool_info

status = pytest.main(sys.argv[1:])
kernels = sorted({str(p.get("architecture")) for p in threadpool_info() if p.get("internal_api") == "openblas"})
print("OPENBLAS KERNELS:", ",".join(kernels), flush=True)
sys.exit(int(status))
"""


def _numpy_openblas_config() -> str | None:
    """NumPy's OpenBLAS build configuration (``""`` if not reported), or ``None`` if its BLAS is another."""
    from threadpoolctl import threadpool_info

    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # an older NumPy: trust threadpoolctl alone
        blas = {"name": "openblas"}
    loaded = any(p.get("internal_api") == "openblas" for p in threadpool_info())
    if "openblas" not in str(blas.get("name", "")).lower() or not loaded:
        return None
    return str(blas.get("openblas configuration", ""))


def test_equality_tests_pass_under_another_openblas_kernel():
    if os.environ.get(MARK):
        pytest.skip("this is already the run under the second OpenBLAS kernel")
    if platform.machine().lower() not in ("x86_64", "amd64"):
        pytest.skip(f"OPENBLAS_CORETYPE={CORETYPE} names an x86-64 kernel; this machine is {platform.machine()}")
    config = _numpy_openblas_config()
    if config is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: OPENBLAS_CORETYPE has no effect on it")
    if config and "DYNAMIC_ARCH" not in config:
        pytest.skip(f"NumPy's OpenBLAS is built for one CPU only (no DYNAMIC_ARCH in {config!r}): "
                    "its kernel cannot be changed")
    env = {**os.environ, "OPENBLAS_CORETYPE": CORETYPE, MARK: "1", "MPLBACKEND": "Agg",
           "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    # -n 0: the tests run in this subprocess itself (not in xdist workers), the process whose kernels
    # the last line reports
    cmd = [sys.executable, "-c", SCRIPT, "-q", "-p", "no:cacheprovider", "-n", "0", *SELECTION]
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    out = done.stdout + done.stderr
    tail = "\n".join(out.strip().splitlines()[-40:])
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("OPENBLAS KERNELS:")]
    assert lines, f"the second run did not report its OpenBLAS kernels (exit status {done.returncode}):\n{tail}"
    kernels = lines[-1].split(":", 1)[1].strip().split(",")
    assert [k.lower() for k in kernels] == [CORETYPE.lower()], (
        f"OPENBLAS_CORETYPE={CORETYPE} did not change the kernel: OpenBLAS ran {kernels}")
    assert done.returncode == 0, (
        f"the equality tests fail under OpenBLAS's {CORETYPE} kernel (an assertion depends on the BLAS "
        f"kernel; rerun with OPENBLAS_CORETYPE={CORETYPE} python -m pytest {' '.join(SELECTION)}):\n{tail}")
