r"""Beyond the theorem: the headline's noise sweep under training variants (docs/beyond-the-theorem.md).

The theorem of docs/theory.md assumes a fixed ±1/m second layer, full-batch gradient descent, no
regularization and equal signal norms. Each :class:`Variant` moves one (or two) of these assumptions — a
trainable head with a small or a large initial scale ``a0``, minibatch SGD, weight decay, sign descent,
Adam, unequal signal norms with a small and a large step (docs/theory.md, "Training variants") — and
:func:`beyond_spec` sweeps the background noise ``σ_p`` under every variant on one grid (the ``"config"``
axis of :class:`~cnnrank.sweeps.SweepSpec`, so the run is grouped, parallel and resumable like any sweep).
:func:`beyond_record` reads the result as 2-D arrays ``(variant, noise level)`` of the claim's numbers
and each variant's measured benign window (test accuracy >= 0.95 and signal energy fraction >= 0.5 for
every seed, :func:`cnnrank.subspace.measured_regime`): where a variant learns nothing, the claim about
what the filters learned does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnrank.experiments.runs import RunConfig
from cnnrank.subspace import measured_regime

if TYPE_CHECKING:  # only a type: sweeps imports the experiments package
    from cnnrank.sweeps import SweepResult, SweepSpec

__all__ = ["BEYOND_BASE", "BEYOND_NOISE", "QUICK_NOISE", "VARIANTS", "Variant", "beyond_record", "beyond_spec",
           "variant_summary"]


@dataclass(frozen=True)
class Variant:
    """One training variant: a name, the configuration fields it sets, and what it tests.

    Attributes
    ----------
    name : str
        Short identifier (a panel title, a key of the record).
    settings : mapping of str to value
        :class:`~cnnrank.experiments.RunConfig` fields set on top of the base configuration
        (``{}``: the theorem itself).
    moves : str
        The assumption of the theorem it moves.
    prediction : str
        The published prediction it checks, if any (docs/beyond-the-theorem.md).
    """

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    moves: str = ""
    prediction: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r} is invalid: must be a non-empty string")
        if not isinstance(self.settings, Mapping) or not all(isinstance(k, str) for k in self.settings):
            raise ValueError(f"settings={self.settings!r} is invalid: must be a mapping of field names to values")
        object.__setattr__(self, "settings", dict(self.settings))

    def to_dict(self) -> dict[str, Any]:
        """``{"name", "settings", "moves", "prediction"}`` (JSON-able)."""
        return {"name": self.name, "settings": dict(self.settings), "moves": self.moves,
                "prediction": self.prediction}


#: the base configuration: the headline's (``RunConfig()`` with five patches, 1000 steps)
BEYOND_BASE = RunConfig(patches=5, steps=1000, record_every=50)
#: the default noise levels: the headline's benign window (to 0.2) and a harmful level beyond it
BEYOND_NOISE = (0.0, 0.04, 0.08, 0.12, 0.2, 0.4)
#: the noise levels of ``--quick``
QUICK_NOISE = (0.0, 0.12, 0.4)

_SHANG = "Shang, Meng, Cao, Zou (arXiv 2410.19139): the output layer's initial scale selects the regime"
_GALANTI = ("Galanti, Siegel, Gupte, Poggio (arXiv 2206.05794): SGD with weight decay lowers the rank "
            "(bound grows with the batch size, falls with ηλ)")
_LU = "Lu, Wu, Yang, Zou (arXiv 2310.17074): a large step learns weak features that a small step misses"
_ZOU = "Zou, Cao, Li, Gu (arXiv 2108.11371): Adam memorizes noise where GD learns the signal"
#: weak signals: the last two of each class's four signals at norm 2 (the others at the default 5)
UNEQUAL_NORMS = (5.0, 5.0, 2.0, 2.0, 5.0, 5.0, 2.0, 2.0)

#: the default variants (docs/beyond-the-theorem.md gives the verdict of each)
VARIANTS: tuple[Variant, ...] = (
    Variant("theorem", {}, "none: fixed ±1/m head, full-batch GD, no regularization, equal signal norms"),
    Variant("head a0 small", {"head": "trainable", "a0": 0.0025}, "trainable second layer, a0 = 0.1/m", _SHANG),
    Variant("head a0 large", {"head": "trainable", "a0": 0.25}, "trainable second layer, a0 = 10/m", _SHANG),
    Variant("SGD B=8", {"batch_size": 8}, "minibatch SGD, batch 8 of 128", _GALANTI),
    Variant("SGD B=32", {"batch_size": 32}, "minibatch SGD, batch 32 of 128", _GALANTI),
    Variant("WD 1e-3", {"weight_decay": 1e-3}, "weight decay λ = 1e-3 (ηλ = 0.002)", _GALANTI),
    Variant("WD 1e-2", {"weight_decay": 1e-2}, "weight decay λ = 1e-2 (ηλ = 0.02)", _GALANTI),
    Variant("sign descent", {"optimizer": "sign", "lr": 1e-3}, "sign descent, η = 1e-3", _ZOU),
    Variant("Adam", {"optimizer": "adam", "lr": 1e-3}, "Adam, η = 1e-3", _ZOU),
    Variant("unequal, small step", {"signal_norms": UNEQUAL_NORMS, "lr": 0.5},
            "unequal signal norms (5 and 2), η = 0.5", _LU),
    Variant("unequal, large step", {"signal_norms": UNEQUAL_NORMS, "lr": 4.0},
            "unequal signal norms (5 and 2), η = 4", _LU),
)


def _check_variants(variants: Sequence[Variant]) -> tuple[Variant, ...]:
    if isinstance(variants, Variant) or not isinstance(variants, Sequence) or not variants:
        raise ValueError("variants is invalid: must be a non-empty sequence of Variant")
    for v in variants:
        if not isinstance(v, Variant):
            raise TypeError(f"variants entry {v!r:.60} is invalid: must be a Variant")
    names = [v.name for v in variants]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"variant name {dup[0]!r} is given twice: names must be distinct")
    return tuple(variants)


def beyond_spec(base: RunConfig = BEYOND_BASE, noise: Sequence[float] = BEYOND_NOISE, seeds: int = 2,
                root_seed: int = 0, variants: Sequence[Variant] = VARIANTS) -> SweepSpec:
    """The sweep of every variant × noise level × seed: grid ``{"config": settings, "noise_std": noise}``.

    A variant's settings override ``base``; seed ``s`` of every grid point draws the same data and
    initial filters (the same stream of ``SeedSequence(root_seed)``), so the variants differ in training
    only (and, for ``signal_norms``, in the signals' lengths).
    """
    from cnnrank.sweeps import SweepSpec

    variants = _check_variants(variants)
    for v in variants:
        if "noise_std" in v.settings:
            raise ValueError(f"variant {v.name!r} sets noise_std, which is the swept axis")
    return SweepSpec(base=base, grid={"config": [dict(v.settings) for v in variants], "noise_std": list(noise)},
                     seeds=seeds, root_seed=root_seed)


def _rows(values: np.ndarray, integer: bool = False) -> list[list[Any]]:
    """Means over seeds as a (V, L) nested list; ``None`` where a seed lacks the value (NaN)."""
    arr = np.asarray(values, dtype=np.float64)
    ok = np.all(np.isfinite(arr), axis=-1)
    mean = np.where(ok, np.mean(np.where(np.isfinite(arr), arr, 0.0), axis=-1), np.nan)
    return [[(float(x) if not integer or not float(x).is_integer() else int(x)) if o else None
             for x, o in zip(row, okrow)] for row, okrow in zip(mean, ok)]


def _window(noise: Sequence[float], regime: Sequence[str]) -> list[float]:
    return [float(s) for s, r in zip(noise, regime) if r == "benign"]


def beyond_record(res: SweepResult, variants: Sequence[Variant] = VARIANTS,
                  noise: Sequence[float] = BEYOND_NOISE) -> dict[str, Any]:
    """The ``beyond_the_theorem.json`` record of a :func:`beyond_spec` sweep.

    Keys: ``variants`` (list of :meth:`Variant.to_dict`), ``noise_std`` (L,), and 2-D lists
    ``(V, L)`` of means over seeds: ``test_acc``, ``signal_energy_fraction``, ``signals_learned`` (``None``
    where the per-signal diagnostics do not exist), ``learned_dimension``, ``learned_stable_rank``,
    ``filter_stable_rank``, ``data_stable_rank``; ``regime`` (V, L) measured per level (benign only when
    every seed is); ``benign_window`` (V lists of the benign noise levels); ``summary`` (per variant,
    :func:`variant_summary`); ``clean_rank`` (2K).
    """
    variants = _check_variants(variants)
    V, L = len(variants), len(noise)
    shape = tuple(np.shape(res.values["test_acc"])[:-1])
    if shape != (V, L):
        raise ValueError(f"the sweep has grid shape {shape} which is invalid: must be (variants, noise "
                         f"levels) = ({V}, {L})")
    vals = res.values
    regime = measured_regime(vals["test_acc"], vals["signal_energy_fraction"])
    out: dict[str, Any] = {
        "variants": [v.to_dict() for v in variants],
        "noise_std": [float(s) for s in noise],
        "seeds": int(res.spec["seeds"]),
        "clean_rank": 2 * int(res.spec["base"]["K"]),
        "base": dict(res.spec["base"]),
    }
    for k in ("test_acc", "signal_energy_fraction", "learned_stable_rank", "filter_stable_rank",
              "data_stable_rank", "clean_data_stable_rank"):
        out[k] = _rows(vals[k])
    for k in ("signals_learned", "learned_dimension", "learned_rank"):
        out[k] = _rows(vals[k], integer=True) if k in vals else [[None] * L for _ in range(V)]
    out["regime"] = [[str(r) for r in row] for row in regime]
    out["benign_window"] = [_window(noise, row) for row in out["regime"]]
    out["summary"] = [variant_summary(out, i) for i in range(V)]
    return out


def variant_summary(out: dict[str, Any], i: int) -> dict[str, Any]:
    """What variant ``i`` of a record shows: its benign window, and inside it the ranges of the signals
    learned, the learned dimension, the learned part's stable rank and the data's stable-rank growth.

    Returns ``{"name", "benign_levels", "window": [lo, hi] or None, "signals_learned": [min, max] or None,
    "learned_dimension": [min, max] or None, "learned_stable_rank": [min, max] or None,
    "data_growth": float or None, "sentence": str}``.
    """
    name = out["variants"][i]["name"]
    K2 = out["clean_rank"]
    idx = [j for j, r in enumerate(out["regime"][i]) if r == "benign"]
    res: dict[str, Any] = {"name": name, "benign_levels": len(idx), "window": None, "signals_learned": None,
                           "learned_dimension": None, "learned_stable_rank": None, "data_growth": None}
    x = out["noise_std"]
    if not idx:
        acc, frac, sig = (out[k][i][0] for k in ("test_acc", "signal_energy_fraction", "signals_learned"))
        what = [f"test accuracy {acc:.3g}" if acc is not None else "test accuracy undefined (diverged)"]
        if frac is not None:
            what.append(f"signal energy {frac:.2f}")
        if sig is not None:
            what.append(f"signals learned {sig:g} of 2K = {K2}")
        res["sentence"] = (f"{name}: no noise level is benign (test accuracy >= 0.95 and signal energy >= 0.5 at "
                           f"every seed), so the claim does not apply; at σ_p = {x[0]:g}: " + ", ".join(what))
        return res

    def span(key: str) -> list[float] | None:
        v = [out[key][i][j] for j in idx if out[key][i][j] is not None]
        return [min(v), max(v)] if v else None

    res["window"] = [x[idx[0]], x[idx[-1]]]
    for key in ("signals_learned", "learned_dimension", "learned_stable_rank"):
        res[key] = span(key)
    d = out["data_stable_rank"][i]
    if d[idx[0]] and d[idx[-1]] is not None:
        res["data_growth"] = d[idx[-1]] / d[idx[0]]
    parts = [f"{name}: benign at {len(idx)} of {len(x)} levels (σ_p = {x[idx[0]]:g} .. {x[idx[-1]]:g})"]
    if res["data_growth"] is not None:
        parts.append(f"data stable rank ×{res['data_growth']:.1f} across it")
    if res["signals_learned"] is not None:
        lo, hi = res["signals_learned"]
        parts.append(f"signals learned {lo:g}" + (f"..{hi:g}" if hi != lo else "") + f" of 2K = {K2}")
    else:
        parts.append("signals learned: not defined for this optimizer")
    if res["learned_stable_rank"] is not None:
        lo, hi = res["learned_stable_rank"]
        parts.append(f"learned stable rank {lo:.2f}..{hi:.2f}")
    res["sentence"] = "; ".join(parts)
    return res
