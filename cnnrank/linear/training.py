"""Full-batch gradient descent (small steps = gradient flow) for the linear networks.

Training works on the moments ``Σxx, Σyx`` (exactly the full-batch squared loss, see
:mod:`cnnrank.linear.networks`): one small matrix product per step, a Python loop only over steps.
Time is reported as ``t = η × step``, so gradient descent with step ``η`` approximates the gradient
flow ``dθ/dt = −∇L(θ)`` (``τ = 1`` in :func:`~cnnrank.linear.closed_form.saxe_mode_strength`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from cnnrank._validation import as_array, check_int, check_real
from cnnrank.linear.networks import LinearCNN, LinearFCNN
from cnnrank.results import SavableResult

__all__ = ["GDConfig", "LinearDivergenceError", "LinearTrajectory", "train"]


class LinearDivergenceError(FloatingPointError):
    """Training blew up (non-finite or huge loss); the message names the step and suggests a smaller ``lr``."""


@dataclasses.dataclass(frozen=True)
class GDConfig:
    """Gradient descent settings.

    Parameters
    ----------
    lr : float, ``> 0``
        Step size ``η``.
    steps : int, ``>= 1``
        Number of steps.
    record_every : int, ``>= 1``
        Record the state every this many steps (step 0 and the last step are always recorded).
    """

    lr: float
    steps: int
    record_every: int = 1

    def __post_init__(self) -> None:
        check_real("lr", self.lr, positive=True)
        check_int("steps", self.steps, minimum=1)
        check_int("record_every", self.record_every, minimum=1)

    def replace(self, **changes: Any) -> GDConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass
class LinearTrajectory(SavableResult):
    """Recorded training run of a linear network.

    Attributes
    ----------
    steps : ndarray, shape (T,)
        Recorded step numbers.
    times : ndarray, shape (T,)
        ``η × steps``.
    losses : ndarray, shape (T,)
    weff : ndarray, shape (T, M, D)
        Effective linear map ``W_eff`` at each record.
    kernels : ndarray, shape (T, C, K)
        CNN kernels at each record (shape ``(T, 0, 0)`` for a fully connected network).
    network : dict
        The network's kind and fields (JSON).
    lr : float
    """

    _kind: ClassVar[str] = "linear-trajectory"

    steps: np.ndarray
    times: np.ndarray
    losses: np.ndarray
    weff: np.ndarray
    kernels: np.ndarray
    network: dict
    lr: float


def _describe(net) -> dict:
    return {"kind": type(net).__name__, **dataclasses.asdict(net)}


def train(net, params, sxx: np.ndarray, syx: np.ndarray, config: GDConfig, *, syy: float = 0.0):
    """Run full-batch gradient descent from ``params``.

    Parameters
    ----------
    net : LinearCNN or LinearFCNN
    params : tuple of ndarray
        Initial parameters (``net.init(...)`` or a balanced init); not modified.
    sxx : ndarray, shape (D, D)
        Input second moment ``XᵀX / n`` (the identity for whitened inputs).
    syx : ndarray, shape (M, D)
        Input–output correlation ``YᵀX / n``.
    config : GDConfig
    syy : float
        ``tr(YᵀY) / n``, only shifts the reported loss.

    Returns
    -------
    trajectory : LinearTrajectory
    params : tuple of ndarray
        Final parameters.

    Raises
    ------
    LinearDivergenceError
        If the loss becomes non-finite or exceeds ``1e6`` times its initial value.
    """
    if not isinstance(net, (LinearCNN, LinearFCNN)):
        raise TypeError(f"net={net!r} is invalid: must be a LinearCNN or LinearFCNN")
    d = net.n_in
    sxx = as_array("sxx", sxx, shape=(d, d))
    syx = as_array("syx", syx, shape=(net.n_out, d))
    params = tuple(np.array(p, dtype=float, copy=True) for p in params)
    lr = config.lr
    rec = set(range(0, config.steps + 1, config.record_every)) | {config.steps}
    is_cnn = isinstance(net, LinearCNN)
    steps_out, losses, weffs, kerns = [], [], [], []
    loss0 = None
    with np.errstate(over="raise", invalid="raise"):
        for step in range(config.steps + 1):
            try:
                loss, grads = net.grad_moments(params, sxx, syx, syy)
            except FloatingPointError:
                loss = np.inf
            if loss0 is None:
                loss0 = abs(loss) + 1.0
            if not np.isfinite(loss) or abs(loss) > 1e6 * loss0:
                raise LinearDivergenceError(
                    f"training diverged at step {step} (loss={loss!r}); try a smaller lr than {lr}"
                )
            if step in rec:
                steps_out.append(step)
                losses.append(loss)
                weffs.append(net.effective(params))
                kerns.append(params[0].copy() if is_cnn else np.zeros((0, 0)))
            if step == config.steps:
                break
            params = tuple(p - lr * g for p, g in zip(params, grads))
    steps_arr = np.asarray(steps_out, dtype=float)
    traj = LinearTrajectory(
        steps=steps_arr,
        times=lr * steps_arr,
        losses=np.asarray(losses),
        weff=np.stack(weffs),
        kernels=np.stack(kerns),
        network=_describe(net),
        lr=float(lr),
    )
    return traj, params
