"""The objectives of the neural-collapse simulations and their analytic gradients (docs/theory.md §7).

Cross-entropy of logits ``z_i = W h_i + b`` (shape ``(C,)``) and one-hot ``y_i``:
``ℓ_i = logsumexp(z_i) − z_{i,y_i}``, gradient ``∂ℓ_i/∂z_i = softmax(z_i) − y_i``; the UFM objective and
the feature network (forward pass, initialization, gradient).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.collapse.models import FeatureNetConfig, UFMConfig


def logsumexp_rows(Z: np.ndarray) -> np.ndarray:
    """``log Σ_c exp(Z[i, c])`` for each row of a real 2-D array ``Z`` (shape ``(n, C)``), shape ``(n,)``.

    The operations of :func:`scipy.special.logsumexp` (``axis=1``, no weights) for real input, one by
    one, so the result is the same to the bit (``tests/test_collapse_batch.py`` checks it against
    SciPy): with ``a* = max_c Z``, the ``k`` entries equal to ``a*`` are taken out of the sum,
    ``s = Σ_{others} exp(Z − a*) / k`` and ``lse = log1p(s) + log k + a*``. SciPy's version passes through
    its array-API layer, which costs about 0.2 ms per call at the sizes of the collapse runs (a few
    hundred rows, a few classes): three times the arithmetic. Called once per gradient step.
    """
    a_max = np.max(Z, axis=1, keepdims=True)
    mask = Z == a_max
    a = Z.copy()
    a[mask] = -np.inf  # the maxima are counted in k, not summed
    k = np.sum(mask.astype(Z.dtype), axis=1, keepdims=True, dtype=Z.dtype)
    s = np.sum(np.exp(a - a_max), axis=1, keepdims=True, dtype=Z.dtype)
    s = np.where(s == 0, s, s / k)
    sign = np.sign(s + 1) * np.sign(k)
    s = np.where(s < -1, -s - 2, s)
    out = np.log1p(s) + np.log(np.abs(k)) + a_max
    out[sign < 0] = np.nan
    return out[:, 0]


def cross_entropy(Z: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits ``Z`` (shape ``(n, C)``) and ``G = (softmax(Z) − Y)/n``.

    Stable: ``logsumexp`` and ``softmax = exp(Z − logsumexp(Z))``; finite for logits of ±1e4.
    """
    n = Z.shape[0]
    lse = logsumexp_rows(Z)
    loss = float(np.mean(lse - Z[np.arange(n), y]))
    P = np.exp(Z - lse[:, None])
    P[np.arange(n), y] -= 1.0
    return loss, P / n


def _act(name: str, pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if name == "relu":
        return np.maximum(pre, 0.0), (pre > 0).astype(np.float64)  # σ'(0) = 0
    if name == "tanh":
        t = np.tanh(pre)
        return t, 1.0 - t**2
    return pre, np.ones_like(pre)


def feature_net_forward(params: dict[str, np.ndarray], X: np.ndarray, activation: str) -> tuple[np.ndarray, np.ndarray]:
    """Features ``H = σ(X Vᵀ + a)`` (shape ``(n, width)``) and logits ``H Wᵀ + b`` (shape ``(n, C)``)."""
    H, _ = _act(activation, X @ params["V"].T + params["a"])
    return H, H @ params["W"].T + params["b"]


def feature_net_loss_and_grad(
    params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, activation: str, weight_decay: float = 0.0
) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
    """Objective, its analytic gradient (same keys as ``params``) and the features ``H``.

    ``G = (softmax − Y)/n``; ``∇W = GᵀH + λW``, ``∇b = Σ_i G_i``, ``Δ = (G W) ∘ σ'(XVᵀ + a)``,
    ``∇V = ΔᵀX + λV``, ``∇a = Σ_i Δ_i``.
    """
    V, a, W, b = params["V"], params["a"], params["W"], params["b"]
    H, dact = _act(activation, X @ V.T + a)
    loss, G = cross_entropy(H @ W.T + b, y)
    loss += 0.5 * weight_decay * (np.sum(V**2) + np.sum(W**2))
    delta = (G @ W) * dact
    grads = {"V": delta.T @ X + weight_decay * V, "a": delta.sum(0), "W": G.T @ H + weight_decay * W,
             "b": G.sum(0)}
    return loss, grads, H


def ufm_loss_and_grad(
    H: np.ndarray, W: np.ndarray, b: np.ndarray, y: np.ndarray, config: UFMConfig
) -> tuple[float, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """UFM objective and its gradient ``(∇H, ∇W, ∇b)``.

    ``L = (1/n) Σ_i ℓ_i + (λ_W/2)‖W‖² + (λ_H/(2n))‖H‖² + (λ_b/2)‖b‖²``; with ``G = (softmax − Y)/n``:
    ``∇H = G W + (λ_H/n) H``, ``∇W = GᵀH + λ_W W``, ``∇b = Σ_i G_i + λ_b b``.
    Shapes: ``H (n, d)``, ``W (C, d)``, ``b (C,)``, ``y (n,)``.
    """
    n = H.shape[0]
    loss, G = cross_entropy(H @ W.T + b, y)
    loss += (0.5 * config.weight_decay_W * np.sum(W**2) + 0.5 * config.weight_decay_H * np.sum(H**2) / n
             + 0.5 * config.weight_decay_b * np.sum(b**2))
    return loss, (G @ W + config.weight_decay_H * H / n, G.T @ H + config.weight_decay_W * W,
                  G.sum(0) + config.weight_decay_b * b)


def init_feature_net(config: FeatureNetConfig, input_dim: int, num_classes: int, rng: Any = None) -> dict[str, np.ndarray]:
    """Initial parameters ``{"V", "a", "W", "b"}`` (see :class:`FeatureNetConfig`)."""
    rng = np.random.default_rng(rng)
    s = config.init_scale
    return {"V": s * rng.standard_normal((config.width, input_dim)) / np.sqrt(input_dim),
            "a": np.zeros(config.width),
            "W": s * rng.standard_normal((num_classes, config.width)) / np.sqrt(config.width),
            "b": np.zeros(num_classes)}
