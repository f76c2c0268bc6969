"""The probes' stacked trainer and the collapse runs' logsumexp are the single-run computations, to the bit.

``cnnrank.collapse.batch.train_fixed_batch`` must give what ``train_mixture`` gives run by run
(docs/theory.md §7), and ``cnnrank.collapse.losses.logsumexp_rows`` what ``scipy.special.logsumexp``
gives; both are compared byte for byte, a divergence must raise the single-run error.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy.special import logsumexp

from cnnrank.collapse import simplex_etf
from cnnrank.collapse.batch import train_fixed_batch
from cnnrank.collapse.losses import logsumexp_rows
from cnnrank.collapse.probes import classifier_variants
from cnnrank.collapse.simulate import (
    CollapseDivergenceError,
    FeatureNetConfig,
    MixtureConfig,
    sample_mixture,
    train_mixture,
)


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 9)),
              elements=st.floats(-1e4, 1e4, allow_nan=False)),
       st.integers(0, 8))
def test_logsumexp_rows_is_scipys_to_the_bit(Z, ties):
    Z = Z.copy()
    if ties < Z.shape[1]:  # several maxima in a row: SciPy counts them apart from the sum
        Z[:, ties] = Z.max(axis=1)
    assert _same(logsumexp_rows(Z), logsumexp(Z, axis=1))


def test_logsumexp_rows_edge_values_as_scipy():
    Z = np.array([[0.0, 0.0, 0.0], [-np.inf, 0.0, 1.0], [1e300, -1e300, 0.0], [5.0, 5.0, -np.inf]])
    with np.errstate(all="ignore"):
        assert _same(logsumexp_rows(Z), logsumexp(Z, axis=1))
    # control: the plain formula differs from SciPy's in the last bits on some rows
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((500, 5)) * 3
    plain = np.log(np.sum(np.exp(Z - Z.max(axis=1, keepdims=True)), axis=1)) + Z.max(axis=1)
    assert not _same(plain, logsumexp(Z, axis=1)) and _same(logsumexp_rows(Z), logsumexp(Z, axis=1))


def _fields(run):
    return (run.steps, run.history, run.H, run.labels, run.W, run.b)


@pytest.mark.parametrize("activation, weight_decay, record_every", [
    ("tanh", 0.0, None), ("linear", 0.0, 7), ("relu", 1e-3, 10), ("tanh", 1e-2, 25)])
def test_stack_equals_runs_one_by_one_bit_for_bit(activation, weight_decay, record_every):
    C = 4
    data = sample_mixture(MixtureConfig(num_classes=C, input_dim=12, n_train_per_class=5, n_test_per_class=7), rng=3)
    cfg = FeatureNetConfig(width=C - 1, activation=activation, lr=0.5, steps=60, weight_decay=weight_decay,
                           record_every=record_every or 60)
    Fs = 4.0 * classifier_variants(simplex_etf(C, C - 1, rng=1), 3, "rotation", rng=2)
    seeds = [11, 12, 11, 13, 14, 15]
    classifiers = np.repeat(Fs, 2, axis=0)
    stacked = train_fixed_batch(data, cfg, seeds, classifiers)
    single = [train_mixture(data, cfg, s, fixed_classifier=F) for s, F in zip(seeds, classifiers)]
    assert len(stacked) == len(single)
    for a, b in zip(stacked, single):
        assert all(_same(x, y) for x, y in zip(_fields(a), _fields(b)))
        assert a.config == b.config and a.seed_entropy == b.seed_entropy and a.model == b.model
    # control: the runs do differ from one another (the comparison is not of equal runs)
    assert not _same(stacked[0].H, stacked[1].H)


def test_stack_divergence_raises_the_single_run_error():
    data = sample_mixture(MixtureConfig(num_classes=3, n_train_per_class=3, n_test_per_class=3), rng=1)
    cfg = FeatureNetConfig(width=2, activation="linear", lr=1e150, steps=100, record_every=3, init_scale=30.0)
    Fs = 1e3 * np.random.default_rng(0).standard_normal((3, 3, 2))
    with pytest.raises(CollapseDivergenceError) as single:
        train_mixture(data, cfg, 0, fixed_classifier=Fs[0])
    with pytest.raises(CollapseDivergenceError) as stacked:
        train_fixed_batch(data, cfg, [0, 1, 2], Fs)
    assert stacked.value.step == single.value.step and str(stacked.value) == str(single.value)
    assert _same(stacked.value.trajectory.history, single.value.trajectory.history)


def test_stack_validates_its_inputs():
    data = sample_mixture(MixtureConfig(num_classes=3, n_train_per_class=3, n_test_per_class=3), rng=1)
    cfg = FeatureNetConfig(width=2)
    with pytest.raises(ValueError, match=r"classifiers has shape \(2, 3, 3\)"):
        train_fixed_batch(data, cfg, [0, 1], np.zeros((2, 3, 3)))
    with pytest.raises(TypeError, match="MixtureData"):
        train_fixed_batch(None, cfg, [0], np.zeros((1, 3, 2)))
