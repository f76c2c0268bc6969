"""Edges that must give the right result or a clear, early error (numerics, inputs, loaded files)."""

import io

import numpy as np
import pytest

import cnnrank
from cnnrank._progress import _Bar
from cnnrank._validation import as_array
from cnnrank.rank import effective_rank, numerical_rank, stable_rank, stable_rank_from_gram
from cnnrank.results import ResultsFileError


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e-150, 1.0, 1e150, 1e200, 1e300])
def test_ranks_are_scale_invariant_down_to_underflow_and_up_to_overflow(scale):
    A = np.diag([3.0, 2.0, 1.0]) * scale
    ref = stable_rank(np.diag([3.0, 2.0, 1.0]))
    assert stable_rank(A) == pytest.approx(ref, rel=1e-12)
    assert stable_rank_from_gram(np.diag([9.0, 4.0, 1.0]) * scale) == pytest.approx(ref, rel=1e-12)
    assert effective_rank(A) == pytest.approx(effective_rank(np.diag([3.0, 2.0, 1.0])), rel=1e-12)
    assert numerical_rank(A) == 3
    assert stable_rank(np.zeros((3, 3))) == 0.0


def test_ordinary_matrices_are_not_rescaled():
    # inside the safe range the stable rank is computed exactly as before (no division by max|A|)
    A = np.random.default_rng(0).normal(size=(20, 50))
    G = A @ A.T
    from scipy.linalg import eigvalsh

    assert stable_rank(A) == float(np.sum(A * A) / eigvalsh(G, subset_by_index=[19, 19])[0])


@pytest.mark.parametrize("value,kind,needle", [
    (["1.5", "2"], np.float64, "must be numeric"),
    ([1 + 2j, 3], np.float64, "must be real"),
    ([0.7, 1.9], np.int64, "must hold integers"),
    ([np.nan, 1.0], np.int64, "must hold integers"),
    ([object(), 1], np.float64, "must be numeric"),
])
def test_arrays_are_not_coerced_silently(value, kind, needle):
    with pytest.raises(ValueError, match=needle):
        as_array("x", value, dtype=kind)


def test_plain_numbers_still_convert():
    assert as_array("x", [1, 2.5]).tolist() == [1.0, 2.5]
    assert as_array("x", [1.0, 2.0], dtype=np.int64).tolist() == [1, 2]
    assert as_array("x", np.array([1, 2], dtype=object)).tolist() == [1.0, 2.0]


def test_patch_data_refuses_what_it_used_to_truncate():
    X = np.zeros((2, 2, 3))
    with pytest.raises(ValueError, match="signal_id is invalid: must hold integers"):
        cnnrank.PatchData(X=X, y=[1, -1], signals=np.eye(3)[:2], signal_id=[0.7, 1.9], signal_pos=[0, 0])
    with pytest.raises(ValueError, match="X is invalid: must be real"):
        cnnrank.PatchData(X=X + 1j, y=[1, -1])
    with pytest.raises(ValueError, match="must be numeric"):
        cnnrank.PatchData(X=X.astype(str), y=[1, -1])


def test_progress_bar_has_no_nan_eta_at_the_start():
    out = io.StringIO()
    bar = _Bar(10, "train", out)
    bar.update(0)
    bar.close()
    assert "nan" not in out.getvalue() and "eta" in out.getvalue()


def test_loaded_results_are_type_checked(tmp_path):
    model = cnnrank.SignalNoiseModel(d=20, K=1, noise_std=0.1)
    net = cnnrank.TwoLayerCNN.init(m=2, d=20, init_std=0.1, activation=cnnrank.HuberizedReLU(1.0, 3), rng=0)
    traj = cnnrank.train(net, model.sample(8, rng=1), lr=0.1, steps=4, record_every=2)
    path = tmp_path / "t.npz"
    traj.save(path)
    assert cnnrank.Trajectory.load(path).lr == traj.lr
    for field, bad in (("lr", "abc"), ("engine", 5), ("activation", [1])):
        setattr(traj, field, bad)
        traj.save(path)
        with pytest.raises(ResultsFileError, match=f"field {field}="):
            cnnrank.Trajectory.load(path)
        traj = cnnrank.train(net, model.sample(8, rng=1), lr=0.1, steps=4, record_every=2)


def test_memory_check_names_the_size_and_the_way_out():
    from cnnrank._memory import InsufficientMemory, check_allocation, format_bytes

    check_allocation(1024, "a small array")
    with pytest.raises(InsufficientMemory, match=r"the cells needs 7\.3 TiB.*use fewer cells") as info:
        check_allocation(8e12, "the cells", hint="use fewer cells")
    assert isinstance(info.value, MemoryError) and isinstance(info.value, ValueError)
    with pytest.raises(InsufficientMemory, match="more than the 1.0 KiB allowed"):
        check_allocation(2048, "x", limit=1024)
    assert format_bytes(1536) == "1.5 KiB" and format_bytes(10) == "10 B"
