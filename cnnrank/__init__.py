"""cnnrank: exact NumPy simulation of gradient descent on two-layer CNNs.

The data model (low-rank clean images plus background noise), the two-layer CNN with analytic
gradient-descent updates, the patch coefficients and signal-noise decomposition, and rank diagnostics
of docs/theory.md, with the public names importable from here::

    import cnnrank
    model = cnnrank.SignalNoiseModel(d=2000, K=4, patches=3, signal_norm=5.0, noise_std=0.8)
    data = model.sample(128, rng=0)
    net = cnnrank.TwoLayerCNN.init(m=40, d=2000, init_std=0.01,
                                   activation=cnnrank.HuberizedReLU(kappa=1.0, q=3), rng=1)
    traj = cnnrank.train(net, data, lr=2.0, steps=3000)
    traj.filter_stable_rank[-1], cnnrank.stable_rank(data.X.reshape(128, -1))

Sibling subpackages: :mod:`cnnrank.linear` (linear CNNs, dominant frequencies) and
:mod:`cnnrank.collapse` (neural collapse); :mod:`cnnrank.testing` (gradient checks, hypothesis
strategies).
"""

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # "python -m cnnrank": a signal during the imports below gets one line too
    from cnnrank._signals import install_early as _install_early

    _install_early()
from cnnrank._version import __version__
from cnnrank.activations import Activation, HuberizedReLU, PolyReLU, ReLU, activation_from_spec, register_activation
from cnnrank.batched import train_batched
from cnnrank.data import PatchData, SignalNoiseModel
from cnnrank.errors import TrainingDiverged
from cnnrank.gram_sample import GramSample, sample_gram
from cnnrank.network import TwoLayerCNN, logistic_loss, loss_and_grad, network_output
from cnnrank.rank import (
    data_matrix,
    data_rank_report,
    effective_rank,
    filter_matrix,
    numerical_rank,
    patch_matrix,
    principal_angles,
    stable_rank,
)
from cnnrank.results import ResultsFileError
from cnnrank.train import train, train_adaptive, train_implicit
from cnnrank.trajectory import Trajectory, signal_noise_coefficients

_SUBMODULES = ("theory", "experiments", "sweeps", "plotting", "testing", "linear", "collapse", "datasets",
               "engines", "rank", "results", "batched", "subspace")


def __getattr__(name: str):
    """Sibling modules on first use: ``cnnrank.linear``, ``cnnrank.collapse``, ``cnnrank.theory``, …"""
    if name in _SUBMODULES:
        import importlib

        return importlib.import_module(f"cnnrank.{name}")
    raise AttributeError(f"module 'cnnrank' has no attribute {name!r}")


__all__ = [
    "Activation",
    "GramSample",
    "HuberizedReLU",
    "PatchData",
    "PolyReLU",
    "ReLU",
    "ResultsFileError",
    "SignalNoiseModel",
    "TrainingDiverged",
    "Trajectory",
    "TwoLayerCNN",
    "__version__",
    "activation_from_spec",
    "data_matrix",
    "data_rank_report",
    "effective_rank",
    "filter_matrix",
    "logistic_loss",
    "loss_and_grad",
    "network_output",
    "numerical_rank",
    "patch_matrix",
    "principal_angles",
    "register_activation",
    "sample_gram",
    "signal_noise_coefficients",
    "stable_rank",
    "train",
    "train_adaptive",
    "train_batched",
    "train_implicit",
]
