"""The exceptions of cnnrank (layer 0: imports nothing of the package).

Every numerical blow-up during training, in the core and in the sibling subpackages, raises a
subclass of :class:`TrainingDiverged`, so ``except cnnrank.TrainingDiverged`` catches them all; the
exception names the step and the step size and carries what was recorded before the blow-up. Bad
input raises ``ValueError``/``TypeError`` naming the parameter, the value and the rule (see
:mod:`cnnrank._validation`); damaged results files raise :class:`cnnrank.results.ResultsFileError`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainingDiverged"]


class TrainingDiverged(RuntimeError):
    """Gradient descent produced non-finite (or exploding) outputs or weights.

    Parameters
    ----------
    step : int
        The step count at which the non-finite value appeared.
    lr : float
        The step size used.
    trajectory : object, optional
        The records taken before the blow-up (a :class:`cnnrank.Trajectory`, or the sibling
        subpackages' result dataclass), or ``None``.
    hint : str, optional
        What to try; by default a smaller step size with the theory's bound (docs/theory.md §6).

    Attributes
    ----------
    step, lr, trajectory
    """

    default_hint = "try a smaller lr (docs/theory.md §6: lr ≲ min(‖μ‖⁻², (σ_p² d)⁻¹))"

    def __init__(self, step: int, lr: float, trajectory: Any = None, hint: str | None = None) -> None:
        super().__init__(
            f"training diverged at step {step} with step size lr={lr:g}: non-finite loss or weights; "
            f"{self.default_hint if hint is None else hint}"
        )
        self.step, self.lr, self.trajectory = step, lr, trajectory

    def __reduce__(self) -> tuple:  # picklable across process pools, message kept
        return (_rebuild, (type(self), self.step, self.lr, self.trajectory, str(self)))


def _rebuild(cls: type[TrainingDiverged], step: int, lr: float, trajectory: Any, message: str) -> TrainingDiverged:
    exc = cls.__new__(cls)
    RuntimeError.__init__(exc, message)
    exc.step, exc.lr, exc.trajectory = step, lr, trajectory
    return exc
