"""A blow-up raises TrainingDiverged with every activation and every engine, and keeps the finite records.

Three ways to overflow float64 (a huge step size, huge initial filters, huge data) × the three
activations × the four engines (feature, Gram, implicit, batched). The trajectory carried by the
exception holds exactly the records before the blow-up, every number in them finite. Bad input (NaN
filters or data) is a ValueError, not a divergence.
"""

import numpy as np
import pytest

import cnnrank
from cnnrank.activations import HuberizedReLU, PolyReLU, ReLU
from cnnrank.batched import train_batched
from cnnrank.gram_sample import gram_sample_from_data
from cnnrank.train import train, train_implicit

ACTIVATIONS = {"huber3": HuberizedReLU(1.0, 3), "relu": ReLU(), "poly3": PolyReLU(3)}
#: (lr, init_std, data scale)
CASES = {"huge lr": (1e200, 0.01, 1.0), "huge init": (0.5, 1e200, 1.0), "huge data": (0.5, 0.01, 1e160)}
STEPS = 6


def _problem(case):
    lr, init_std, scale = CASES[case]
    model = cnnrank.SignalNoiseModel(d=16, K=2, patches=3, signal_norm=3.0 * scale, noise_std=1.0 * scale)
    return lr, init_std, model


def _assert_finite_records(traj, expected_max):
    assert traj is not None
    assert len(traj) <= expected_max
    assert traj.finite_records() == len(traj)
    for name in ("train_loss", "coef", "gamma", "rho", "filter_stable_rank", "learned_stable_rank"):
        assert np.all(np.isfinite(getattr(traj, name))), name
    if traj.W_final is not None and len(traj):
        assert np.all(np.isfinite(traj.W_final))
        np.testing.assert_allclose(traj.W_final, traj.weights_at(-1))


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("act", sorted(ACTIVATIONS))
@pytest.mark.parametrize("engine", ["feature", "gram", "implicit", "batched"])
def test_every_activation_and_engine_raises_training_diverged(engine, act, case):
    lr, init_std, model = _problem(case)
    activation = ACTIVATIONS[act]
    if engine == "implicit":
        sample = model.sample_gram(8, 3, init_std, rng=0)
        with pytest.raises(cnnrank.TrainingDiverged) as info:
            train_implicit(activation, sample, lr, STEPS, record_every=1)
        _assert_finite_records(info.value.trajectory, info.value.step + 1)
        assert len(info.value.trajectory) == np.searchsorted(np.arange(STEPS + 1), info.value.step)
        return
    data = model.sample(8, rng=0)
    net = cnnrank.TwoLayerCNN.init(3, 16, init_std, activation, rng=1)
    if engine == "batched":
        sane = cnnrank.TwoLayerCNN.init(3, 16, 0.01, activation, rng=1)
        good, bad = train_batched([sane, net], [model.replace(signal_norm=3.0, noise_std=1.0).sample(8, rng=0), data],
                                  [0.5, lr], STEPS, record_every=1)
        assert "diverged_at" not in good.metadata and len(good) == STEPS + 1
        assert bad.metadata["diverged_at"] >= 0
        _assert_finite_records(bad, bad.metadata["diverged_at"] + 1)
        return
    with pytest.raises(cnnrank.TrainingDiverged) as info:
        train(net, data, lr, STEPS, record_every=1, engine=engine)
    exc = info.value
    _assert_finite_records(exc.trajectory, exc.step + 1)
    assert exc.trajectory.steps.tolist() == list(range(len(exc.trajectory)))
    if case != "huge lr":
        assert exc.step == 0 and "before the first step" in str(exc)  # not "try a smaller lr"


def test_nan_filters_or_data_are_bad_input_not_divergence():
    model = cnnrank.SignalNoiseModel(d=16, K=2, patches=3)
    data = model.sample(6, rng=0)
    W = np.full((2, 3, 16), np.nan)
    with pytest.raises(ValueError, match="W is invalid: contains non-finite"):
        cnnrank.TwoLayerCNN(W=W, activation=ReLU())
    with pytest.raises(ValueError, match="W0 is invalid: contains non-finite"):
        gram_sample_from_data(model, data, W)
    from cnnrank.engines import FeatureEngine, GramEngine

    for eng in (FeatureEngine, GramEngine):
        with pytest.raises(ValueError, match="W0 is invalid: contains non-finite values"):
            eng(W, data, ReLU())
    with pytest.raises(ValueError, match="X is invalid: contains non-finite"):
        cnnrank.PatchData(X=np.full((2, 3, 4), np.nan), y=[1, -1])


def test_diverged_partial_trajectory_is_picklable_and_savable(tmp_path):
    import pickle

    model = cnnrank.SignalNoiseModel(d=16, K=2, patches=3)
    net = cnnrank.TwoLayerCNN.init(3, 16, 0.01, ReLU(), rng=1)
    with pytest.raises(cnnrank.TrainingDiverged) as info:
        train(net, model.sample(8, rng=0), 1e200, 4, record_every=1)
    again = pickle.loads(pickle.dumps(info.value))
    assert again.step == info.value.step and len(again.trajectory) == len(info.value.trajectory)
    info.value.trajectory.save(tmp_path / "t.npz")
    assert len(cnnrank.Trajectory.load(tmp_path / "t.npz")) == len(info.value.trajectory)


@pytest.mark.parametrize("engine", ["feature", "gram", "implicit"])
def test_an_engine_driven_directly_raises_inside_the_training_diverged_family(engine):
    import pickle

    from cnnrank.engines import ENGINES, Diverged

    model, act = cnnrank.SignalNoiseModel(d=16, K=2, patches=3), PolyReLU(3)  # filters of scale 1e200: f overflows
    if engine == "implicit":
        eng = ENGINES[engine](model.sample_gram(8, 3, 1e200, rng=0), act)
    else:
        eng = ENGINES[engine](cnnrank.TwoLayerCNN.init(3, 16, 1e200, act, rng=1).W, model.sample(8, rng=0), act)
    try:
        eng.advance(STEPS, 0.5)
    except cnnrank.TrainingDiverged as exc:  # the family the README promises
        caught = exc
    else:
        pytest.fail("the engine did not diverge")
    assert isinstance(caught, Diverged) and 0 <= caught.steps_done <= STEPS and caught.step == caught.steps_done
    assert caught.lr == 0.5 and caught.trajectory is None
    msg = str(caught)
    assert "\n" not in msg and msg.startswith(f"engine diverged {caught.steps_done} steps into advance")
    again = pickle.loads(pickle.dumps(caught))
    assert type(again) is Diverged and again.steps_done == caught.steps_done and str(again) == msg
