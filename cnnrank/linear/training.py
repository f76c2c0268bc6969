"""Full-batch gradient descent (small steps = gradient flow) for the linear networks (docs/theory.md §7).

Training works on the moments ``Σxx, Σyx`` (exactly the full-batch squared loss, see
:mod:`cnnrank.linear.networks`): one small matrix product per step, a Python loop only over steps.
Time is reported as ``t = η × step``, so gradient descent with step ``η`` approximates the gradient
flow ``dθ/dt = −∇L(θ)`` (``τ = 1`` in :func:`~cnnrank.linear.closed_form.saxe_mode_strength`).
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from cnnrank._schedule import check_schedule, record_steps
from cnnrank._validation import as_array
from cnnrank.errors import TrainingDiverged
from cnnrank.linear.networks import LinearCNN, LinearFCNN
from cnnrank.results import SavableResult

__all__ = ["GDConfig", "LinearDivergenceError", "LinearTrajectory", "train"]


class LinearDivergenceError(TrainingDiverged, FloatingPointError):
    """Training of a linear network blew up (non-finite loss, or ``1e6`` times the initial loss).

    A :class:`cnnrank.errors.TrainingDiverged` (``step``, ``lr`` and ``trajectory``: the
    :class:`LinearTrajectory` of the records taken before the blow-up, or ``None`` if none was);
    also a ``FloatingPointError`` for code written against the earlier class. The message names
    the step and suggests a smaller ``lr``.
    """

    default_hint = ("try a smaller lr (docs/theory.md §7: the experiments use lr = 0.01 / the fastest "
                    "predicted mode rate)")


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
        Record the state at steps ``0, r, 2r, …`` and always at the last step
        (:func:`cnnrank._schedule.record_steps`, the convention of every trainer).
    """

    lr: float
    steps: int
    record_every: int = 1

    def __post_init__(self) -> None:
        check_schedule(self.lr, self.steps, self.record_every, min_steps=1)

    def replace(self, **changes: Any) -> GDConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(eq=False)
class LinearTrajectory(SavableResult):
    """Recorded training run of a linear network (what :func:`train` returns; ``save``/``load``).

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
    final_first, final_second : ndarray
        The parameters after the last step (or, in the partial record carried by a
        :class:`LinearDivergenceError`, at the last finite step): ``(kernels, readout)`` of a CNN,
        ``(W1, W2)`` of a fully connected network. :attr:`final_params` is the pair.
    """

    _kind: ClassVar[str] = "linear-trajectory"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        "steps": {"lo": 0, "integer": True, "nan": False, "increasing": True}, "times": {"lo": 0.0},
    }  # no range for losses: without ``syy`` the reported loss is shifted and may be negative

    steps: np.ndarray
    times: np.ndarray
    losses: np.ndarray
    weff: np.ndarray
    kernels: np.ndarray
    network: dict
    lr: float
    final_first: np.ndarray
    final_second: np.ndarray

    @property
    def final_params(self) -> tuple[np.ndarray, np.ndarray]:
        """The final parameters, in the order of ``net.init`` (a new start for :func:`train`)."""
        return self.final_first, self.final_second

    def __len__(self) -> int:
        return int(self.steps.size)


def _describe(net: LinearCNN | LinearFCNN) -> dict:
    return {"kind": type(net).__name__, **dataclasses.asdict(net)}


def train(net: LinearCNN | LinearFCNN, params: tuple[np.ndarray, ...], sxx: np.ndarray, syx: np.ndarray,
          config: GDConfig, *, syy: float = 0.0) -> LinearTrajectory:
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
        Step size, steps and record steps (``0, r, 2r, …`` and the last step).
    syy : float
        ``tr(YᵀY) / n``, only shifts the reported loss.

    Returns
    -------
    LinearTrajectory
        The records, and the final parameters (:attr:`LinearTrajectory.final_params`).

    Raises
    ------
    LinearDivergenceError
        If the loss becomes non-finite or exceeds ``1e6`` times its initial value; it carries the
        step, ``lr`` and the records taken before (a :class:`cnnrank.errors.TrainingDiverged`).
    """
    if not isinstance(net, (LinearCNN, LinearFCNN)):
        raise TypeError(f"net={net!r} is invalid: must be a LinearCNN or LinearFCNN")
    if not isinstance(config, GDConfig):
        raise TypeError(f"config={config!r} is invalid: must be a GDConfig")
    d = net.n_in
    sxx = as_array("sxx", sxx, shape=(d, d))
    syx = as_array("syx", syx, shape=(net.n_out, d))
    params = tuple(np.array(p, dtype=float, copy=True) for p in params)
    lr, n_steps, every = check_schedule(config.lr, config.steps, config.record_every, min_steps=1)
    rec = set(record_steps(n_steps, every).tolist())
    is_cnn = isinstance(net, LinearCNN)
    steps_out: list[int] = []
    losses: list[float] = []
    weffs: list[np.ndarray] = []
    kerns: list[np.ndarray] = []

    def record(last: tuple[np.ndarray, ...]) -> LinearTrajectory:
        steps_arr = np.asarray(steps_out, dtype=float)
        nk = params[0].shape if is_cnn else (0, 0)
        return LinearTrajectory(
            steps=steps_arr,
            times=lr * steps_arr,
            losses=np.asarray(losses, dtype=float),
            weff=np.stack(weffs) if weffs else np.zeros((0, net.n_out, d)),
            kernels=np.stack(kerns) if kerns else np.zeros((0, *nk)),
            network=_describe(net),
            lr=float(lr),
            final_first=last[0],
            final_second=last[1],
        )

    loss0 = None
    last_ok = params  # the parameters of the last step with a finite loss
    with np.errstate(over="raise", invalid="raise"):
        for step in range(n_steps + 1):
            try:
                loss, grads = net.grad_moments(params, sxx, syx, syy)
            except FloatingPointError:
                loss = np.inf
            if loss0 is None:
                loss0 = abs(loss) + 1.0
            if not np.isfinite(loss) or abs(loss) > 1e6 * loss0:
                raise LinearDivergenceError(
                    step, lr, record(last_ok),
                    f"loss={loss!r}; try a smaller lr than {lr:g} "
                    "(docs/theory.md §7: the experiments use lr = 0.01 / the fastest predicted mode rate)",
                )
            last_ok = params
            if step in rec:
                steps_out.append(step)
                losses.append(loss)
                weffs.append(net.effective(params))
                kerns.append(params[0].copy() if is_cnn else np.zeros((0, 0)))
            if step == n_steps:
                break
            params = tuple(p - lr * g for p, g in zip(params, grads))
    return record(params)
