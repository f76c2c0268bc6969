"""The result of a real-image rank-versus-noise sweep: :class:`RealRankResult` and :func:`claim_range`
(where the claim holds across the noise levels; docs/real-images.md). The run that makes it:
:func:`cnnrank.experiments.real_images.run_real_rank`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import numpy as np

from cnnrank.experiments.real_config import PREPROCESSING as PREPROCESSING  # the choices of ``preprocess``
from cnnrank.results import SavableResult

__all__ = ["CLAIM_ACCURACY_DROP", "CLAIM_FRACTION_DROP", "RealRankResult", "claim_range"]

#: a noise level *keeps the clean subspace* when its clean energy fraction is at most this much below
#: the noiseless run's, and its test accuracy at most :data:`CLAIM_ACCURACY_DROP` below (see :func:`claim_range`)
CLAIM_FRACTION_DROP = 0.1
CLAIM_ACCURACY_DROP = 0.02


@dataclasses.dataclass(eq=False)
class RealRankResult(SavableResult):
    """What :func:`run_real_rank` measured; arrays have one entry per noise level (shape ``(L,)``).

    Attributes
    ----------
    noise_std : ndarray (L,)
    data_stable_rank, clean_data_stable_rank : ndarray (L,)
        Stable rank of the training data matrix ``n × P d``, noisy and clean (the clean one does not
        depend on the level; repeated so that each row of the table is complete).
    patch_stable_rank, clean_patch_stable_rank : ndarray (L,)
        Same for the patch matrix ``n P × d``.
    filter_stable_rank, learned_stable_rank : ndarray (L,)
        Stable rank of the trained filters ``W`` (``2m × d``) and of ``W - W(0)``.
    clean_energy_fraction : ndarray (L,)
        Share of ``‖W - W(0)‖_F²`` inside the reference subspace (:func:`cnnrank.subspace.energy_fraction`).
    learned_dimension : ndarray of int (L,)
        :func:`cnnrank.subspace.learned_dimension` of ``W - W(0)`` (``2m × d``) against the reference.
    memorization_edge : ndarray (L,)
        ``‖(W - W(0))(I - Q Qᵀ)‖_2``, the largest singular value learned outside the reference.
    reference_dimension : int
        Dimension of the reference subspace: the principal subspace of the clean training patches
        holding a share ``reference_energy`` of their energy.
    reference_energy : float
    filter_stable_rank_path : ndarray (L, R)
        Stable rank of ``W`` at the ``R`` records ``record_steps`` of each run.
    record_steps : ndarray (R,)
    train_loss, train_acc, test_acc : ndarray (L,)
        At the end of training.
    config : dict
        :meth:`RealRankConfig.to_dict`.
    seeds : dict
        Root seed, its entropy and the streams derived from it.
    data : dict
        Dataset name, split, files, class names, shapes ``n``, ``P``, ``d``.
    seconds : float
        Wall-clock time of the sweep (loading excluded).
    """

    noise_std: np.ndarray
    data_stable_rank: np.ndarray
    clean_data_stable_rank: np.ndarray
    patch_stable_rank: np.ndarray
    clean_patch_stable_rank: np.ndarray
    filter_stable_rank: np.ndarray
    learned_stable_rank: np.ndarray
    clean_energy_fraction: np.ndarray
    learned_dimension: np.ndarray
    memorization_edge: np.ndarray
    reference_dimension: int
    reference_energy: float
    filter_stable_rank_path: np.ndarray
    record_steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    config: dict
    seeds: dict
    data: dict
    seconds: float

    _kind = "RealRankResult"
    #: documented ranges, checked by ``load`` (:func:`cnnrank.results.check_values`)
    _value_ranges: ClassVar[dict[str, dict[str, Any]]] = {
        "noise_std": {"lo": 0.0},
        **{k: {"lo": 1.0, "zero": True} for k in ("data_stable_rank", "clean_data_stable_rank", "patch_stable_rank",
                                                  "clean_patch_stable_rank", "filter_stable_rank",
                                                  "learned_stable_rank", "filter_stable_rank_path")},
        "clean_energy_fraction": {"lo": 0.0, "hi": 1.0}, "learned_dimension": {"lo": 0, "integer": True},
        "memorization_edge": {"lo": 0.0}, "reference_dimension": {"lo": 1, "integer": True},
        "reference_energy": {"lo": 0.0, "hi": 1.0},
        "record_steps": {"lo": 0, "integer": True, "nan": False, "increasing": True},
        "train_loss": {"lo": 0.0}, "train_acc": {"lo": 0.0, "hi": 1.0}, "test_acc": {"lo": 0.0, "hi": 1.0},
        "seconds": {"lo": 0.0},
    }

    ROW_KEYS = ("data_stable_rank", "clean_data_stable_rank", "patch_stable_rank", "clean_patch_stable_rank",
                "filter_stable_rank", "learned_stable_rank", "learned_dimension", "clean_energy_fraction",
                "memorization_edge", "train_loss", "train_acc", "test_acc")

    def to_json(self) -> dict[str, Any]:
        """The JSON record written by the ``reproduce`` commands (lists instead of arrays)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    def rows(self) -> list[dict[str, float]]:
        """One dict per noise level, for printing a table (``learned_dimension`` as an int)."""
        out = []
        for i, s in enumerate(self.noise_std):
            row: dict[str, Any] = {"noise_std": float(s), "reference_dimension": int(self.reference_dimension)}
            for k in self.ROW_KEYS:
                v = getattr(self, k)[i]
                row[k] = int(v) if k == "learned_dimension" else float(v)
            out.append(row)
        return out

    def claim(self) -> dict[str, Any]:
        """Where the filters keep the clean subspace: :func:`claim_range` of this result."""
        return claim_range(self.noise_std, self.clean_energy_fraction, self.test_acc)

    def summary(self) -> dict[str, Any]:
        """Headline numbers: growth of the data's stable rank, ranges of the filters' stable ranks, learned
        dimension and clean energy fraction (over all levels and over the levels where the claim holds,
        :meth:`claim`), and the test accuracy range."""
        d, f, lsr = self.data_stable_rank, self.filter_stable_rank, self.learned_stable_rank
        c = self.claim()
        held = np.asarray(c["holds"], dtype=bool)
        upto = int(np.argmax(~held)) if not held.all() else held.size   # levels 0..upto-1 hold
        upto = max(upto, 1)

        def growth(a: np.ndarray) -> float:
            return float(a.max() / a[0]) if a[0] > 0 else float("nan")

        return {
            "data_growth": growth(d),
            "patch_growth": growth(self.patch_stable_rank),
            "filter_min": float(f.min()),
            "filter_max": float(f.max()),
            "learned_min": float(lsr.min()),
            "learned_max": float(lsr.max()),
            "learned_dimension_min": int(self.learned_dimension.min()),
            "learned_dimension_max": int(self.learned_dimension.max()),
            "clean_energy_fraction_min": float(self.clean_energy_fraction.min()),
            "clean_energy_fraction_max": float(self.clean_energy_fraction.max()),
            "reference_dimension": int(self.reference_dimension),
            "test_acc_min": float(self.test_acc.min()),
            "test_acc_max": float(self.test_acc.max()),
            "train_acc_clean": float(self.train_acc[0]),
            "holds_up_to": c["holds_up_to"],
            "fails_from": c["fails_from"],
            "data_growth_where_holds": float(d[:upto].max() / d[0]) if d[0] > 0 else float("nan"),
            "learned_min_where_holds": float(lsr[:upto].min()),
            "learned_max_where_holds": float(lsr[:upto].max()),
        }


def claim_range(noise_std: Any, clean_energy_fraction: Any, test_acc: Any,
                fraction_drop: float = CLAIM_FRACTION_DROP, accuracy_drop: float = CLAIM_ACCURACY_DROP
                ) -> dict[str, Any]:
    """Over which noise levels the filters keep the clean subspace, judged against the first (lowest) level.

    A level *holds* when its clean energy fraction is at least ``fraction[0] - fraction_drop`` and its
    test accuracy at least ``test_acc[0] - accuracy_drop``. ``holds_up_to`` is the last level of the
    leading run of holding levels; ``fails_from`` the first level after it (``None`` when all hold), and
    ``reason`` says which measurement failed there.

    Returns
    -------
    dict with ``holds`` (list of bool), ``holds_up_to`` (float), ``fails_from`` (float or None), ``reason`` (str)
    """
    x = np.asarray(noise_std, dtype=float)
    frac = np.asarray(clean_energy_fraction, dtype=float)
    acc = np.asarray(test_acc, dtype=float)
    ok_frac = frac >= frac[0] - fraction_drop
    ok_acc = acc >= acc[0] - accuracy_drop
    holds = ok_frac & ok_acc
    first_bad = int(np.argmax(~holds)) if not holds.all() else None
    if first_bad is None:
        return {"holds": holds.tolist(), "holds_up_to": float(x[-1]), "fails_from": None, "reason": ""}
    reasons = []
    if not ok_frac[first_bad]:
        reasons.append(f"clean energy fraction {frac[0]:.2f} → {frac[first_bad]:.2f}")
    if not ok_acc[first_bad]:
        reasons.append(f"test accuracy {acc[0]:.3f} → {acc[first_bad]:.3f}")
    return {"holds": holds.tolist(), "holds_up_to": float(x[max(first_bad - 1, 0)]),
            "fails_from": float(x[first_bad]), "reason": "; ".join(reasons)}


