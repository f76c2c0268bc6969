"""Inputs the diagnostics, predictions, data model and batched runs cannot honour are refused with one
line naming the argument; noise-family members are checked, not trusted; memory checks respect the
process's address-space limit."""

import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

import cnnrank
from cnnrank import theory
from cnnrank.batched import train_batched
from cnnrank.experiments import RunConfig
from cnnrank.subspace import (
    energy_fraction,
    learned_dimension,
    learned_subspace_from_grams,
    learned_subspace_report,
    principal_subspace,
    signal_overlap,
)


def _one_line(exc_info, *needles):
    msg = str(exc_info.value)
    assert "\n" not in msg
    for needle in needles:
        assert needle in msg, msg


def _pair(seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((4, 8))
    Q = np.linalg.qr(rng.standard_normal((8, 3)))[0]
    return A, Q


@pytest.mark.parametrize("factor", [2.0, np.sqrt(200.0)])
def test_a_projection_with_more_energy_than_the_matrix_is_refused(factor):
    # energy fractions 4.0 and 200.0 used to be returned
    A, Q = _pair()
    G, S = (A @ A.T)[None], (A @ Q)[None]
    assert 0 <= learned_subspace_from_grams(G, S)["energy_fraction"][0] <= 1
    with pytest.raises(ValueError) as e:
        learned_subspace_from_grams(G, factor * S)
    _one_line(e, "proj is invalid", "record 0")


def test_inconsistent_gram_and_projection_are_refused():
    A, Q = _pair()
    G, S = (A @ A.T)[None], (A @ Q)[None]
    with pytest.raises(ValueError, match="proj is invalid"):  # an underflowed (zero) Gram matrix
        learned_subspace_from_grams(np.zeros_like(G), S)
    with pytest.raises(ValueError, match="proj is invalid"):  # a Gram matrix that is not PSD
        learned_subspace_from_grams(-G, np.zeros_like(S))
    two = np.concatenate([G, G]), np.concatenate([S, S * 3])
    with pytest.raises(ValueError, match="record 1"):
        learned_subspace_from_grams(*two)
    # consistent to rounding: accepted, also at the edges of the tolerance's reach
    B = A.copy()
    B[:, :] = A @ Q @ Q.T  # A inside the reference: A Aᵀ = (A Q)(A Q)ᵀ up to rounding
    out = learned_subspace_from_grams((B @ B.T)[None], (B @ Q)[None])
    assert out["energy_fraction"][0] == pytest.approx(1.0, abs=1e-12) and out["energy_fraction"][0] <= 1.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_inputs_are_refused_naming_the_argument(bad):
    A, Q = _pair()
    Ab, Qb = A.copy(), Q.copy()
    Ab[1, 2] = bad
    Qb[0, 0] = bad
    Gb, Sb = A @ A.T, A @ Q
    Gb[1, 1], Sb[2, 0] = bad, bad
    for call, name in ((lambda: learned_dimension(Ab, Q), "A"), (lambda: learned_dimension(A, Qb), "basis"),
                       (lambda: energy_fraction(Ab, Q), "A"), (lambda: learned_subspace_report(A, Qb), "basis"),
                       (lambda: principal_subspace(Ab), "X"),
                       (lambda: learned_subspace_from_grams(Gb[None], (A @ Q)[None]), "gram"),
                       (lambda: learned_subspace_from_grams((A @ A.T)[None], Sb[None]), "proj")):
        with pytest.raises(ValueError) as e:
            call()
        _one_line(e, f"{name} is invalid")
    g = np.ones((2, 3, 4))
    g[0, 1, 1] = bad
    with pytest.raises(ValueError) as e:
        signal_overlap(g)
    _one_line(e, "gamma is invalid")


def test_wrong_shapes_are_refused_naming_the_argument():
    A, Q = _pair()
    with pytest.raises(ValueError, match="basis has shape"):
        learned_dimension(A, Q[:5])
    with pytest.raises(ValueError, match="gram has shape"):
        learned_subspace_from_grams(A @ A.T, (A @ Q)[None])
    with pytest.raises(ValueError, match="proj has shape"):
        learned_subspace_from_grams((A @ A.T)[None], (A @ Q)[None, :3])


@pytest.mark.parametrize("fn", [theory.expected_patch_stable_rank, theory.expected_data_stable_rank])
@pytest.mark.parametrize("bad", [-1.0, -1e-300, np.nan, np.inf, [0.1, -0.2], [[0.1, np.nan]], "0.1"])
def test_theory_refuses_noise_levels_it_cannot_honour(fn, bad):
    # -1.0 used to equal the value for +1.0, NaN gave 0.0, inf gave NaN
    with pytest.raises(ValueError) as e:
        fn(RunConfig(), bad)
    _one_line(e, "noise_std=")


@pytest.mark.parametrize("fn", [theory.expected_patch_stable_rank, theory.expected_data_stable_rank])
def test_theory_noise_levels_of_any_shape_are_elementwise(fn):
    cfg = RunConfig()
    levels = np.array([[0.1, 0.2], [0.0, 0.4]])
    out = fn(cfg, levels)
    assert isinstance(out, np.ndarray) and out.shape == (2, 2)
    assert np.array_equal(out, np.vectorize(lambda s: fn(cfg, float(s)))(levels))
    assert fn(cfg, [[0.1, 0.2]]).shape == (1, 2)  # used to fail: "truth value ... ambiguous"
    assert fn(cfg, []).shape == (0,)
    assert isinstance(fn(cfg, 0.1), float) and isinstance(fn(cfg), float)


@pytest.mark.parametrize("draws, needle", [(0, "draws=0 is invalid"), (-1, "draws=-1 is invalid"),
                                           (2.5, "draws=2.5 is invalid"), (10**7, "draws=10000000 is invalid")])
def test_expected_max_group_checks_draws(draws, needle):
    # draws=0 used to give NaN, draws=-1 an error that did not name draws
    cfg = RunConfig(balanced=False)
    with pytest.raises(ValueError) as e:
        theory.expected_max_group(cfg, draws=draws)
    _one_line(e, needle)
    assert theory.expected_max_group(cfg, draws=3) >= cfg.n / (2 * cfg.K)


@pytest.mark.parametrize("field", ["d", "K", "patches"])
def test_model_sizes_beyond_float64_integers_are_refused(field):
    # d=10**30 used to be accepted, then sample_gram overflowed
    with pytest.raises(ValueError) as e:
        cnnrank.SignalNoiseModel(**{"d": 100, field: 10**30})
    _one_line(e, f"{field}=1000000000000000000000000000000 is invalid", "<= 9007199254740992")
    with pytest.raises(ValueError, match="d=9007199254740993 is invalid"):
        cnnrank.SignalNoiseModel(d=2**53 + 1)
    assert cnnrank.SignalNoiseModel(d=2**53).sample_gram(4, 1, 0.1, rng=0).d == 2**53


def test_extreme_configurations_give_limits_without_warnings():
    # these printed RuntimeWarnings (overflow in scalar power) or raised OverflowError
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert theory.benign_indicator(RunConfig(signal_norm=1e200)) == float("inf")
        assert theory.benign_indicator(RunConfig(noise_std=1e-300)) == float("inf")
        assert theory.benign_indicator(RunConfig(noise_std=1e300)) == 0.0
        assert theory.lr_bound(RunConfig(noise_std=1e-300)) == pytest.approx(1 / 25)
        assert theory.lr_bound(RunConfig(signal_norm=1e200, noise_std=1e200)) == 0.0
        assert theory.signal_learning_time(RunConfig(signal_norm=1e200)) >= 0
        assert theory.expected_data_stable_rank(RunConfig(signal_norm=1e200)) == pytest.approx(
            theory.expected_data_stable_rank(RunConfig(noise_std=0.0)), rel=1e-9)
        p = theory.predictions(RunConfig(signal_norm=1e-300))
        assert p["regime"] == "harmful"


def test_the_memory_check_respects_the_address_space_limit():
    # 10⁶ noise levels under a 3 GiB address-space limit used to fail with numpy's _ArrayMemoryError
    code = textwrap.dedent("""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, resource.RLIM_INFINITY))
        import cnnrank
        from cnnrank._memory import address_space_left, available_bytes
        left = address_space_left()
        assert left is not None and 0 < left < 3 * 2**30 and available_bytes() <= left
        model = cnnrank.SignalNoiseModel(d=20, K=1, noise_std=0.1)
        try:
            model.sample_noise_levels(8, [0.1] * 10**6, rng=0)
        except ValueError as exc:
            print(type(exc).__name__, exc)
    """)
    pytest.importorskip("resource")
    # one BLAS thread: a many-core OpenBLAS reserves buffers per thread that a 3 GiB limit must not eat
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert line.startswith("InsufficientMemory ") and "\n" not in line
    assert "at 1000000 noise levels" in line and "fewer noise levels" in line and "process can spare" in line


def _family():
    model = cnnrank.SignalNoiseModel(d=40, K=2, patches=3, signal_norm=4.0, noise_std=0.5, balanced=True)
    data = model.sample_noise_levels(12, [0.3, 0.6], rng=3)
    net = cnnrank.TwoLayerCNN.init(m=3, d=40, init_std=0.05, activation=cnnrank.HuberizedReLU(1.0, 3.0), rng=5)
    return net, data


def _own(net, member, got):
    want = cnnrank.train(net, member, lr=1.0, steps=30, record_every=15, engine="gram")
    assert "noise_family_scale" not in got.metadata
    assert np.allclose(got.coef, want.coef, rtol=1e-12, atol=1e-14 * np.max(np.abs(want.coef)))
    assert np.array_equal(got.learned_dimension, want.learned_dimension)


def test_a_forged_noise_family_marker_is_not_trusted():
    net, data = _family()
    member = data[1]
    X = np.array(member.X)
    X[:, 1:] *= 1.7  # other background patches ...
    forged = cnnrank.PatchData(X=X, y=member.y, signals=member.signals, signal_id=member.signal_id,
                               signal_pos=member.signal_pos, y_true=member.y_true,
                               meta={"noise_family": dict(member.meta["noise_family"])})
    forged.meta["noise_family"]["X"] = forged.X  # ... with a marker naming them as the family's own
    got = train_batched(net, [data[0], forged], 1.0, steps=30, record_every=15)
    assert got[0].metadata["noise_family_scale"] == 0.3
    _own(net, forged, got[1])


def test_a_member_written_in_place_after_the_draw_is_trained_on_its_own_patches():
    net, data = _family()
    member = data[1]
    member.X.flags.writeable = True  # read-only by default, but the flag can be lifted
    member.X[0, 1, :3] += 0.25
    member.X.flags.writeable = False
    got = train_batched(net, data, 1.0, steps=30, record_every=15)
    assert got[0].metadata["noise_family_scale"] == 0.3
    _own(net, member, got[1])


def test_a_unit_draw_written_in_place_is_caught_for_every_member():
    net, data = _family()
    unit = data[0].meta["noise_family"]["unit_X"]
    unit.flags.writeable = True
    unit[2, 2, :] *= -1.0
    unit.flags.writeable = False
    got = train_batched(net, data, 1.0, steps=30, record_every=15)
    for member, g in zip(data, got):
        _own(net, member, g)


def test_overflowing_noise_is_one_error_without_warnings():
    # used to print "overflow encountered in multiply" and "invalid value encountered in matmul" first,
    # then "X is invalid: contains non-finite values"
    model = cnnrank.SignalNoiseModel(d=30, K=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as e:
            model.replace(noise_std=1e308).sample(4, rng=0)
        _one_line(e, "noise_std=1e+308 is invalid", "overflow")
        with pytest.raises(ValueError) as e:
            model.sample_noise_levels(4, [0.1, 1.7e308], rng=0)
        _one_line(e, "noise_levels[1]=1.7e+308 is invalid")
        sample = model.sample_gram(4, 2, 1.7e308, rng=0)  # training on it diverges at step 0, with its own message
        assert not np.all(np.isfinite(sample.gram))
        assert model.replace(noise_std=1e150).sample(4, rng=0).X.shape == (4, 3, 30)


def test_empty_stacks_keep_their_shapes():
    out = learned_subspace_from_grams(np.zeros((1, 0, 0)), np.zeros((1, 0, 3)))
    assert out["learned_dimension"].shape == (1,) and out["energy_fraction"].shape == (1,)
    out = learned_subspace_from_grams(np.zeros((0, 2, 2)), np.zeros((0, 2, 3)))
    assert out["learned_dimension"].shape == (0,) and out["singular_values"].shape == (0, 2)


def test_wishart_sizes_are_checked_before_drawing():
    from cnnrank.gram_sample import wishart_bartlett

    with pytest.raises(ValueError) as e:
        wishart_bartlett(10**30, 3)
    _one_line(e, "dof=1000000000000000000000000000000 is invalid")
    with pytest.raises(MemoryError) as e:
        wishart_bartlett(10, 10**8)  # 2.4e17 bytes: more than any machine can spare
    _one_line(e, "wishart_bartlett(dof=10, N=100000000)", "a smaller N")
    assert wishart_bartlett(10, 3, rng=0).shape == (3, 3)


def test_measured_regime_names_a_non_numeric_argument():
    from cnnrank.subspace import measured_regime

    for args, name in ((("abc", 0.5), "test_acc"), ((0.99, ["x"]), "signal_energy_fraction")):
        with pytest.raises(ValueError) as e:
            measured_regime(*args)
        _one_line(e, f"{name} is invalid")
    assert str(measured_regime(0.99, np.nan)) == "harmful"  # a diverged run learned nothing measurable
