"""Training engines behind one interface (:class:`cnnrank.engines.base.Engine`).

``ENGINES`` maps a name to an engine class; :func:`cnnrank.train` takes ``engine=<name>``.
"""

from cnnrank.engines.base import Diverged, Engine, Snapshot
from cnnrank.engines.feature import FeatureEngine

ENGINES: dict[str, type[Engine]] = {"feature": FeatureEngine}

__all__ = ["ENGINES", "Diverged", "Engine", "FeatureEngine", "Snapshot"]
