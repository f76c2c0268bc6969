"""A faithful PyTorch CPU peer of cnnrank's two-layer CNN training (float64, autograd, SGD).

Same model as docs/theory.md §2: ``f(W, x) = (1/m) Σ_r Σ_p [σ(⟨w_{+1,r}, x_p⟩) - σ(⟨w_{-1,r}, x_p⟩)]``,
Huberized ReLU ``σ(z) = clamp(z, 0, κ)^q / (q κ^{q-1}) + relu(z - κ)`` (its autograd derivative is
``min((z/κ)^{q-1}, 1)`` for ``z > 0`` and 0 for ``z <= 0``, the library's convention ``σ'(0) = 0``),
mean logistic loss computed exactly as ``logaddexp(0, -y f)`` (``softplus`` would switch to a linear
approximation above 20 and perturb gradients by ~1e-9), full-batch ``torch.optim.SGD`` without
momentum. The patches are one ``(nP, d)`` matrix, as in any sensible feature-space implementation.
"""

from __future__ import annotations

import numpy as np
import torch


class TorchPeer:
    """Gradient descent on ``W`` (2, m, d) with PyTorch autograd and ``torch.optim.SGD``."""

    def __init__(self, W0: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, kappa: float = 1.0,
                 q: float = 3.0) -> None:
        n, P, d = X.shape
        self.n, self.P, self.d, self.m = n, P, d, W0.shape[1]
        self.X = torch.from_numpy(np.array(X, dtype=np.float64).reshape(n * P, d))  # own float64 copy
        self.y = torch.from_numpy(np.array(y, dtype=np.float64))
        self.W = torch.tensor(np.asarray(W0, dtype=np.float64).reshape(2 * self.m, d), requires_grad=True)
        self.kappa, self.q = kappa, q
        self.opt = torch.optim.SGD([self.W], lr=lr, momentum=0.0)

    def act(self, z: torch.Tensor) -> torch.Tensor:
        k, q = self.kappa, self.q
        return torch.clamp(z, 0.0, k) ** q / (q * k ** (q - 1.0)) + torch.relu(z - k)

    def loss(self) -> torch.Tensor:
        Z = self.X @ self.W.T  # (nP, 2m)
        S = self.act(Z).reshape(self.n, self.P, 2, self.m).sum(dim=(1, 3)) / self.m  # (n, 2)
        f = S[:, 0] - S[:, 1]
        return torch.logaddexp(torch.zeros_like(f), -self.y * f).mean()

    def step(self) -> float:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss()
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def advance(self, steps: int) -> None:
        for _ in range(steps):
            self.step()

    def weights(self) -> np.ndarray:
        return self.W.detach().numpy().reshape(2, self.m, self.d).copy()
