"""The experiment of ``reproduce neural-collapse`` (docs/theory.md §7, docs/neural-collapse.md), usable
from Python: collapse dynamics (unconstrained features and a Gaussian mixture with a learned feature
layer), the two fixed-classifier probes (simplex ETF, Grassmannian frame) and the frame-solver table.

:func:`neural_collapse_experiment` returns a :class:`NeuralCollapseResult`; its :meth:`~NeuralCollapseResult.summary`
is the JSON the command writes and :meth:`~NeuralCollapseResult.save_runs` the ``.npz`` files. The
figures are :func:`cnnrank.collapse.plotting.collapse_figure` and :func:`~cnnrank.collapse.plotting.probes_figure`.

Randomness: ten independent streams from ``np.random.SeedSequence(seed).spawn(10)`` (each reduced to
one 32-bit seed), one per random draw.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from cnnrank._parallel import map_ordered
from cnnrank._validation import check_int
from cnnrank.collapse.geometry import FrameResult, grassmannian_frame, simplex_etf
from cnnrank.collapse.metrics import nc_metrics
from cnnrank.collapse.probes import ProbeResult, classifier_variants, fixed_classifier_probe
from cnnrank.collapse.simulate import (
    CollapseRun,
    FeatureNetConfig,
    MixtureConfig,
    UFMConfig,
    sample_mixture,
    train_mixture,
    train_ufm,
)

__all__ = ["FRAME_TABLE", "QUICK", "QUICK_FRAME_TABLE", "NeuralCollapseResult", "neural_collapse_experiment"]

#: (N, d, signed) instances for the frame solver panel.
FRAME_TABLE = ((3, 2, False), (4, 3, False), (6, 3, False), (5, 2, False), (7, 3, False), (10, 4, False),
               (16, 6, False), (4, 3, True), (5, 2, True), (6, 3, True), (8, 3, True), (12, 3, True))
#: the frame table of ``quick=True``
QUICK_FRAME_TABLE = FRAME_TABLE[:4] + FRAME_TABLE[7:9]
#: the sizes ``quick=True`` sets
QUICK = {"steps": 300, "ufm_steps": 500, "assignments": 3, "probe_seeds": 2, "probe_steps": 200}


@dataclasses.dataclass(eq=False)
class NeuralCollapseResult:
    """Everything :func:`neural_collapse_experiment` measured.

    Attributes
    ----------
    params : dict
        The sizes used (after ``quick``), the seed and ``quick``.
    ufm, mixture : CollapseRun
        The dynamics runs.
    etf_probes : list of ProbeResult
        Simplex-ETF classifier: permutations and rotations, tanh and (control) linear features.
    frame : FrameResult
        The Grassmannian frame of the second probe.
    frame_probes : list of ProbeResult
        Grassmannian-frame classifier (``C > d + 1``): permutations and rotations, tanh features.
    frames : list of FrameResult
        The frame-solver table (coherence against the lower bound).
    runtime_s : float
    """

    params: dict
    ufm: CollapseRun
    mixture: CollapseRun
    etf_probes: list
    frame: FrameResult
    frame_probes: list
    frames: list
    runtime_s: float

    def summary(self) -> dict:
        """All numbers as a JSON-ready dict (what ``neural-collapse.json`` holds)."""
        ufm, mix, frame = self.ufm, self.mixture, self.frame

        def final(run: CollapseRun) -> dict:
            return nc_metrics(run.H, run.labels, run.W, run.b).as_dict()

        def traj(run: CollapseRun, name: str, k: int = 12) -> dict:
            idx = np.unique(np.linspace(0, run.steps.size - 1, k).round().astype(int))
            return {"steps": run.steps[idx].tolist(), "values": run.series(name)[idx].tolist()}

        def probe_json(pr: ProbeResult) -> dict:
            return {"kind": pr.kind, "mean_test_accuracy": pr.test_accuracy.mean(1).tolist(),
                    "test_accuracy": pr.test_accuracy.tolist(), "min_train_accuracy": float(pr.train_accuracy.min()),
                    "spread": pr.spread, "seed_spread": pr.seed_spread, "f_statistic": pr.f_statistic,
                    "p_value": pr.p_value, "signed_coherence": pr.coherence.tolist()}

        return {
            "params": dict(self.params),
            "ufm": {"final": final(ufm), "first_zero_error_step": ufm.first_zero_error_step,
                    "p_min": traj(ufm, "p_min"), "nc1": traj(ufm, "nc1"), "config": ufm.config},
            "mixture": {"final": final(mix), "first_zero_error_step": mix.first_zero_error_step,
                        "initial": dict(zip(mix.history_names, mix.history[0].tolist())),
                        "final_test_accuracy": float(mix.series("test_accuracy")[-1]),
                        "test_accuracy_at_zero_error": float(mix.series("test_accuracy")[mix.series("train_error") == 0][0])
                        if mix.first_zero_error_step is not None else None,
                        "p_min": traj(mix, "p_min"), "p_min_normalized": traj(mix, "p_min_normalized"),
                        "nc1": traj(mix, "nc1"), "config": mix.config},
            "etf_probes": [probe_json(pr) for pr in self.etf_probes],
            "frame_probes": {"frame_coherence": frame.coherence, "frame_bound": frame.bound, "frame_gap": frame.gap,
                             "classes": self.params["frame_classes"], "dim": self.params["frame_dim"],
                             "results": [probe_json(pr) for pr in self.frame_probes]},
            "frames": [{"N": f.vectors.shape[0], "d": f.vectors.shape[1], "signed": f.signed, "coherence": f.coherence,
                        "bound": f.bound, "bound_name": f.bound_name, "gap": f.gap} for f in self.frames],
        }

    def save_runs(self, folder: str | Path) -> list[Path]:
        """Save ``ufm.npz``, ``mixture.npz`` and one ``probe_<kind>.npz`` per probe into ``folder``."""
        from cnnrank.results import atomic_write_bytes

        return [atomic_write_bytes(path, data) for path, data in self.run_files(folder)]

    def run_files(self, folder: str | Path) -> list[tuple[Path, bytes]]:
        """What :meth:`save_runs` writes, in memory: ``(path, bytes)`` per run and probe."""
        folder = Path(folder)
        runs: list[tuple[str, Any]] = [("ufm.npz", self.ufm), ("mixture.npz", self.mixture)]
        runs += [(f"probe_{pr.kind.lower().replace('. ', '-').replace(' ', '-')}.npz", pr)
                 for pr in self.etf_probes + self.frame_probes]
        return [(folder / name, run.to_npz_bytes()) for name, run in runs]


def _part(item: tuple[str, dict[str, Any], list[int], Any]) -> Any:
    """One independent part of :func:`neural_collapse_experiment`: ``(what, params, streams, extra)`` ->
    the UFM or mixture run, an ETF or frame probe, or a frame (``extra = (N, d, signed, stream)``).

    1. dynamics: the UFM (stream 0) and the mixture (data stream 1, training stream 2).
    2. probes: the ETF probe's data (3), the ETF (4), the classifier variants (5), the initializations (6);
       the Grassmannian frame (7) and the frame probe's data (8). tanh features break the
       rotation/permutation symmetry; linear features are the control: any P M = M R or M Q is absorbed
       by V -> R V, so only initialization noise remains.
    3. the frame-solver table (stream 9).
    """
    what, p, streams, extra = item
    C = p["classes"]
    if what == "ufm":
        return train_ufm(UFMConfig(num_classes=C, dim=max(8, C), steps=p["ufm_steps"]), rng=streams[0])
    if what == "mixture":
        mix_data = sample_mixture(MixtureConfig(num_classes=C, input_dim=64, n_train_per_class=10,
                                                n_test_per_class=200), rng=streams[1])
        return train_mixture(mix_data, FeatureNetConfig(width=16, activation="relu", lr=0.5, steps=p["steps"],
                                                        record_every=max(1, p["steps"] // 150)), rng=streams[2])
    if what == "frame":
        N, d, signed, stream = extra
        return grassmannian_frame(N, d, signed=signed, rng=streams[stream])
    pcfg = FeatureNetConfig(width=C - 1, activation="tanh", lr=0.5, steps=p["probe_steps"])
    if what == "etf_probe":
        act, kind = extra
        etf_data = sample_mixture(MixtureConfig(num_classes=C, input_dim=64, n_train_per_class=10,
                                                n_test_per_class=200), rng=streams[3])
        etf = simplex_etf(C, C - 1, rng=streams[4])
        return fixed_classifier_probe(etf_data, classifier_variants(etf, p["assignments"], kind, rng=streams[5]),
                                      pcfg.replace(activation=act), seeds=p["probe_seeds"],
                                      kind=f"ETF {kind[:4]}. {act}", rng=streams[6])
    if what == "frame_probe":
        Cf, df = p["frame_classes"], p["frame_dim"]
        frame = grassmannian_frame(Cf, df, signed=True, rng=streams[7])
        fr_data = sample_mixture(MixtureConfig(num_classes=Cf, input_dim=64, n_train_per_class=10,
                                               n_test_per_class=200), rng=streams[8])
        return fixed_classifier_probe(fr_data, classifier_variants(frame.vectors, p["assignments"], extra,
                                                                   rng=streams[5]),
                                      pcfg.replace(width=df), seeds=p["probe_seeds"],
                                      kind=f"frame {extra[:4]}. tanh", rng=streams[6])
    raise ValueError(f"what={what!r} is invalid")  # pragma: no cover - internal


def neural_collapse_experiment(
    *, seed: int = 0, classes: int = 5, steps: int = 3000, ufm_steps: int = 4000, assignments: int = 6,
    probe_seeds: int = 4, probe_steps: int = 1500, frame_classes: int = 6, frame_dim: int = 3,
    quick: bool = False, executor: Executor | None = None,
) -> NeuralCollapseResult:
    """Collapse dynamics, the two fixed-classifier probes and the frame-solver table.

    Parameters
    ----------
    seed : int, ``>= 0``
    classes : int, ``3..50``
        Classes ``C`` of the UFM, the mixture and the ETF probe.
    steps, ufm_steps : int
        Gradient steps of the mixture and of the UFM run (``10..10⁶``).
    assignments : int, ``2..100``
        Classifier variants per probe.
    probe_seeds : int, ``2..100``
        Initializations per variant.
    probe_steps : int
        Gradient steps per probe run.
    frame_classes, frame_dim : int
        Classes and feature dimension of the Grassmannian probe (``frame_classes > frame_dim + 1``).
    quick : bool
        Small sizes: :data:`QUICK` replaces ``steps, ufm_steps, assignments, probe_seeds, probe_steps``
        and :data:`QUICK_FRAME_TABLE` the frame table.
    executor : concurrent.futures.Executor, optional
        Runs the independent parts (the two dynamics runs, every probe, every frame), e.g.
        ``cnnrank._parallel.make_executor(workers)``; ``None``: one by one here. Each part draws its
        inputs from its own streams: the same numbers, bit for bit, whatever the executor.

    Returns
    -------
    NeuralCollapseResult
    """
    p: dict[str, Any] = {
        "seed": check_int("seed", seed, minimum=0),
        "classes": check_int("classes", classes, minimum=3, maximum=50),
        "steps": check_int("steps", steps, minimum=10, maximum=10**6),
        "ufm_steps": check_int("ufm_steps", ufm_steps, minimum=10, maximum=10**6),
        "assignments": check_int("assignments", assignments, minimum=2, maximum=100),
        "probe_seeds": check_int("probe_seeds", probe_seeds, minimum=2, maximum=100),
        "probe_steps": check_int("probe_steps", probe_steps, minimum=10, maximum=10**6),
        "frame_classes": check_int("frame_classes", frame_classes, minimum=3, maximum=50),
        "frame_dim": check_int("frame_dim", frame_dim, minimum=1),
        "quick": bool(quick),
    }
    if p["frame_classes"] <= p["frame_dim"] + 1:
        raise ValueError(f"frame_classes={p['frame_classes']} is invalid: must exceed frame_dim + 1 = "
                         f"{p['frame_dim'] + 1} (generalized collapse, C > d + 1)")
    if p["quick"]:
        p.update(QUICK)
    t_start = time.perf_counter()
    streams = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(p["seed"]).spawn(10)]
    table = QUICK_FRAME_TABLE if p["quick"] else FRAME_TABLE
    # the independent parts, each a plain function of its item (its inputs drawn again from their own
    # streams): the same bits whatever the executor
    etf_kinds = [(act, kind) for act in ("tanh", "linear") for kind in ("permutation", "rotation")]
    items: list[tuple[str, dict[str, Any], list[int], Any]] = (
        [("ufm", p, streams, None), ("mixture", p, streams, None)]
        + [("etf_probe", p, streams, ak) for ak in etf_kinds]
        + [("frame_probe", p, streams, kind) for kind in ("permutation", "rotation")]
        + [("frame", p, streams, (p["frame_classes"], p["frame_dim"], True, 7))]
        + [("frame", p, streams, (N, d, signed, 9)) for N, d, signed in table])
    parts = map_ordered(_part, items, executor)
    ufm, mix = parts[0], parts[1]
    etf_probes = parts[2:6]
    frame_probes = parts[6:8]
    frame = parts[8]
    frames = parts[9:]
    return NeuralCollapseResult(params=p, ufm=ufm, mixture=mix, etf_probes=etf_probes, frame=frame,
                                frame_probes=frame_probes, frames=frames, runtime_s=time.perf_counter() - t_start)
