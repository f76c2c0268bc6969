"""One run from a configuration: :class:`RunConfig` and :func:`run_once` (grids of runs: :mod:`cnnrank.sweeps`).

:class:`RunConfig` gathers every knob of one run of docs/theory.md — data model, network, training — as
a frozen, validated configuration of plain values, so that it can be written to JSON/TOML, varied in a
sweep, and rebuilt exactly. It is composed of a :class:`~cnnrank.data.SignalNoiseModel`, a
:class:`~cnnrank.experiments.specs.NetworkSpec` and a
:class:`~cnnrank.experiments.specs.TrainingSpec` (each field declared and validated there, once), and
reads and writes flat: ``RunConfig(noise_std=0.5, m=20)``, ``config.noise_std``,
``config.replace(steps=100)``, :meth:`RunConfig.to_dict` and :func:`config_from_dict`.
(:class:`RunConfig` and :func:`config_from_dict` live in
:mod:`cnnrank.experiments.run_config` and are re-exported here.) :func:`run_once` draws the training set, a test set and the initial filters from three independent
streams of one ``rng``, trains, and returns the trajectory together with the data's rank diagnostics.
:func:`run_group` runs several configurations that differ only in ``noise_std`` and ``lr`` from one
``rng`` as one batched Gram-engine run (:func:`cnnrank.batched.train_batched`), each equal to its
:func:`run_once` to rounding level.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads, resolve
from cnnrank.data import PatchData
from cnnrank.experiments.run_config import (
    DEFAULT_MODEL,
    FLAT_FIELDS,
    GROUP_FIELDS,
    VARIANT_FIELDS,
    RunConfig,
    config_from_dict,
)
from cnnrank.rank import data_rank_report
from cnnrank.train import Trajectory, train

__all__ = ["DEFAULT_MODEL", "FLAT_FIELDS", "GROUP_FIELDS", "VARIANT_FIELDS", "RunConfig", "RunOutcome",
           "config_from_dict", "run_group", "run_once"]


@dataclass
class RunOutcome:
    """What :func:`run_once` returns: the trajectory, the data and their rank diagnostics.

    ``data`` is the training :class:`~cnnrank.data.PatchData`, or the
    :class:`~cnnrank.gram_sample.GramSample` of an ``engine="implicit"`` run.
    """

    trajectory: Trajectory
    data: PatchData | Any
    test: PatchData | None
    data_ranks: dict[str, float]

    def scalars(self) -> dict[str, float]:
        """Final-record numbers and data ranks, as one flat dict: floats, and ints for the counts
        (``step``, ``learned_dimension``, ``signals_learned``, ``learned_rank``), and the measured
        signal-learning time ``signal_learning_time`` (:func:`cnnrank.theory.measured_signal_learning_time`,
        NaN if never reached).

        With the run's initial filters (or its :class:`~cnnrank.gram_sample.GramSample`) and signals it
        also holds what the signal race predicts from the initialization
        (:func:`cnnrank.theory.predict_from_initialization`, docs/theory.md §6.7):
        ``predicted_learned_stable_rank``, ``predicted_signals_learned`` and
        ``predicted_learned_dimension`` (ints).
        """
        from cnnrank.theory import measured_signal_learning_time

        out: dict[str, float] = {k: v if isinstance(v, int) else float(v) for k, v in self.trajectory.summary().items()}
        out.update(self.data_ranks)
        t1 = measured_signal_learning_time(self.trajectory) if self.trajectory.gamma is not None else None
        out["signal_learning_time"] = float("nan") if t1 is None else float(t1)
        out.update(self.predicted())
        return out

    def predicted(self) -> dict[str, float]:
        """The race's predictions for this run (keys of :meth:`scalars`; empty when it cannot predict)."""
        import cnnrank.theory as theory

        values = self.trajectory.metadata.get("config")
        if not isinstance(values, dict) or values.get("optimizer", "gd") != "gd":
            return {}  # the race predicts gradient descent (docs/theory.md §6.7), not sign descent or Adam
        try:
            pred = theory.predict_for_run(config_from_dict(values), self)
        except (ValueError, FloatingPointError):  # e.g. the race diverges where training blew up
            return {}
        if pred is None:
            return {}
        return {"predicted_learned_stable_rank": float(pred.learned_stable_rank),
                "predicted_signals_learned": int(pred.signals_learned),
                "predicted_learned_dimension": int(pred.learned_dimension)}


def _step_cost(config: RunConfig) -> float:
    """Modelled flops of one step of the engine ``config.engine`` would use (the cheaper for ``"auto"``)."""
    from cnnrank.engines import ENGINES

    n, P, d, m = config.n, config.patches, config.d, config.m
    costs = {name: ENGINES[name].cost_per_step(n, P, d, m, n * P) for name in ("feature", "gram")}
    if config.optimizer != "gd":  # sign descent and Adam run on vectors
        return costs["feature"]
    return costs.get(config.engine, min(costs.values()))


def _patch_gram_stable_rank(gram: np.ndarray) -> float:
    """Stable rank ``tr(G) / λ_max(G)`` of a matrix from its Gram matrix ``G = A Aᵀ``."""
    top = float(np.linalg.eigvalsh(gram)[-1]) if gram.size else 0.0
    return float(np.trace(gram) / top) if top > 0 else 0.0


def _implicit_ranks(sample: Any) -> dict[str, float]:
    """:func:`~cnnrank.rank.data_rank_report` of a :class:`~cnnrank.gram_sample.GramSample`."""
    return {
        "data_stable_rank": float(sample.data_stable_rank()),
        "patch_stable_rank": _patch_gram_stable_rank(sample.patch_gram()),
        "clean_data_stable_rank": float(sample.data_stable_rank(clean=True)),
        "clean_patch_stable_rank": _patch_gram_stable_rank(sample.patch_gram(clean=True)),
    }


def run_once(config: RunConfig, rng: Any = None, progress: bool | None = False) -> RunOutcome:
    """One run: draw data, test data and initial filters from independent streams, then train.

    ``rng`` is normalized with ``np.random.default_rng`` and split with ``Generator.spawn(3)`` into
    the streams of the training set, the test set and the initialization (in that order), so a seed
    fixes every bit and changing ``n_test`` does not change the training data.

    With ``config.engine == "implicit"`` no vector of ``R^d`` is drawn: the inner products of the
    training and test patches and the initial filters are drawn jointly from the first stream
    (:func:`~cnnrank.gram_sample.sample_gram`, same law) and trained with
    :func:`~cnnrank.train.train_implicit`, at a cost independent of ``d``; ``RunOutcome.data`` is then
    the :class:`~cnnrank.gram_sample.GramSample` and ``test`` is ``None``.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RunConfig")
    gen = np.random.default_rng(rng)
    g_data, g_test, g_init = gen.spawn(3)
    variant = config.training_variant(_batch_seed(gen, config))
    model = config.model()
    if config.engine == "implicit":
        from cnnrank.gram_sample import sample_gram
        from cnnrank.train import train_implicit

        sample = sample_gram(model, config.n, config.m, config.init_std, n_test=config.n_test, rng=g_data)
        traj = train_implicit(config.make_activation(), sample, lr=config.lr, steps=config.steps,
                              record_every=config.record_every, progress=progress, variant=variant)
        traj.metadata["config"] = config.to_dict()
        return RunOutcome(trajectory=traj, data=sample, test=None, data_ranks=_implicit_ranks(sample))
    # One BLAS thread for problems of moderate size (see cnnrank._blas): runs of a sweep share the
    # cores with each other (process pools) and multi-threaded OpenBLAS then costs up to 25x.
    limit = resolve("auto", _step_cost(config), shared=True)
    with blas_threads(limit):
        data = model.sample(config.n, rng=g_data)
        test = model.sample(config.n_test, rng=g_test) if config.n_test > 0 else None
        net = config.network.init(config.d, rng=g_init)
        traj = _train_vectors(config, net, data, test, limit, progress, variant)
        ranks = data_rank_report(data)
    traj.metadata["config"] = config.to_dict()
    return RunOutcome(trajectory=traj, data=data, test=test, data_ranks=ranks)


def _train_vectors(config: RunConfig, net: Any, data: PatchData, test: PatchData | None, limit: Any,
                   progress: bool | None = False, variant: Any = None) -> Trajectory:
    """Train a run with vectors: :func:`~cnnrank.train.train` for gradient descent,
    :func:`~cnnrank.train.train_adaptive` for sign descent and Adam (docs/theory.md, "Sign descent and Adam")."""
    if config.optimizer == "gd":
        return train(net, data, lr=config.lr, steps=config.steps, record_every=config.record_every, test=test,
                     engine=config.engine, progress=progress, blas_threads=limit, variant=variant)
    from cnnrank.train import train_adaptive

    return train_adaptive(net, data, lr=config.lr, steps=config.steps, optimizer=config.optimizer,
                          record_every=config.record_every, test=test, adam_beta1=config.adam_beta1,
                          adam_beta2=config.adam_beta2, adam_eps=config.adam_eps,
                          weight_decay=config.weight_decay, engine=config.engine,
                          progress=progress, blas_threads=limit, variant=variant)


def _batch_seed(gen: np.random.Generator, config: RunConfig) -> np.random.SeedSequence | None:
    """The stream of the minibatch permutations: a fourth child of the run's ``SeedSequence``, spawned
    after the data, test and initialization streams (which it leaves unchanged), and only for SGD."""
    if config.batch_size is None or config.batch_size >= config.n:
        return None
    seq = gen.bit_generator.seed_seq
    if not isinstance(seq, np.random.SeedSequence):  # pragma: no cover - a generator without a SeedSequence
        raise ValueError("rng is invalid for batch_size: its bit generator has no SeedSequence to spawn from")
    return seq.spawn(1)[0]


def _check_group(configs: Any) -> list[RunConfig]:
    """``configs`` as a list, refused unless they are RunConfigs equal except in :data:`GROUP_FIELDS`."""
    if isinstance(configs, RunConfig) or not isinstance(configs, Sequence) or len(configs) == 0:
        raise ValueError(f"configs={configs!r:.80} is invalid: must be a non-empty list of RunConfig")
    out = list(configs)
    for i, c in enumerate(out):
        if not isinstance(c, RunConfig):
            raise TypeError(f"configs[{i}]={type(c).__name__} is invalid: must be a RunConfig")
    if out[0].engine == "implicit":
        raise ValueError("configs[0].engine='implicit' is invalid for run_group: the dimension-free runs draw "
                         "their inner products, not vectors; run them with run_once")
    shared = {k: v for k, v in out[0].to_dict().items() if k not in GROUP_FIELDS}
    for i, c in enumerate(out[1:], start=1):
        values = c.to_dict()
        for k in FLAT_FIELDS:
            if k not in GROUP_FIELDS and values.get(k) != shared.get(k):
                raise ValueError(f"configs[{i}].{k}={values.get(k)!r} is invalid: the configurations of a group may "
                                 f"differ only in {' and '.join(GROUP_FIELDS)} (configs[0].{k}={shared.get(k)!r})")
    return out


def run_group(configs: Sequence[RunConfig], rng: Any = None) -> list[RunOutcome]:
    """Several runs that differ only in ``noise_std`` and ``lr``, on one draw, trained as one batch.

    The same draws as :func:`run_once` with the same ``rng`` for each configuration: ``rng`` is split
    into the streams of the training set, the test set and the initialization; the training and test
    sets are drawn once and returned at each noise level
    (:meth:`~cnnrank.data.SignalNoiseModel.sample_noise_levels`: the same labels, positions and
    standard-normal background, scaled by ``σ_p``; each level bit for bit the ``sample`` of that level)
    and one initial network serves every run. The runs on the Gram engine (``engine="gram"``, or
    ``"auto"`` where :func:`cnnrank.engines.choose_engine` picks it for that level's data, as
    :func:`cnnrank.train.train` does) are trained together by :func:`cnnrank.batched.train_batched`
    (all in one group: runs of one level share one Gram matrix); any other (``"auto"`` choosing the
    feature engine, ``"feature"``) by :func:`cnnrank.train.train` on the same data. BLAS threads as in
    :func:`run_once`.

    Each outcome equals ``run_once(configs[b], rng=<the same seed>)`` to rounding level (the same
    trajectory, data, test set and data ranks; ``trajectory.metadata["config"]`` set). A run that blows
    up is trained again alone, which raises the :class:`~cnnrank.TrainingDiverged` :func:`run_once`
    raises. Configurations with a training variant (``head``, ``batch_size``, ``weight_decay``; docs/theory.md,
    "Training variants") are not batched: each is trained alone on the group's draw, bit for bit its
    :func:`run_once`.

    Parameters
    ----------
    configs : sequence of RunConfig
        At least one; equal except in :data:`GROUP_FIELDS` (``noise_std``, ``lr``); not
        ``engine="implicit"``.
    rng : None, int, SeedSequence or Generator
        As in :func:`run_once` (a ``SeedSequence`` is spawned from, as there: pass a fresh one to repeat
        a draw).

    Returns
    -------
    list of RunOutcome, one per configuration, in order

    Raises
    ------
    ValueError, TypeError
        For configurations that differ elsewhere, or an implicit engine.
    TrainingDiverged
        The first run (in order) that blows up.
    """
    out: list[RunOutcome] = []
    for outcome in _group_outcomes(configs, rng):
        if isinstance(outcome, Exception):
            raise outcome
        out.append(outcome)
    return out


def _group_outcomes(configs: Sequence[RunConfig], rng: Any) -> list[RunOutcome | Exception]:
    """:func:`run_group`, with the error of a run that fails in its place (the other runs kept)."""
    from cnnrank.batched import train_batched
    from cnnrank.engines import choose_engine

    group = _check_group(configs)
    first = group[0]
    gen = np.random.default_rng(rng)
    g_data, g_test, g_init = gen.spawn(3)
    batch_seed = _batch_seed(gen, first)  # the same stream for every run, as run_once draws it
    model = first.model()
    levels = list(dict.fromkeys(c.noise_std for c in group))
    level_of = [levels.index(c.noise_std) for c in group]
    limit = resolve("auto", _step_cost(first), shared=True)  # as run_once: the configs share their shapes
    trajs: list[Trajectory | Exception | None] = [None] * len(group)
    with blas_threads(limit):
        data = model.sample_noise_levels(first.n, levels, rng=g_data)
        tests: list[PatchData | None] = (list(model.sample_noise_levels(first.n_test, levels, rng=g_test))
                                         if first.n_test > 0 else [None] * len(levels))
        net = first.network.init(first.d, rng=g_init)
        chosen: dict[int, str] = {}  # "auto": train's own choice, per level (it depends on the data)
        for k in sorted(set(level_of)):
            chosen[k] = choose_engine(net, data[k], first.steps)[0] if first.engine == "auto" else first.engine
        # not batched: the training variants and sign descent/Adam; each such run is trained alone,
        # as run_once trains it
        batch = ([] if first.has_variants() or first.optimizer != "gd"
                 else [b for b, k in enumerate(level_of) if chosen[k] == "gram"])
        if batch:
            batch_tests = [t for t in (tests[level_of[b]] for b in batch) if t is not None]
            done = train_batched(net, [data[level_of[b]] for b in batch], [group[b].lr for b in batch], first.steps,
                                 first.record_every, test=batch_tests or None, chunk_bytes=float("inf"),
                                 blas_threads=limit)
            for b, batched in zip(batch, done):
                trajs[b] = batched
        for b, c in enumerate(group):
            got = trajs[b]
            if not isinstance(got, Trajectory) or "diverged_at" in got.metadata:  # another engine, or a blow-up:
                # trained alone, as run_once trains it
                k = level_of[b]
                try:
                    trajs[b] = _train_vectors(c, net, data[k], tests[k], limit, False, c.training_variant(batch_seed))
                except Exception as exc:  # kept in the run's place; run_group raises it
                    trajs[b] = exc
        used = sorted(set(level_of))
        ranks = {used[0]: data_rank_report(data[used[0]])}
        clean = {k: v for k, v in ranks[used[0]].items() if k.startswith("clean_")}
        for k in used[1:]:  # the clean data are the same bits at every level: their ranks once
            ranks[k] = {**data_rank_report(data[k], clean=False), **clean}
    out: list[RunOutcome | Exception] = []
    for b, c in enumerate(group):
        traj = trajs[b]
        if not isinstance(traj, Trajectory):
            out.append(traj if isinstance(traj, Exception) else RuntimeError(f"configs[{b}] was not run"))
            continue
        traj.metadata["config"] = c.to_dict()
        k = level_of[b]
        out.append(RunOutcome(trajectory=traj, data=data[k], test=tests[k], data_ranks=dict(ranks[k])))
    return out
