"""Training engines behind one interface (:class:`cnnrank.engines.base.Engine`).

``ENGINES`` maps a name to an engine class. :func:`cnnrank.train.train` takes ``engine=<name>`` for
the engines with vectors (``needs_vectors``: feature, Gram), or ``engine="auto"``, which asks
:func:`choose_engine`; :func:`cnnrank.train.train_implicit` runs the implicit engine (no vectors) on a
:class:`~cnnrank.gram_sample.GramSample`.
"""

from __future__ import annotations

from typing import Any

from cnnrank.engines.base import Diverged, Engine, Snapshot
from cnnrank.engines.feature import FeatureEngine
from cnnrank.engines.gram import GramCore, GramEngine, GramProblem, distinct_patches
from cnnrank.engines.implicit import ImplicitEngine

ENGINES: dict[str, type[Engine]] = {"feature": FeatureEngine, "gram": GramEngine, "implicit": ImplicitEngine}

__all__ = [
    "ENGINES",
    "Diverged",
    "Engine",
    "FeatureEngine",
    "GramCore",
    "GramEngine",
    "GramProblem",
    "ImplicitEngine",
    "Snapshot",
    "choose_engine",
    "count_distinct_patches",
    "distinct_patches",
]


def count_distinct_patches(data: Any) -> int:
    """Number ``M`` of distinct non-zero training patches (exact; one pass over the patches)."""
    n, P, d = data.X.shape
    return int(distinct_patches(data.X.reshape(n * P, d))[0].size)


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
    return name, (f"auto: {name} (modelled flops/step over {T} steps: gram {gram:.3g} with M={M} "
                  f"distinct patches, feature {feat:.3g} with nP={n * P}, d={d}, m={m})")
