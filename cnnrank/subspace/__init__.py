r"""The learned subspace: what the filters learned, measured against a reference subspace.

The headline claim (docs/theory.md §5) is about the *learned part* of the filters,
``A = W - W(0)`` reshaped to ``(2m, d)``. On the synthetic model the reference subspace is the span
of the ``2K`` signals; on real images, where it is unknown, it is the principal subspace of the
clean patches (:func:`principal_subspace`). With ``Q`` an orthonormal basis of the reference
(``d × r``):

* **signal energy fraction** ``‖A Q‖_F² / ‖A‖_F²``: the share of the learned energy inside the
  reference (1 when the filters learned only signal, near 0 when they memorized noise);
* **memorized part** ``M = A (I - Q Qᵀ)``, everything learned outside the reference; its largest
  singular value ``‖M‖_2`` is the *memorization edge*;
* **learned dimension**: the number of singular values of the in-reference part ``A Q`` strictly
  above the memorization edge and above the floor ``LEARNED_FLOOR · s_1(A)`` (which matters where
  nothing is memorized, e.g. ``σ_p = 0``; docs/theory.md §5): how many directions of the reference the filters learned more strongly than anything they
  memorized. In the benign regime ``M`` is a weak bulk, ``A`` has exactly ``2K`` singular values
  standing above it and the count is ``2K``; in the harmful regime class-mean noise directions
  dominate ``M`` and the count is 0. Shared winners (one filter learning several signals) lower it
  below ``2K`` although every signal is learned;
* **learned rank**: the number of singular values of the whole ``A`` above the floor
  ``LEARNED_FLOOR · s_1(A)``; it exceeds the learned dimension when a direction outside the reference
  is learned that strongly, and exceeds ``2K`` when much noise is memorized;
* **principal angles** between the top-``r`` right singular subspace of ``A`` and the reference;
* **within-class overlap** of the signal columns of ``γ`` (:func:`signal_overlap`), which sets the
  stable rank of the learned part: ``2K / (1 + (K-1) c)`` (:func:`cnnrank.theory.expected_filter_stable_rank`).

Everything is computed from two small matrices, ``A Aᵀ`` (``2m × 2m``) and ``A Q`` (``2m × r``), so the
same code serves explicit filters and the coefficient state of every engine (``A Aᵀ = C G Cᵀ`` and
``A Q = C (X Q)`` with the patch coefficients ``C``; docs/theory.md §3).

**Scale.** Every diagnostic here is invariant under ``A → s A`` (``s > 0``) except the singular values
and the memorization edge, which scale with ``s``; each function gives the same result at any scale
float64 can hold (``1e-300`` to ``1e300``): a matrix whose entries would under- or overflow when
squared is divided by a power of two before its Gram matrix or decomposition is formed (exact, and
nothing is rescaled at ordinary scales, where results are unchanged to the bit). A non-finite input,
or a ``proj`` that cannot be the projection of a matrix whose Gram matrix is ``gram``, is refused with
a ``ValueError`` naming the argument.

One module per idea, every name re-exported here (``cnnrank.subspace.measured_regime``, ...):

* :mod:`cnnrank.subspace.basis`: the reference subspace (:func:`orthonormal_basis`, :func:`principal_subspace`);
* :mod:`cnnrank.subspace.learned`: the learned part against it (:func:`learned_subspace_report`,
  :func:`learned_subspace_from_grams`, :func:`learned_dimension`, :func:`energy_fraction`);
* :mod:`cnnrank.subspace.overlaps`: the overlaps of the signal columns of ``γ``;
* :mod:`cnnrank.subspace.regime`: the measured regime (:func:`measured_regime`);
* :mod:`cnnrank.subspace._scale`: the power-of-two rescaling behind **Scale**.
"""

from cnnrank.subspace._scale import _GRAM_EXP as _GRAM_EXP
from cnnrank.subspace._scale import _VEC_EXP as _VEC_EXP
from cnnrank.subspace._scale import _pow2 as _pow2
from cnnrank.subspace._scale import _vector_scale as _vector_scale
from cnnrank.subspace.basis import orthonormal_basis as orthonormal_basis
from cnnrank.subspace.basis import principal_subspace as principal_subspace
from cnnrank.subspace.learned import CONSISTENCY_RTOL as CONSISTENCY_RTOL
from cnnrank.subspace.learned import DEFAULT_RTOL as DEFAULT_RTOL
from cnnrank.subspace.learned import LEARNED_FLOOR as LEARNED_FLOOR
from cnnrank.subspace.learned import _explicit as _explicit
from cnnrank.subspace.learned import _from_grams as _from_grams
from cnnrank.subspace.learned import energy_fraction as energy_fraction
from cnnrank.subspace.learned import learned_dimension as learned_dimension
from cnnrank.subspace.learned import learned_subspace_from_grams as learned_subspace_from_grams
from cnnrank.subspace.learned import learned_subspace_report as learned_subspace_report
from cnnrank.subspace.overlaps import _own_grams as _own_grams
from cnnrank.subspace.overlaps import class_overlaps as class_overlaps
from cnnrank.subspace.overlaps import gamma_stable_rank as gamma_stable_rank
from cnnrank.subspace.overlaps import signal_overlap as signal_overlap
from cnnrank.subspace.overlaps import signal_overlaps as signal_overlaps
from cnnrank.subspace.regime import BENIGN_ENERGY_FRACTION as BENIGN_ENERGY_FRACTION
from cnnrank.subspace.regime import BENIGN_TEST_ACC as BENIGN_TEST_ACC
from cnnrank.subspace.regime import measured_regime as measured_regime

__all__ = ['BENIGN_ENERGY_FRACTION', 'BENIGN_TEST_ACC', 'DEFAULT_RTOL', 'LEARNED_FLOOR', 'class_overlaps', 'energy_fraction', 'gamma_stable_rank', 'learned_dimension', 'learned_subspace_from_grams', 'learned_subspace_report', 'measured_regime', 'orthonormal_basis', 'principal_subspace', 'signal_overlap', 'signal_overlaps']
