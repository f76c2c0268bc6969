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


# ---------------------------------------------------------------- core inputs, loaded results, memory estimates
def _run(**kw):
    model = cnnrank.SignalNoiseModel(d=20, K=2, noise_std=0.5)
    data = model.sample(8, rng=1)
    net = cnnrank.TwoLayerCNN.init(m=2, d=20, init_std=kw.pop("init_std", 0.1),
                                   activation=cnnrank.HuberizedReLU(1.0, 3), rng=0)
    return model, data, net, cnnrank.train(net, data, lr=0.1, steps=kw.pop("steps", 4), record_every=1, **kw)


def test_mismatched_and_wrong_inputs_are_refused_before_any_work():
    from cnnrank.batched import train_batched
    from cnnrank.engines import choose_engine
    from cnnrank.gram_sample import gram_sample_from_data
    from cnnrank.network import network_output
    from cnnrank.rank import data_rank_report

    model, data, net, _ = _run()
    with pytest.raises(ValueError, match=r"model\.d=50 is invalid for this data \(d=20\)"):
        gram_sample_from_data(cnnrank.SignalNoiseModel(d=50, K=3), data, net.W)
    with pytest.raises(ValueError, match=r"model\.K=3 is invalid for this data \(K=2\)"):
        gram_sample_from_data(cnnrank.SignalNoiseModel(d=20, K=3), data, net.W)
    with pytest.raises(ValueError, match="model.signal_norm=1 is invalid"):
        gram_sample_from_data(model.replace(signal_norm=1.0), data, net.W)
    with pytest.raises(ValueError, match="model.noise_std=0 is invalid"):
        gram_sample_from_data(model.replace(noise_std=0.0), data, net.W)
    with pytest.raises(ValueError, match=r"W0 has shape \(2, 2, 7\)"):
        gram_sample_from_data(model, data, np.zeros((2, 2, 7)))
    calls = [
        (lambda: cnnrank.train(net, data, 0.1, 3, engine=["feature"]), TypeError, r"engine=\['feature'\] is invalid"),
        (lambda: cnnrank.train(net, data, 0.1, 3, callback=5), TypeError, "callback=5 is invalid"),
        (lambda: train_batched([], [], 0.1, 3), ValueError, r"nets=\[\] is invalid"),
        (lambda: data_rank_report(data.X), TypeError, "data=ndarray is invalid"),
        (lambda: choose_engine(None, data), TypeError, "net=NoneType is invalid"),
        (lambda: network_output(net.W, data.X, "relu"), TypeError, "activation='relu' is invalid"),
        (lambda: cnnrank.HuberizedReLU(kappa=2, q=2000), ValueError, "kappa=2, q=2000 is invalid"),
        (lambda: model.sample(4, rng=-1), ValueError, "rng=-1 is invalid: a seed must be an integer >= 0"),
        (lambda: model.sample_gram(4, 2, 0.1, rng=-1), ValueError, "rng=-1 is invalid"),
        (lambda: cnnrank.TwoLayerCNN.init(2, 20, 0.1, cnnrank.ReLU(), rng="x"), TypeError, "rng='x' is invalid"),
        (lambda: cnnrank.PatchData(X=data.X, y=data.y, signals=data.signals, signal_id=data.signal_id,
                                   signal_pos=data.signal_pos + 0.5), ValueError, "signal_pos is invalid"),
        (lambda: cnnrank.PatchData(X=data.X, y=data.y, y_true=data.y * 2), ValueError, "y_true is invalid"),
    ]
    for call, kind, needle in calls:
        with pytest.raises(kind, match=needle):
            call()


def test_tiny_filters_keep_their_stable_rank():
    for engine in ("feature", "gram"):
        _, data, net, ref = _run(engine=engine)
        _, _, tiny_net, tiny = _run(engine=engine, init_std=1e-200)
        srank = stable_rank(tiny_net.W.reshape(4, -1))
        assert srank > 1 and tiny.filter_stable_rank[0] == pytest.approx(srank, rel=1e-12)
        assert np.all(tiny.filter_stable_rank > 1)
    assert ref.filter_stable_rank[0] == pytest.approx(stable_rank(net.W.reshape(4, -1)), rel=1e-10)


@pytest.mark.parametrize("field,bad,needle", [
    ("train_loss", np.zeros(2), r"train_loss has shape \(2,\) which is invalid"),
    ("coef", np.zeros((5, 2, 2, 8)), "coef has shape"),
    ("gamma", np.zeros((5, 2, 2, 3)), "gamma has shape"),
    ("rho", np.zeros((5, 2, 2, 8, 3)), "rho has shape"),
    ("filter_stable_rank", np.zeros(4), "filter_stable_rank has shape"),
    ("W_final", np.zeros((2, 2, 19)), "W_final has shape"),
    ("patches", np.zeros((8, 3, 19)), "patches has shape"),
    ("steps", np.array([0, 1, 1, 2, 3]), "steps is invalid"),
    ("activation", {"name": "tanh"}, "activation=.* is invalid"),
    ("engine", "grma", "engine='grma' is invalid"),
])
def test_loaded_trajectory_is_checked_for_consistency(tmp_path, field, bad, needle):
    *_, traj = _run()
    assert len(traj) == 5
    setattr(traj, field, bad)
    traj.save(tmp_path / "t.npz")
    with pytest.raises(ResultsFileError, match=needle):
        cnnrank.Trajectory.load(tmp_path / "t.npz")


def test_sizes_that_cannot_fit_fail_early_with_what_would_fit(monkeypatch):
    from cnnrank import _memory
    from cnnrank._memory import InsufficientMemory
    from cnnrank.engines import check_engine_memory, memory_bytes

    model, data, net, _ = _run()
    with pytest.raises(InsufficientMemory, match=r"1,000,000,000,000,001 records .*; record_every=\d"):
        cnnrank.train(net, data, 0.1, 10**15, record_every=1)
    with pytest.raises(InsufficientMemory, match=r"TwoLayerCNN.init\(m=4, d=1000000000\).*train_implicit"):
        cnnrank.TwoLayerCNN.init(4, 10**9, 0.1, cnnrank.ReLU())
    with pytest.raises(InsufficientMemory, match=r"model.sample\(100\).*sample_gram"):
        cnnrank.SignalNoiseModel(d=10**9, K=2).sample(100)
    # the Gram engine at n=20000 (M = 40004 distinct patches) on a 12 GiB budget: the feature engine fits
    with pytest.raises(InsufficientMemory, match=r"engine='gram' .*40004×40004.*engine='feature' needs") as info:
        check_engine_memory("gram", 20000, 3, 100, 10, 40004, limit=12 * 2**30)
    assert "35.8 GiB" in str(info.value)
    assert memory_bytes("feature", 20000, 3, 100, 10, 40004) < 12 * 2**30
    # a small budget: train refuses before allocating, naming both engines
    monkeypatch.setattr(_memory, "available_bytes", lambda: 15_000)
    with pytest.raises(InsufficientMemory, match="engine='gram'.*engine='feature' needs"):
        cnnrank.train(net, data, 0.1, 2, engine="gram")


def test_trajectory_repr_is_concise():
    *_, traj = _run()
    text = repr(traj)
    assert text.count("\n") == 0 and len(text) < 400
    for part in ("engine=", "R=5 records at steps 0..4", "m=2", "n=8", "P=3", "d=20", "train_loss=", "learned_dimension="):
        assert part in text


def test_strategies_without_hypothesis_say_how_to_install(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.delitem(sys.modules, "cnnrank.testing.strategies", raising=False)
    with pytest.raises(ImportError, match=r'pip install "cnnrank\[test\]"'):
        importlib.import_module("cnnrank.testing.strategies")


def test_activation_names_must_be_strings():
    from cnnrank.activations import parse_activation
    from cnnrank.experiments import RunConfig

    with pytest.raises(TypeError, match="activation=3 is invalid"):
        parse_activation(3)
    with pytest.raises(TypeError, match="activation=3 is invalid"):
        RunConfig(activation=3)
