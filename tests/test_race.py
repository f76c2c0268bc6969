"""The signal race (cnnrank.race, docs/theory.md §6.7): exact at σ_p = 0, its closed-form times, and
the stable rank of the own-class columns of γ."""

import numpy as np
import pytest
from scipy.integrate import solve_ivp

import cnnrank
from cnnrank.race import (
    class_overlaps,
    gamma_stable_rank,
    initial_signal_correlations,
    predict_race,
    race_times,
    signal_race,
    winners,
)


def _counts(data):
    k2 = data.signals.shape[0]
    ids = data.signal_id
    return (np.bincount(ids[data.y == data.y_true], minlength=k2),
            np.bincount(ids[data.y != data.y_true], minlength=k2))


@pytest.mark.parametrize("act, label_noise, position, basis", [
    (cnnrank.HuberizedReLU(1.0, 3.0), 0.0, 0, "canonical"),
    (cnnrank.ReLU(), 0.1, "random", "random"),
    (cnnrank.PolyReLU(3.0), 0.0, 2, "random"),
    (cnnrank.HuberizedReLU(0.5, 2.0), 0.15, 1, "canonical"),
])
def test_the_race_is_gradient_descent_without_background_noise(act, label_noise, position, basis):
    model = cnnrank.SignalNoiseModel(d=150, K=3, patches=4, signal_norm=4.0, noise_std=0.0,
                                     label_noise=label_noise, signal_position=position, signal_basis=basis)
    data = model.sample(45, rng=0)  # 45 samples: unequal groups
    net = cnnrank.TwoLayerCNN.init(m=6, d=150, init_std=0.05, activation=act, rng=3)
    traj = cnnrank.train(net, data, lr=0.8, steps=150, record_every=150, engine="feature")
    clean, flipped = _counts(data)
    a0 = initial_signal_correlations(net.W, data.signals)
    a = signal_race(act, a0, lr=0.8, steps=150, n=45, clean=clean, flipped=flipped,
                    signal_sq_norms=data.signal_sq_norms)
    g = traj.gamma[-1]
    assert np.abs(g).max() > 0.1  # something was learned
    np.testing.assert_allclose(a - a0, g, rtol=0, atol=1e-11 * np.abs(g).max())


def test_the_race_misses_when_the_counts_are_wrong():
    """Control: the same run with the group sizes of another draw is not reproduced."""
    model = cnnrank.SignalNoiseModel(d=150, K=3, patches=4, signal_norm=4.0, noise_std=0.0)
    data = model.sample(45, rng=0)
    act = cnnrank.HuberizedReLU(1.0, 3.0)
    net = cnnrank.TwoLayerCNN.init(m=6, d=150, init_std=0.05, activation=act, rng=3)
    traj = cnnrank.train(net, data, lr=0.8, steps=150, record_every=150, engine="feature")
    clean, _ = _counts(data)
    a0 = initial_signal_correlations(net.W, data.signals)
    a = signal_race(act, a0, lr=0.8, steps=150, n=45, clean=clean[::-1], signal_sq_norms=data.signal_sq_norms)
    assert np.abs((a - a0) - traj.gamma[-1]).max() > 1e-3 * np.abs(traj.gamma[-1]).max()


@pytest.mark.parametrize("act", [cnnrank.HuberizedReLU(1.0, 3.0), cnnrank.HuberizedReLU(0.7, 2.0),
                                 cnnrank.HuberizedReLU(2.0, 4.0), cnnrank.PolyReLU(3.0), cnnrank.ReLU()])
def test_race_times_solve_the_growth_equation(act):
    a0 = np.array([0.02, 0.05, 0.3, 1.5])
    A = 0.01
    got = race_times(act, a0, A, level=1.0)
    for x, t in zip(a0, got):
        sol = solve_ivp(lambda _, a: A * act.grad(a), (0, 2 * t), [x], dense_output=True, rtol=1e-10, atol=1e-12)
        assert sol.sol(t)[0] == pytest.approx(x + 1.0, rel=1e-6)
    assert np.isinf(race_times(act, np.array([-0.1, 0.0]), A)).all()


def test_gamma_stable_rank_is_the_stable_rank_of_a_learned_part_in_the_span():
    rng = np.random.default_rng(0)
    K, m, d = 3, 5, 40
    signals = cnnrank.data.make_signals(d, K, 2.5, "random", rng=1)
    gamma = np.zeros((2, m, 2 * K))
    gamma[0, :, :K] = np.abs(rng.normal(size=(m, K)))  # unequal classes on purpose
    gamma[1, :, K:] = np.abs(rng.normal(size=(m, K))) * np.array([3.0, 0.2, 1.0])
    mu2 = np.sum(signals**2, axis=1)
    A = (gamma.reshape(2 * m, 2 * K) / mu2) @ signals  # W − W0 = Σ_k γ_k μ_k/‖μ_k‖²
    assert gamma_stable_rank(gamma, np.sqrt(mu2)) == pytest.approx(cnnrank.stable_rank(A), rel=1e-12)
    # scale-invariant
    assert gamma_stable_rank(gamma * 1e-150, np.sqrt(mu2)) == pytest.approx(cnnrank.stable_rank(A), rel=1e-12)
    assert gamma_stable_rank(np.zeros_like(gamma)) == 0.0


def test_class_overlaps_are_per_class():
    gamma = np.zeros((2, 4, 4))
    gamma[0, :, 0] = gamma[0, :, 1] = [1.0, 2.0, 0.0, 0.0]  # class +1: identical columns, c₊ = 1
    gamma[1, :, 2] = [1.0, 0.0, 0.0, 0.0]
    gamma[1, :, 3] = [0.0, 1.0, 0.0, 0.0]  # class −1: orthogonal, c₋ = 0
    np.testing.assert_allclose(class_overlaps(gamma), [1.0, 0.0])
    # the stable rank: class +1 is rank one with norm² 2·5, class −1 two of norm 1 → 12 / 10
    assert gamma_stable_rank(gamma) == pytest.approx(12 / 10)


def test_a_shared_winner_lowers_the_predicted_stable_rank():
    act = cnnrank.HuberizedReLU(1.0, 3.0)
    K, m = 2, 4
    a0 = np.full((2, m, 2 * K), 0.01)
    a0[0, 0, 0] = a0[0, 0, 1] = 0.2  # filter 0 leads on both class +1 signals
    a0[1, 1, 2] = 0.2
    a0[1, 2, 3] = 0.2  # class −1: distinct leaders
    p = predict_race(act, a0, lr=1.0, steps=400, n=40, clean=10, signal_sq_norms=9.0)
    assert p.winners[0][0] == 0 and p.winners[1][0] == 0
    assert p.winners[2][0] == 1 and p.winners[3][0] == 2
    assert p.class_overlaps[0] > 0.9 and p.class_overlaps[1] < 0.1
    assert p.signals_learned == 4
    assert p.learned_stable_rank < 3.2  # one shared direction: about 3 of 2K = 4
    control = a0.copy()
    control[0, 0, 1], control[0, 3, 1] = 0.01, 0.2  # distinct leaders in both classes
    q = predict_race(act, control, lr=1.0, steps=400, n=40, clean=10, signal_sq_norms=9.0)
    assert q.learned_stable_rank > 3.8 and q.learned_dimension == 4


def test_winners_cover_the_share():
    g = np.zeros((2, 3, 2))
    g[0, :, 0] = [4.0, 1.0, 0.1]  # shares 0.941, 0.999, 1
    assert winners(g, 0.9) == ((0,), ())
    assert winners(g, 0.95) == ((0, 1), ())


def test_bad_inputs_are_refused_in_one_line():
    act = cnnrank.ReLU()
    with pytest.raises(ValueError, match="a0"):
        signal_race(act, np.zeros((3, 2, 2)), lr=1.0, steps=1, n=1, clean=1)
    with pytest.raises(ValueError, match="clean"):
        signal_race(act, np.zeros((2, 2, 2)), lr=1.0, steps=1, n=1, clean=[-1, 1])
    with pytest.raises(ValueError, match="lr"):
        signal_race(act, np.zeros((2, 2, 2)), lr=0.0, steps=1, n=1, clean=1)


def test_signal_race_memo_gives_the_same_bits_and_never_aliases():
    """A noise family's runs race from one a0: the race runs once, each caller gets its own copy."""
    from cnnrank import race as race_module
    from cnnrank.activations import HuberizedReLU

    act = HuberizedReLU(1.0, 3.0)
    a0 = 0.05 * np.random.default_rng(0).standard_normal((2, 5, 4))
    kw = dict(lr=1.0, steps=200, n=20, clean=np.array([5.0, 5.0, 4.0, 6.0]))
    race_module._RACES.clear()
    first = signal_race(act, a0, **kw)
    assert len(race_module._RACES) == 1
    first[...] = np.nan  # the caller's copy: the memo keeps its own
    again = signal_race(act, a0, **kw)
    assert np.all(np.isfinite(again)) and len(race_module._RACES) == 1
    fresh = race_module._race(act, a0.copy(), *race_module._check_state(a0, kw["clean"], 0.0, 1.0)[1:],
                              1.0, 200, 20)
    assert again.tobytes() == fresh.tobytes()
    # control: other inputs are another race
    other = signal_race(act, a0, **{**kw, "lr": 2.0})
    assert len(race_module._RACES) == 2 and other.tobytes() != again.tobytes()
