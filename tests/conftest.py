"""Shared test configuration: hypothesis profiles, the path of the shared data, and the outputs of the
expensive commands that several tests read (computed once per test process)."""

import contextlib
import io
import os
from pathlib import Path

import matplotlib
import pytest
from hypothesis import HealthCheck, settings

matplotlib.use("Agg")

# The commands' default --workers is the CPUs this process may use; the suite's runs are small, so they
# run in-process (a pool's start costs more than it saves) unless a test asks for workers. Set before
# any test runs, so subprocesses that run the command line inherit it.
os.environ.setdefault("CNNRANK_WORKERS", "1")

# Hypothesis profiles. "default" and "ci" are derandomized: the examples are a fixed function of each
# test, so a run of the suite is repeatable and a red CI run is red again locally (with random
# examples a property test can pass on one run and fail on the next, as a gradient check once did).
# "ci" is selected when the environment variable CI is set. To search for new counterexamples, run
# `pytest --hypothesis-profile explore` (or HYPOTHESIS_PROFILE=explore): random examples, more of
# them, and a failure prints the @reproduce_failure blob to replay it.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("default", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("ci", max_examples=25, derandomize=True, **_COMMON)
settings.register_profile("explore", max_examples=500, derandomize=False, print_blob=True, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "default"))

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
#: the real data: $CNNRANK_DATA when set (a worktree has no ../shared beside it), else ../shared/data
DATA_DIR = Path(os.environ["CNNRANK_DATA"]) if os.environ.get("CNNRANK_DATA") else SHARED / "data"
MNIST_DIR = DATA_DIR / "mnist"
CIFAR10_DIR = DATA_DIR / "cifar10" / "cifar-10-batches-py"


@pytest.fixture
def mnist_dir() -> Path:
    """The real MNIST test set shipped in ../shared/data/mnist, or skip with the reason."""
    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test set not found at {MNIST_DIR} (../shared/data/mnist beside the checkout)")
    return MNIST_DIR


@pytest.fixture(autouse=True, scope="session")
def _one_blas_thread():
    """The suite's matrices are small: one BLAS thread is faster, and on shared cores a multi-threaded
    OpenBLAS was measured 5-13x slower on them (docs/engines.md)."""
    from cnnrank._blas import blas_threads

    with blas_threads(1):
        yield


@pytest.fixture(scope="session")
def neural_collapse_quick(tmp_path_factory) -> tuple[Path, str]:
    """``reproduce neural-collapse --quick --seed 1`` on one worker, run once for the tests that check or
    plot its files: ``(output folder, printed text)``. Tests read the folder and must not write in it; they
    are marked ``xdist_group("neural_collapse_quick")``, so that a parallel run computes it on one worker."""
    from cnnrank.cli import main

    out = tmp_path_factory.mktemp("neural-collapse-quick") / "nc"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        status = main(["reproduce", "neural-collapse", "--out", str(out), "--quick", "--seed", "1", "--workers", "1"])
    assert status == 0
    return out, text.getvalue()
