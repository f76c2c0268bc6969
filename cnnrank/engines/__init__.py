"""Training engines behind one interface (:class:`cnnrank.engines.base.Engine`).

``ENGINES`` maps a name to an engine class. :func:`cnnrank.train.train` takes ``engine=<name>`` for
the engines with vectors (``needs_vectors``: feature, Gram), or ``engine="auto"``, which asks
:func:`choose_engine`; :func:`cnnrank.train.train_implicit` runs the implicit engine (no vectors) on a
:class:`~cnnrank.gram_sample.GramSample`. :class:`~cnnrank.engines.adaptive.AdaptiveEngine` (sign descent
and Adam, vectors only, no patch coefficients) is run by :func:`cnnrank.train.train_adaptive` and is not in
``ENGINES`` (its trajectories name the ``"feature"`` engine).
"""

from __future__ import annotations

from typing import Any

from cnnrank.engines.adaptive import AdaptiveEngine
from cnnrank.engines.base import BatchSchedule, Diverged, Engine, Snapshot, TrainingVariant
from cnnrank.engines.feature import FeatureEngine
from cnnrank.engines.gram import GramCore, GramEngine, GramProblem, distinct_patches
from cnnrank.engines.implicit import ImplicitEngine

ENGINES: dict[str, type[Engine]] = {"feature": FeatureEngine, "gram": GramEngine, "implicit": ImplicitEngine}

__all__ = [
    "ENGINES",
    "AdaptiveEngine",
    "BatchSchedule",
    "Diverged",
    "Engine",
    "FeatureEngine",
    "GramCore",
    "GramEngine",
    "GramProblem",
    "ImplicitEngine",
    "Snapshot",
    "TrainingVariant",
    "check_engine_memory",
    "choose_engine",
    "count_distinct_patches",
    "distinct_patches",
    "memory_bytes",
]


def count_distinct_patches(data: Any) -> int:
    """Number ``M`` of distinct non-zero training patches (exact; one pass over the patches)."""
    n, P, d = data.X.shape
    return int(distinct_patches(data.X.reshape(n * P, d))[0].size)


def memory_bytes(name: str, n: int, P: int, d: int, m: int, distinct: int) -> float:
    """Peak bytes of an engine's own arrays (not the data): the feature engine's ``(nP, 2m)`` work arrays
    (about 6) and ``(2m, d)`` filters (3); the Gram engine's ``(M+1)²`` patch Gram matrix, held about 3
    times while it is built and padded, plus its ``(M+1, 2m)`` work arrays (about 8)."""
    if name == "feature":
        return 8.0 * (6 * n * P * 2 * m + 3 * 2 * m * d)
    return 8.0 * (3 * (distinct + 1) ** 2 + 8 * (distinct + 1) * 2 * m)


def check_engine_memory(name: str, n: int, P: int, d: int, m: int, distinct: int, limit: float | None = None) -> None:
    """Raise :class:`cnnrank._memory.InsufficientMemory` before an engine allocates what cannot fit, with
    the other engine's need in the hint."""
    from cnnrank._memory import check_allocation, format_bytes

    need = memory_bytes(name, n, P, d, m, distinct)
    other = "feature" if name == "gram" else "gram"
    what = (f"engine='gram' (the {distinct}×{distinct} Gram matrix of the distinct patches)" if name == "gram"
            else f"engine='feature' (the {n * P}×{2 * m} patch arrays and 2×{m}×{d} filters)")
    hint = (f"engine='{other}' needs {format_bytes(memory_bytes(other, n, P, d, m, distinct))}; or fewer samples"
            + (" or the dimension-free train_implicit" if name == "feature" else ""))
    check_allocation(need, what, hint, limit=limit)


def choose_engine(net: Any, data: Any, steps: int | None = None) -> tuple[str, str]:
    """Pick the cheaper engine with vectors (feature or Gram) from the shapes.

    Compares the modelled flops of the whole run: feature ``8 nP d m`` per step against Gram
    ``4 M² m + O(M m)`` per step plus its one-time set-up ``2 M d (M + 4m)`` (the Gram matrix, the
    initial pre-activations, the final weights), with ``M`` the number of distinct non-zero patches.
    Without ``steps`` the set-up is spread over 1000 steps.

    Returns
    -------
    name : str
        ``"feature"`` or ``"gram"``.
    reason : str
        One line with the numbers behind the choice (stored as ``metadata["engine_choice"]``).
    """
    from cnnrank.data import PatchData
    from cnnrank.network import TwoLayerCNN

    if not isinstance(net, TwoLayerCNN):
        raise TypeError(f"net={type(net).__name__} is invalid: must be a cnnrank.TwoLayerCNN")
    if not isinstance(data, PatchData):
        raise TypeError(f"data={type(data).__name__} is invalid: must be a cnnrank.PatchData")
    n, P, d = data.X.shape
    m = net.m
    M = count_distinct_patches(data)
    T = 1000 if steps is None else max(int(steps), 1)
    feat = FeatureEngine.cost_per_step(n, P, d, m, M)
    gram = GramEngine.cost_per_step(n, P, d, m, M) + GramEngine.setup_cost(n, P, d, m, M) / T
    name = "gram" if gram < feat else "feature"
    from cnnrank._memory import SHARE, available_bytes

    budget = SHARE * available_bytes()
    if memory_bytes(name, n, P, d, m, M) > budget:  # the cheaper engine does not fit: the other may
        other = "feature" if name == "gram" else "gram"
        if memory_bytes(other, n, P, d, m, M) <= budget:
            return other, (f"auto: {other} (engine='{name}' would be cheaper but needs more memory than "
                           f"this machine can spare; M={M} distinct patches, nP={n * P}, d={d}, m={m})")
    return name, (f"auto: {name} (modelled flops/step over {T} steps: gram {gram:.3g} with M={M} "
                  f"distinct patches, feature {feat:.3g} with nP={n * P}, d={d}, m={m})")
