"""A jit-compiled JAX CPU peer of cnnrank's two-layer CNN training (float64, autodiff, ``lax.fori_loop``).

Same model as docs/theory.md §2 and ``peer_torch.py``:
``f(W, x) = (1/m) Σ_r Σ_p [σ(⟨w_{+1,r}, x_p⟩) - σ(⟨w_{-1,r}, x_p⟩)]``, Huberized ReLU
``σ(z) = clip(z, 0, κ)^q / (q κ^{q-1}) + max(z - κ, 0)`` whose derivative is given explicitly
(``jax.custom_jvp``) as the library's ``(clip(z, 0, κ)/κ)^{q-1}`` — so ``σ'(0) = 0`` and ``σ'(κ) = 1``
exactly, where JAX's own derivative of ``clip`` would split the tie at ``z = κ`` —, mean logistic loss
``logaddexp(0, -y f)``, and plain full-batch gradient descent ``W ← W - η ∇L(W)`` in feature space
(the patches are one ``(nP, d)`` matrix). The whole loop of ``k`` steps is one ``lax.fori_loop``
inside one jitted function whose trip count is a run-time argument, so a single compilation serves
every ``advance(k)``; ``compile_s`` is that compilation (done in ``__init__``), separate from the steps.

Thread count: XLA's CPU backend reads ``XLA_FLAGS`` when JAX initialises; call :func:`configure`
before the first ``import jax`` to pin it to one thread.
"""

from __future__ import annotations

import os
import time

import numpy as np


def configure(threads: int) -> None:
    """Set ``XLA_FLAGS`` (before JAX is imported) so that XLA's CPU backend uses one intra-op thread
    when ``threads == 1``; with more threads XLA keeps its default pool (all cores)."""
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        os.environ["XLA_FLAGS"] = (flags + " --xla_cpu_multi_thread_eigen=false "
                                   "intra_op_parallelism_threads=1").strip()


class JaxPeer:
    """Gradient descent on ``W`` (2, m, d) with ``jax.grad`` and a jitted ``lax.fori_loop``.

    Same interface as ``TorchPeer``: ``advance(steps)``, ``weights()``, ``loss()``; plus
    ``compile_s`` (seconds of the ahead-of-time compilation in ``__init__``) and ``transfer_s``
    (seconds to place the data and weights on the device)."""

    def __init__(self, W0: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, kappa: float = 1.0,
                 q: float = 3.0) -> None:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp

        n, P, d = X.shape
        m = W0.shape[1]
        self.n, self.P, self.d, self.m = n, P, d, m
        c = 1.0 / (q * kappa ** (q - 1.0))
        # integer powers as repeated products (as the library's ``_pow``), not exp(q log z)
        qp = int(q) if float(q).is_integer() else q
        qg = int(q) - 1 if float(q).is_integer() else q - 1.0

        @jax.custom_jvp
        def act(z):
            return jnp.clip(z, 0.0, kappa) ** qp * c + jnp.maximum(z - kappa, 0.0)

        @act.defjvp
        def act_jvp(primals, tangents):
            (z,), (t,) = primals, tangents
            g = (jnp.clip(z, 0.0, kappa) / kappa) ** qg
            if q == 1.0:
                g = jnp.where(z > 0.0, g, 0.0)  # σ'(0) = 0 also when the head is linear
            return act(z), g * t

        def loss(W, Xf, yv):
            S = act(Xf @ W.T).reshape(n, P, 2, m).sum(axis=(1, 3)) / m  # (n, 2)
            f = S[:, 0] - S[:, 1]
            return jnp.mean(jnp.logaddexp(0.0, -yv * f))

        grad = jax.grad(loss)

        def run(W, Xf, yv, k):
            return jax.lax.fori_loop(0, k, lambda _, Wc: Wc - lr * grad(Wc, Xf, yv), W)

        t0 = time.perf_counter()
        self.X = jax.device_put(np.ascontiguousarray(X, dtype=np.float64).reshape(n * P, d))
        self.y = jax.device_put(np.asarray(y, dtype=np.float64))
        self.W = jax.device_put(np.asarray(W0, dtype=np.float64).reshape(2 * m, d))
        jax.block_until_ready((self.X, self.y, self.W))
        t1 = time.perf_counter()
        # ahead-of-time: the trip count is a traced int32, so one executable serves every k
        self._run = jax.jit(run).lower(self.W, self.X, self.y, np.int32(1)).compile()
        self._loss = jax.jit(loss)
        t2 = time.perf_counter()
        self.transfer_s, self.compile_s = t1 - t0, t2 - t1

    def advance(self, steps: int) -> None:
        self.W = self._run(self.W, self.X, self.y, np.int32(steps))
        self.W.block_until_ready()

    def loss(self) -> float:
        return float(self._loss(self.W, self.X, self.y))

    def weights(self) -> np.ndarray:
        return np.array(self.W, dtype=np.float64).reshape(2, self.m, self.d)
