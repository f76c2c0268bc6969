"""Hypothesis strategies for cnnrank objects (requires the ``test`` extra: hypothesis).

Small shapes and bounded values, so that property tests run in milliseconds::

    from hypothesis import given
    from cnnrank.testing import strategies as cst

    @given(cst.problems())
    def test_something(problem):
        W, X, y, activation = problem
"""

from __future__ import annotations

from typing import Any

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays
except ModuleNotFoundError as exc:  # pragma: no cover - exercised with hypothesis hidden
    raise ImportError('cnnrank.testing.strategies needs hypothesis, part of the test extra: '
                      'pip install "cnnrank[test]"') from exc

from cnnrank.activations import Activation, HuberizedReLU, PolyReLU, ReLU
from cnnrank.data import PatchData, SignalNoiseModel

__all__ = ["activations", "finite_floats", "labels", "models", "patch_data", "problems", "weights"]


def finite_floats(bound: float = 3.0) -> st.SearchStrategy[float]:
    """Floats in ``[-bound, bound]``, no NaN or infinity."""
    return st.floats(-bound, bound, allow_nan=False, allow_infinity=False, width=64)


def activations(kinds: tuple[str, ...] = ("huber", "relu", "poly")) -> st.SearchStrategy[Activation]:
    """Activations: Huberized ReLU (κ in [0.2, 2], q in {1.5, 2, 3, 4}), ReLU, polynomial ReLU."""
    options: list[st.SearchStrategy[Activation]] = []
    if "huber" in kinds:
        options.append(st.builds(HuberizedReLU, kappa=st.floats(0.2, 2.0), q=st.sampled_from([1.5, 2.0, 3.0, 4.0])))
    if "relu" in kinds:
        options.append(st.just(ReLU()))
    if "poly" in kinds:
        options.append(st.builds(PolyReLU, q=st.sampled_from([1.0, 2.0, 3.0])))
    return st.one_of(*options)


@st.composite
def models(draw: Any, max_d: int = 24, max_K: int = 3, max_P: int = 4) -> SignalNoiseModel:
    """Small valid :class:`SignalNoiseModel` configurations."""
    K = draw(st.integers(1, max_K))
    project = draw(st.booleans())
    d = draw(st.integers(2 * K + 1, max(max_d, 2 * K + 1)))
    return SignalNoiseModel(
        d=d,
        K=K,
        patches=draw(st.integers(2, max_P)),
        signal_norm=draw(st.floats(0.5, 5.0)),
        noise_std=draw(st.floats(0.0, 2.0)),
        project_noise=project,
        label_noise=draw(st.sampled_from([0.0, 0.1])),
        balanced=draw(st.booleans()),
        signal_position=draw(st.sampled_from(["random", 0])),
    )


@st.composite
def patch_data(draw: Any, max_n: int = 12, **model_kw: Any) -> PatchData:
    """Data drawn from a small random model with a hypothesis-chosen seed."""
    model = draw(models(**model_kw))
    n = draw(st.integers(2, max_n))
    seed = draw(st.integers(0, 2**32 - 1))
    return model.sample(n, rng=seed)


def weights(m: int, d: int, bound: float = 1.0) -> st.SearchStrategy[np.ndarray]:
    """Filters ``W`` of shape (2, m, d) with entries in ``[-bound, bound]``."""
    return arrays(np.float64, (2, m, d), elements=finite_floats(bound))


def labels(n: int) -> st.SearchStrategy[np.ndarray]:
    """Label vectors of shape (n,) in {-1, +1}."""
    return arrays(np.float64, (n,), elements=st.sampled_from([-1.0, 1.0]))


@st.composite
def problems(draw: Any, max_n: int = 6, max_P: int = 3, max_d: int = 6, max_m: int = 3,
             activation: st.SearchStrategy[Activation] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, Activation]:
    """Arbitrary (not model-generated) problems ``(W (2,m,d), X (n,P,d), y (n,), activation)``."""
    n, P = draw(st.integers(1, max_n)), draw(st.integers(1, max_P))
    d, m = draw(st.integers(1, max_d)), draw(st.integers(1, max_m))
    W = draw(weights(m, d))
    X = draw(arrays(np.float64, (n, P, d), elements=finite_floats(2.0)))
    y = draw(labels(n))
    act = draw(activation if activation is not None else activations())
    return W, X, y, act
