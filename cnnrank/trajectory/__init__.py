r"""The record of a training run: :class:`Trajectory`, and the signal-noise decomposition.

At each record a trajectory holds the losses and accuracies, the patch coefficients
``c_{j,r,i,p}`` of docs/theory.md §3, the signal-noise decomposition of §4

.. math::
    \gamma_{j,r,k} = \|\mu_k\|^2 \sum_{(i,p):\, x_i^{(p)} = \mu_k} c_{j,r,i,p},\qquad
    \rho_{j,r,i,p} = \|\xi_{i,p}\|^2 c_{j,r,i,p}

the stable rank of the filters (from their ``2m × 2m`` Gram matrix), and the learned-subspace
diagnostics of :mod:`cnnrank.subspace` (learned dimension, signal energy fraction, within-class overlap,
principal angles to the signal span). Weights at any record are rebuilt from the coefficients:
``W(t) = W(0) + Σ_{i,p} c_{j,r,i,p} x_i^{(p)}``. The formulas are those of docs/theory.md §3–§5.

One module per idea: :mod:`~cnnrank.trajectory.decomposition` (γ, ρ and the signal coordinates),
:mod:`~cnnrank.trajectory.ranks` (stable ranks, the rescaled learned part),
:mod:`~cnnrank.trajectory.signals` (per-signal diagnostics), :mod:`~cnnrank.trajectory.fileformat`
(what a file keeps), :mod:`~cnnrank.trajectory.assembly` (a trajectory from an engine's records),
:mod:`~cnnrank.trajectory.checks` (a loaded file's consistency) and :mod:`~cnnrank.trajectory.record`
(the :class:`Trajectory` itself); this package re-exports them.
"""

from cnnrank._schedule import record_steps
from cnnrank.trajectory.decomposition import _gamma_rho, signal_noise_coefficients, signal_patch_coordinates
from cnnrank.trajectory.fileformat import _BOOKKEEPING, TRAJECTORY_FORMAT
from cnnrank.trajectory.ranks import stable_ranks
from cnnrank.trajectory.record import Trajectory
from cnnrank.trajectory.signals import _SIGNAL_FIELDS, signal_strengths

__all__ = ["TRAJECTORY_FORMAT", "Trajectory", "record_steps", "signal_noise_coefficients", "signal_patch_coordinates",
           "signal_strengths", "stable_ranks"]

# private names other modules and benchmarks import from here, as before the split
_PRIVATE = (_BOOKKEEPING, _SIGNAL_FIELDS, _gamma_rho)
