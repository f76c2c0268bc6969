"""The JSON records of the noise and ``K`` sweeps, built from a :class:`~cnnrank.sweeps.SweepResult`.

:func:`headline_record` (``rank_vs_noise.json``) and :func:`intrinsic_record`
(``intrinsic_dimension.json``) put the measured means and per-seed values next to the theory's
predictions (docs/theory.md §5, §6) and the measured regime of every grid point (docs/theory.md §4);
:func:`headline_sentence` states in one sentence what a headline record shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

import cnnrank.theory as theory
from cnnrank.experiments.runs import RunConfig
from cnnrank.subspace import measured_regime

if TYPE_CHECKING:  # only a type: sweeps imports the experiments package, which imports this module
    from cnnrank.sweeps import SweepResult

__all__ = ["benign_window", "headline_record", "headline_sentence", "intrinsic_record", "signal_columns"]

#: the per-signal diagnostics of each level (docs/theory.md §5): means over seeds (per-seed values in
#: ``per_seed``), and for the two counts their minimum and maximum over seeds
SIGNAL_METRICS = ("signals_learned", "learned_rank", "gamma_stable_rank", "overlap_pos", "overlap_neg",
                  "predicted_learned_stable_rank")


def signal_columns(res: SweepResult) -> dict[str, Any]:
    """The per-signal columns of a record: ``signals_learned`` and ``learned_rank`` (means, ``_min``,
    ``_max`` over seeds), ``gamma_stable_rank``, ``overlap_pos`` (``c₊``), ``overlap_neg`` (``c₋``)
    (means over seeds). A sweep that did not record them (cells stored before they existed) gives
    ``None`` per level."""
    out: dict[str, Any] = {}
    for k in SIGNAL_METRICS:
        v = res.values.get(k)
        if v is None:
            continue
        arr = np.asarray(v, dtype=np.float64)
        out[k] = [None if not np.all(np.isfinite(r)) else float(np.mean(r)) for r in arr.reshape(arr.shape[0], -1)]
        if k in ("signals_learned", "learned_rank"):
            flat = arr.reshape(arr.shape[0], -1)
            ok = np.all(np.isfinite(flat), axis=1)
            out[f"{k}_min"] = [int(r.min()) if o else None for r, o in zip(flat, ok)]
            out[f"{k}_max"] = [int(r.max()) if o else None for r, o in zip(flat, ok)]
    return out


def headline_record(res: SweepResult, base: RunConfig, noise: Sequence[float]) -> dict[str, Any]:
    """The ``rank_vs_noise.json`` record of a noise sweep (means over seeds, per-seed values, regimes).

    Per level: the data's, filters' and learned part's stable ranks, the learned dimension, the signal
    energy fraction, the within-class overlap ``c``, the per-signal diagnostics (:func:`signal_columns`:
    signals learned, learned rank, the stable rank from γ, the per-class overlaps ``c₊``, ``c₋``), the expectation ``2K/(1+(K-1)c)`` (computed per
    seed, then averaged), accuracies and the measured ``regime``; and the scalars ``clean_rank`` (2K),
    ``noise_takeoff`` and ``benign_limit`` (the theory's σ_p threshold).
    """
    mean = {k: res.mean(k).tolist() for k in res.values}
    fr = res.values["filter_stable_rank"]
    expected = theory.expected_filter_stable_rank(base.K, res.values["signal_overlap"])
    regime = measured_regime(res.values["test_acc"], res.values["signal_energy_fraction"])
    return {
        "noise_std": list(noise),
        "data_stable_rank": mean["data_stable_rank"],
        "clean_data_stable_rank": mean["clean_data_stable_rank"],
        "patch_stable_rank": mean["patch_stable_rank"],
        "filter_stable_rank": mean["filter_stable_rank"],
        "filter_stable_rank_min": fr.min(axis=-1).tolist(),
        "filter_stable_rank_max": fr.max(axis=-1).tolist(),
        "learned_stable_rank": mean["learned_stable_rank"],
        "learned_dimension": mean["learned_dimension"],
        "signal_energy_fraction": mean["signal_energy_fraction"],
        "signal_overlap": mean["signal_overlap"],
        "expected_filter_stable_rank": np.mean(expected, axis=-1).tolist(),
        "regime": regime.tolist(),
        "test_acc": mean["test_acc"],
        "train_acc": mean["train_acc"],
        "max_gamma": mean["max_gamma"],
        "max_rho_pos": mean["max_rho_pos"],
        **signal_columns(res),
        "predicted_data_stable_rank": np.asarray(theory.expected_data_stable_rank(base, np.array(noise))).tolist(),
        "clean_rank": theory.clean_rank(base),
        "noise_takeoff": theory.noise_takeoff(base),
        "benign_limit": theory.benign_limit(base),
        "criterion": theory.criterion(base).name,
        "config": base.to_dict(),
        "per_seed": {k: v.tolist() for k, v in res.values.items()},
    }


def benign_window(out: dict[str, Any]) -> list[int]:
    """Indices of the levels of a ``rank_vs_noise.json`` record measured benign."""
    return [i for i, r in enumerate(out["regime"]) if r == "benign"]


def headline_sentence(out: dict[str, Any]) -> str:
    """One honest sentence about a ``rank_vs_noise.json`` record: the benign window and what holds in it."""
    win = benign_window(out)
    K2 = out["clean_rank"]
    if not win:
        return (f"no noise level is in the benign window (test accuracy >= 0.95 and signal energy >= 0.5): "
                f"the network learned no signal, so the claim does not apply here; 2K = {K2}")
    x, d = out["noise_std"], out["data_stable_rank"]
    lo, hi = win[0], win[-1]
    dims = sorted({round(out["learned_dimension"][i], 2) for i in win})
    ls = [out["learned_stable_rank"][i] for i in win]
    growth = d[hi] / d[lo] if d[lo] > 0 else float("inf")
    extra = ""
    if out.get("signals_learned_min") is not None and out.get("learned_rank_max") is not None:
        every = [i for i in win if out["signals_learned_min"][i] == K2]
        clean = [i for i in win if out["learned_rank_max"][i] is not None
                 and out["learned_rank_max"][i] <= out["learned_dimension"][i]]
        extra = (f"; all 2K signals learned at {len(every)} of {len(win)} levels, no learned direction outside "
                 f"the span at {len(clean)} of {len(win)}")
    return (f"benign window (measured): σ_p = {x[lo]:g} .. {x[hi]:g} ({len(win)} levels); inside it the data's "
            f"stable rank grows {growth:.1f}x ({d[lo]:.1f} -> {d[hi]:.1f}), the learned dimension is "
            f"{', '.join(f'{v:g}' for v in dims)} (2K = {K2}), the learned part's stable rank stays in "
            f"{min(ls):.2f} .. {max(ls):.2f}{extra}; theory's threshold σ_p = {out['benign_limit']:.3g}")


def intrinsic_record(res: SweepResult, base: RunConfig, Ks: Sequence[int]) -> dict[str, Any]:
    """The ``intrinsic_dimension.json`` record of a sweep over ``K`` (means over seeds, per-seed values)."""
    v = res.values
    expected = np.stack([theory.expected_filter_stable_rank(K, v["signal_overlap"][i]) for i, K in enumerate(Ks)])
    return {
        "K": list(Ks),
        "two_K": [2 * K for K in Ks],
        "learned_dimension": res.mean("learned_dimension").tolist(),
        "learned_dimension_min": v["learned_dimension"].min(axis=-1).tolist(),
        "learned_dimension_max": v["learned_dimension"].max(axis=-1).tolist(),
        "filter_stable_rank": res.mean("learned_stable_rank").tolist(),
        "all_filters_stable_rank": res.mean("filter_stable_rank").tolist(),
        "expected_filter_stable_rank": expected.mean(axis=-1).tolist(),
        "signal_overlap": res.mean("signal_overlap").tolist(),
        "signal_energy_fraction": res.mean("signal_energy_fraction").tolist(),
        "learned_stable_rank": res.mean("learned_stable_rank").tolist(),
        **signal_columns(res),
        "data_stable_rank": res.mean("data_stable_rank").tolist(),
        "clean_data_stable_rank": res.mean("clean_data_stable_rank").tolist(),
        "test_acc": res.mean("test_acc").tolist(),
        "train_acc": res.mean("train_acc").tolist(),
        "regime": measured_regime(v["test_acc"], v["signal_energy_fraction"]).tolist(),
        "benign_limit": [theory.benign_limit(base.replace(K=K)) for K in Ks],
        "noise_std": base.noise_std,
        "config": base.to_dict(),
        "per_seed": {k: a.tolist() for k, a in v.items()},
    }
