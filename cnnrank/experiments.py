"""Experiments: one run from a flat configuration, and (see :mod:`cnnrank.sweeps`) grids of runs.

:class:`RunConfig` gathers every knob of one run of docs/theory.md — data model, network, training — as a
frozen, validated dataclass of plain values, so that it can be written to JSON/TOML, varied in a
sweep, and rebuilt exactly. :func:`run_once` draws the training set, a test set and the initial
filters from three independent streams of one ``rng``, trains, and returns the trajectory together
with the data's rank diagnostics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnrank._blas import blas_threads, resolve
from cnnrank._validation import check_int, check_real
from cnnrank.activations import Activation, parse_activation
from cnnrank.data import PatchData, SignalNoiseModel
from cnnrank.network import TwoLayerCNN
from cnnrank.rank import data_rank_report
from cnnrank.train import Trajectory, train

__all__ = ["RunConfig", "RunOutcome", "config_from_dict", "run_once"]



@dataclass(frozen=True)
class RunConfig:
    """Everything one run needs. Defaults: the paper regime of docs/theory.md §5.

    Data: ``n`` training and ``n_test`` test samples of :class:`SignalNoiseModel` with ``d``, ``K``,
    ``patches``, ``signal_norm``, ``noise_std``, ``project_noise``, ``label_noise``, ``balanced``,
    ``signal_position``. Network: ``m`` filters per class, ``init_std`` (σ_0), ``activation``
    (``"huber<q>"``, ``"relu"`` or ``"poly<q>"``) with threshold ``kappa``. Training: ``lr`` (η),
    ``steps``, ``record_every``, ``engine``.
    """

    n: int = 128
    n_test: int = 256
    d: int = 2000
    K: int = 4
    patches: int = 3
    signal_norm: float = 5.0
    noise_std: float = 0.25
    project_noise: bool = True
    label_noise: float = 0.0
    balanced: bool = True
    signal_position: int | str = 0
    m: int = 40
    init_std: float = 0.01
    activation: str = "huber3"
    kappa: float = 1.0
    lr: float = 2.0
    steps: int = 3000
    record_every: int = 100
    engine: str = "auto"

    def __post_init__(self) -> None:
        check_int("n", self.n, minimum=1)
        check_int("n_test", self.n_test, minimum=0)
        check_int("m", self.m, minimum=1)
        check_real("init_std", self.init_std, nonnegative=True)
        check_real("lr", self.lr, positive=True)
        check_int("steps", self.steps, minimum=0)
        check_int("record_every", self.record_every, minimum=1)
        if not isinstance(self.engine, str):
            raise ValueError(f"engine={self.engine!r} is invalid: must be a string")
        self.model()  # validates the data-model fields
        self.make_activation()

    def model(self) -> SignalNoiseModel:
        """The data model of this configuration."""
        return SignalNoiseModel(d=self.d, K=self.K, patches=self.patches, signal_norm=self.signal_norm,
                                noise_std=self.noise_std, project_noise=self.project_noise,
                                label_noise=self.label_noise, balanced=self.balanced,
                                signal_position=self.signal_position)

    def make_activation(self) -> Activation:
        """The activation named by ``activation`` (threshold ``kappa`` for the Huberized ReLU)."""
        return parse_activation(self.activation, kappa=self.kappa)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def config_from_dict(values: dict[str, Any], base: RunConfig | None = None) -> RunConfig:
    """A :class:`RunConfig` from a mapping; unknown keys raise ``ValueError`` naming them."""
    base = base or RunConfig()
    fields = {f.name: f for f in dataclasses.fields(RunConfig)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ValueError(f"config keys {unknown} are invalid: known keys are {sorted(fields)}")
    coerced = {}
    for k, v in values.items():
        default = getattr(base, k)
        if isinstance(default, bool) and not isinstance(v, bool):
            raise ValueError(f"{k}={v!r} is invalid: must be true or false")
        if isinstance(default, float) and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        coerced[k] = v
    return base.replace(**coerced)


@dataclass
class RunOutcome:
    """What :func:`run_once` returns: the trajectory, the data and their rank diagnostics."""

    trajectory: Trajectory
    data: PatchData
    test: PatchData | None
    data_ranks: dict[str, float]

    def scalars(self) -> dict[str, float]:
        """Final-record numbers and data ranks, as one flat dict of floats."""
        out = {k: float(v) for k, v in self.trajectory.summary().items()}
        out.update(self.data_ranks)
        return out


def _step_cost(config: RunConfig) -> float:
    """Modelled flops of one step of the engine ``config.engine`` would use (the cheaper for ``"auto"``)."""
    from cnnrank.engines import ENGINES

    n, P, d, m = config.n, config.patches, config.d, config.m
    costs = {name: ENGINES[name].cost_per_step(n, P, d, m, n * P) for name in ("feature", "gram")}
    return costs.get(config.engine, min(costs.values()))


def run_once(config: RunConfig, rng: Any = None, progress: bool | None = False) -> RunOutcome:
    """One run: draw data, test data and initial filters from independent streams, then train.

    ``rng`` is normalized with ``np.random.default_rng`` and split with ``Generator.spawn(3)`` into
    the streams of the training set, the test set and the initialization (in that order), so a seed
    fixes every bit and changing ``n_test`` does not change the training data.
    """
    if not isinstance(config, RunConfig):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RunConfig")
    g_data, g_test, g_init = np.random.default_rng(rng).spawn(3)
    model = config.model()
    # One BLAS thread for problems of moderate size (see cnnrank._blas): runs of a sweep share the
    # cores with each other (process pools) and multi-threaded OpenBLAS then costs up to 25x.
    limit = resolve("auto", _step_cost(config), shared=True)
    with blas_threads(limit):
        data = model.sample(config.n, rng=g_data)
        test = model.sample(config.n_test, rng=g_test) if config.n_test > 0 else None
        net = TwoLayerCNN.init(config.m, config.d, config.init_std, config.make_activation(), rng=g_init)
        traj = train(net, data, lr=config.lr, steps=config.steps, record_every=config.record_every,
                     test=test, engine=config.engine, progress=progress, blas_threads=limit)
        ranks = data_rank_report(data)
    traj.metadata["config"] = config.to_dict()
    return RunOutcome(trajectory=traj, data=data, test=test, data_ranks=ranks)
