r"""The two-layer CNN of docs/theory.md §2, the logistic loss and its analytic gradient.

.. math::
    F_j(W_j, x) = \frac1m \sum_{r=1}^m \sum_{p=1}^P \sigma(\langle w_{j,r}, x^{(p)}\rangle),\qquad
    f(W, x) = F_{+1}(W_{+1}, x) - F_{-1}(W_{-1}, x)

``W`` has shape ``(2, m, d)``: index 0 holds the filters of class +1, index 1 those of class -1.
Everything is computed in matrix form: the patches as an ``(nP, d)`` matrix, one product forward
(pre-activations ``Z = X W^T``, shape ``(nP, 2m)``) and one backward (``grad = A^T X``), where the
per-patch weights ``A`` are exactly the patch-coefficient increments of docs/theory.md §3.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit

from cnnrank._memory import check_allocation
from cnnrank._validation import as_array, check_int, check_labels, check_real, check_rng
from cnnrank.activations import Activation, check_activation

__all__ = [
    "TwoLayerCNN",
    "filter_signs",
    "fixed_head",
    "forward_flat",
    "head_loss_and_grad",
    "logistic_loss",
    "logistic_loss_derivative",
    "loss_and_grad",
    "network_output",
    "patch_gradient_weights",
]


def logistic_loss(margin: np.ndarray) -> np.ndarray:
    r"""``ℓ(t) = log(1 + e^{-t})``, computed stably (``np.logaddexp``); no overflow for ``|t| = 1e4``."""
    return np.logaddexp(0.0, -np.asarray(margin, dtype=np.float64))


def logistic_loss_derivative(margin: np.ndarray) -> np.ndarray:
    r"""``ℓ'(t) = -1 / (1 + e^{t})`` in ``(-1, 0)``, computed stably (``-expit(-t)``)."""
    return -expit(-np.asarray(margin, dtype=np.float64))


def filter_signs(m: int) -> np.ndarray:
    """The class sign ``j`` of each of the ``2m`` filters in ``W.reshape(2m, d)``: ``+1`` then ``-1``."""
    return np.repeat(np.array([1.0, -1.0]), m)


def _check_W(W: Any, d: int | None = None) -> np.ndarray:
    W = as_array("W", W, ndim=3)
    if W.shape[0] != 2 or W.shape[1] < 1:
        raise ValueError(f"W has shape {W.shape} which is invalid: must be (2, m, d) with m >= 1")
    if d is not None and W.shape[2] != d:
        raise ValueError(f"W has shape {W.shape} which is invalid: patch dimension must be d={d} to match X")
    return W


def _check_X(X: Any) -> np.ndarray:
    X = as_array("X", X, ndim=3)
    if min(X.shape) < 1:
        raise ValueError(f"X has shape {X.shape} which is invalid: must be (n, P, d) with all sizes >= 1")
    return X


def _check_activation(activation: Any) -> None:
    check_activation(activation)


def forward_flat(Wflat: np.ndarray, Xflat: np.ndarray, n: int, act: Activation) -> tuple[np.ndarray, np.ndarray]:
    r"""Pre-activations and outputs from flat filters and patches (docs/theory.md §2), unchecked.

    ``Z = X Wᵀ`` and ``f_i = (1/m) Σ_p (Σ_{r} σ(Z_{(i,p),(+1,r)}) - Σ_r σ(Z_{(i,p),(-1,r)}))``; the
    building block of :func:`network_output`, :func:`loss_and_grad` and the feature engine.

    Parameters
    ----------
    Wflat : ndarray, shape (2m, d)
        Filters, class +1 then class -1 (``W.reshape(2m, d)``).
    Xflat : ndarray, shape (n P, d)
        Patches, row ``i P + p``.
    n : int
        Number of samples.
    act : Activation

    Returns
    -------
    Z : ndarray, shape (n P, 2m)
    f : ndarray, shape (n,)
    """
    m = Wflat.shape[0] // 2
    Z = Xflat @ Wflat.T
    S = act(Z).reshape(n, -1, 2 * m).sum(axis=1)  # (n, 2m)
    f = (S[:, :m].sum(axis=1) - S[:, m:].sum(axis=1)) / m
    return Z, f


def patch_gradient_weights(Z: np.ndarray, f: np.ndarray, y: np.ndarray, act: Activation) -> tuple[float, np.ndarray]:
    r"""Mean logistic loss and the per-patch gradient weights ``A`` (nP, 2m), unchecked.

    ``A[(i,p), (j,r)] = (j / (n m)) ℓ'_i y_i σ'(⟨w_{j,r}, x_i^(p)⟩)`` so that ``grad = A^T X`` and the
    patch coefficients move by ``-η A`` (docs/theory.md §3).

    Parameters
    ----------
    Z : ndarray, shape (n P, 2m)
        Pre-activations from :func:`forward_flat`.
    f : ndarray, shape (n,)
        Outputs from :func:`forward_flat`.
    y : ndarray, shape (n,)
        Labels in {-1, +1}.
    act : Activation

    Returns
    -------
    loss : float
    A : ndarray, shape (n P, 2m)
    """
    n = f.shape[0]
    m = Z.shape[1] // 2
    margin = y * f
    g = logistic_loss_derivative(margin) * y / (n * m)  # (n,)
    P = Z.shape[0] // n
    A = act.grad(Z)
    A *= np.repeat(g, P)[:, None]
    A[:, m:] *= -1.0
    return float(np.mean(logistic_loss(margin))), A


def network_output(W: np.ndarray, X: np.ndarray, activation: Activation) -> np.ndarray:
    """Outputs ``f(W, x_i)`` of the two-layer CNN.

    Parameters
    ----------
    W : ndarray, shape (2, m, d)
    X : ndarray, shape (n, P, d)
    activation : Activation

    Returns
    -------
    ndarray, shape (n,)
    """
    _check_activation(activation)
    X = _check_X(X)
    W = _check_W(W, X.shape[2])
    n, P, d = X.shape
    return forward_flat(W.reshape(-1, d), X.reshape(n * P, d), n, activation)[1]


def loss_and_grad(W: np.ndarray, X: np.ndarray, y: np.ndarray, activation: Activation) -> tuple[float, np.ndarray]:
    r"""Mean logistic loss and its analytic gradient.

    .. math::
        L_S(W) = \frac1n\sum_i \ell(y_i f(W, x_i)),\qquad
        \nabla_{w_{j,r}} L_S = \frac{j}{nm}\sum_i \ell'_i\, y_i \sum_p \sigma'(\langle w_{j,r}, x_i^{(p)}\rangle)\, x_i^{(p)}

    Parameters
    ----------
    W : ndarray, shape (2, m, d)
    X : ndarray, shape (n, P, d)
    y : ndarray, shape (n,), entries in {-1, +1}
    activation : Activation

    Returns
    -------
    loss : float
    grad : ndarray, shape (2, m, d)
    """
    _check_activation(activation)
    X = _check_X(X)
    W = _check_W(W, X.shape[2])
    y = check_labels("y", y)
    n, P, d = X.shape
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape} which is invalid: must be ({n},) to match X")
    Xflat = X.reshape(n * P, d)
    Z, f = forward_flat(W.reshape(-1, d), Xflat, n, activation)
    loss, A = patch_gradient_weights(Z, f, y, activation)
    return loss, (A.T @ Xflat).reshape(W.shape)


def fixed_head(m: int) -> np.ndarray:
    """The theorem's second layer with its class sign, ``a_{j,r} = j / m``, shape (2, m)."""
    return (filter_signs(m) / m).reshape(2, m)


def head_loss_and_grad(W: np.ndarray, a: np.ndarray, X: np.ndarray, y: np.ndarray, activation: Activation,
                       weight_decay: float = 0.0, train_head: bool = True) -> tuple[float, np.ndarray, np.ndarray]:
    r"""Regularized mean logistic loss of the network with a second layer ``a``, and its gradients.

    The training variants of docs/theory.md ("Training variants"): ``f(x) = Σ_{j,r} a_{j,r} Σ_p
    σ(⟨w_{j,r}, x^(p)⟩)`` with the class sign inside ``a`` (``a = j/m``: :func:`fixed_head`, the
    network of :func:`network_output`), and on the samples given (a minibatch ``B``)

    .. math::
        \mathcal L(W, a) = \frac1{|B|}\sum_{i\in B} \ell(y_i f(x_i))
            + \frac\lambda2 \big(\|W\|_F^2 + 1_{\text{trainable}}\|a\|^2\big),

    .. math::
        \nabla_{w_{j,r}}\mathcal L = \frac1{|B|}\sum_i \ell'_i y_i a_{j,r} \sum_p \sigma'(\langle w_{j,r},
            x_i^{(p)}\rangle) x_i^{(p)} + \lambda w_{j,r},\qquad
        \partial_{a_{j,r}}\mathcal L = \frac1{|B|}\sum_i \ell'_i y_i \sum_p \sigma(\langle w_{j,r},
            x_i^{(p)}\rangle) + \lambda a_{j,r},

    so that a gradient step of size ``η`` is ``W ← (1-ηλ) W - η ∇_W L_B`` (and the same for ``a``).

    Parameters
    ----------
    W : ndarray, shape (2, m, d)
    a : ndarray, shape (2, m)
        Second layer, class sign included.
    X : ndarray, shape (b, P, d)
        The samples of the batch.
    y : ndarray, shape (b,), entries in {-1, +1}
    activation : Activation
    weight_decay : float
        ``λ >= 0``.
    train_head : bool
        Whether ``a`` is trained (its decay term is then in the loss); the gradient wrt ``a`` is returned
        either way.

    Returns
    -------
    loss : float
    grad_W : ndarray, shape (2, m, d)
    grad_a : ndarray, shape (2, m)
    """
    _check_activation(activation)
    X = _check_X(X)
    W = _check_W(W, X.shape[2])
    y = check_labels("y", y)
    b, P, d = X.shape
    m = W.shape[1]
    a = as_array("a", a)
    if a.shape != (2, m):
        raise ValueError(f"a has shape {a.shape} which is invalid: must be (2, {m}) to match W")
    if y.shape != (b,):
        raise ValueError(f"y has shape {y.shape} which is invalid: must be ({b},) to match X")
    lam = check_real("weight_decay", weight_decay, nonnegative=True)
    Xflat = X.reshape(b * P, d)
    Z = Xflat @ W.reshape(2 * m, d).T
    af = a.reshape(-1)
    S = activation(Z).reshape(b, P, 2 * m).sum(axis=1)  # (b, 2m)
    f = S @ af
    margin = y * f
    g = logistic_loss_derivative(margin) * y / b
    A = activation.grad(Z) * np.repeat(g, P)[:, None] * af[None, :]
    reg = 0.5 * lam * (float(np.sum(W * W)) + (float(np.sum(a * a)) if train_head else 0.0))
    grad_W = (A.T @ Xflat).reshape(W.shape) + lam * W
    grad_a = (g @ S).reshape(2, m) + (lam * a if train_head else 0.0)
    return float(np.mean(logistic_loss(margin))) + reg, grad_W, grad_a


@dataclass(frozen=True, eq=False)
class TwoLayerCNN:
    """A two-layer CNN: filters ``W`` (2, m, d) and an activation; the second layer is fixed.

    Examples
    --------
    >>> from cnnrank.activations import HuberizedReLU
    >>> net = TwoLayerCNN.init(m=4, d=10, init_std=0.01, activation=HuberizedReLU(1.0), rng=0)
    >>> net.W.shape
    (2, 4, 10)
    """

    W: np.ndarray
    activation: Activation

    def __post_init__(self) -> None:
        # a built-in, or a registered activation whose contract (docs/theory.md §2) is checked again
        check_activation(self.activation, full=True)
        W = _check_W(self.W).copy()
        W.flags.writeable = False
        object.__setattr__(self, "W", W)

    @classmethod
    def init(cls, m: int, d: int, init_std: float, activation: Activation, rng: Any = None) -> TwoLayerCNN:
        """Filters ``w_{j,r} ~ N(0, init_std² I_d)`` i.i.d. (``init_std = σ_0 >= 0``)."""
        m = check_int("m", m, minimum=1)
        d = check_int("d", d, minimum=1)
        init_std = check_real("init_std", init_std, nonnegative=True)
        rng = np.random.default_rng(check_rng("rng", rng))
        check_allocation(8.0 * 2 * m * d, f"TwoLayerCNN.init(m={m}, d={d}) (2 × {m} × {d} float64 filters)",
                         "a smaller d, or the dimension-free model.sample_gram(n, m, init_std) with "
                         "cnnrank.train_implicit (no filter of R^d is formed)")
        z = rng.standard_normal((2, m, d))
        if not np.isfinite(init_std * float(np.max(np.abs(z)))):  # a Python float product: inf, no warning
            raise ValueError(f"init_std={init_std!r} is too large: init_std × the normal draws overflows float64")
        return cls(W=init_std * z, activation=activation)

    @property
    def m(self) -> int:
        """Filters per class."""
        return self.W.shape[1]

    @property
    def d(self) -> int:
        """Patch dimension."""
        return self.W.shape[2]

    def output(self, X: np.ndarray) -> np.ndarray:
        """``f(W, x_i)`` for ``X`` of shape (n, P, d); returns shape (n,)."""
        return network_output(self.W, X, self.activation)

    def loss_and_grad(self, X: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """:func:`loss_and_grad` at this network's weights."""
        return loss_and_grad(self.W, X, y, self.activation)

    def with_weights(self, W: np.ndarray) -> TwoLayerCNN:
        """The same network with other filters."""
        return TwoLayerCNN(W=W, activation=self.activation)
