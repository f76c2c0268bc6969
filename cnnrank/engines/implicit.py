r"""The implicit engine: the Gram engine on a dimension-free :class:`~cnnrank.gram_sample.GramSample`.

A sample (:meth:`SignalNoiseModel.sample_gram`, :mod:`cnnrank.gram_sample`) holds the joint Gram matrix
of the signals, the background patches, the initial filters and the test patches, drawn without any
vector of ``R^d``. The engine builds its :class:`~cnnrank.engines.gram.GramProblem` from it
(:meth:`GramProblem.from_sample`: sub-blocks of that matrix at the distinct non-zero patches) and runs
the same steps as the Gram engine (docs/theory.md §3),

.. math::
    \Delta\hat C_{k,(j,r)} = -\eta\, j\, h_k\, \sigma'(Z_{k,(j,r)}),\qquad Z \leftarrow Z + G\,\Delta\hat C,

so a run at ``d = 10^9`` costs what one at ``d = 10^3`` costs. It has no vectors: ``weights()`` is
``None``. Train with :func:`cnnrank.train.train_implicit`.

The sampling itself lives in the data layer (:mod:`cnnrank.gram_sample`); ``GramSample``,
``sample_gram``, ``gram_sample_from_data``, ``sample_meta`` and ``wishart_bartlett`` are re-exported
here for older imports.
"""

from __future__ import annotations

import numpy as np

from cnnrank.activations import Activation
from cnnrank.engines.base import Engine, TrainingVariant
from cnnrank.engines.gram import GramCore, GramEngine, GramProblem
from cnnrank.gram_sample import GramSample, gram_sample_from_data, sample_gram, sample_meta, wishart_bartlett

__all__ = ["GramSample", "ImplicitEngine", "gram_sample_from_data", "sample_gram", "sample_meta",
           "wishart_bartlett"]


class ImplicitEngine(GramEngine):
    """The Gram engine on a :class:`GramSample`: the same steps, no vectors (``weights()`` is None).

    Parameters
    ----------
    sample : GramSample
        The inner products (test set included).
    activation : Activation
    variant : TrainingVariant, optional
        Trainable head, minibatch SGD, weight decay (docs/theory.md, "Training variants").
    """

    name = "implicit"
    needs_vectors = False

    def __init__(self, sample: GramSample, activation: Activation, variant: TrainingVariant | None = None) -> None:
        Engine.__init__(self, None, sample, activation, variant=variant)
        self.sample = sample
        with np.errstate(over="ignore", invalid="ignore"):  # an overflowed sample: a blow-up at step 0
            self.problem = GramProblem.from_sample(sample)
            self.core = GramCore([self.problem], activation)
        self.core.set_variant(self.variant)

    def weights(self) -> None:
        """Always ``None``: the implicit engine never forms a vector of ``R^d``."""
        return None
