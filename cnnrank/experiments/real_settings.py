"""The named settings of the real-image commands: ``"learns"`` (a network that learns) and ``"theorem"``.

``reproduce mnist-rank`` and ``reproduce cifar10-rank`` start from one of these
:class:`~cnnrank.experiments.real_config.RealRankConfig` (``--setting``), and their options change single
fields. Per dataset:

* ``"theorem"``: the network of docs/theory.md §2 as the theorem has it: non-overlapping patches, the fixed
  head ``a_{j,r} = j/m``, full-batch gradient descent. The commands' defaults before the settings existed,
  unchanged (MNIST 0 vs 1; CIFAR-10 airplane vs automobile in a 48 × 48 noise canvas).
* ``"learns"``: the setting found by a search on a validation split carved from the training images only
  (``benchmarks/cifar_search.py``, its results in ``benchmarks/cifar_search_results.json``; see
  docs/real-images.md): overlapping patches, a trainable head, weight decay and Adam on minibatches
  (docs/theory.md, "Training variants", "Sign descent and Adam"). CIFAR-10 airplane vs automobile trains on
  every image of the two classes in the training batches and is scored on every one in ``test_batch``
  (``split="heldout"``); MNIST takes the harder pair 4 vs 9.

The noise levels of each setting span benign to harmful noise and keep the command within two minutes on
two cores with its default ``--workers`` (docs/real-images.md gives the measured times).
"""

from __future__ import annotations

from typing import Any

from cnnrank.experiments.real_config import RealRankConfig

__all__ = ["SETTINGS", "SETTING_NAMES", "real_setting"]

#: the names of the settings, the default first
SETTING_NAMES = ("learns", "theorem")

# The searched network (candidate B of benchmarks/cifar_search_results.json): 24 × 24 colour patches at
# stride 4 (9 patches, d = 1728), 20 filters per class, Huberized ReLU q = 2, κ = 1, σ_0 = 0.01, a trainable
# head, weight decay 0.01, Adam η = 3e-3 (β 0.9 / 0.999, ε 1e-8), 200 steps on minibatches of 128.
_LEARNS_NETWORK: dict[str, Any] = dict(m=20, activation="huber2", kappa=1.0, init_std=0.01, head="trainable",
                       weight_decay=0.01, optimizer="adam", lr=3e-3, adam_beta1=0.9, adam_beta2=0.999,
                       adam_eps=1e-8, steps=200, batch_size=128)

#: ``SETTINGS[dataset][name]``: the configuration each command starts from
SETTINGS: dict[str, dict[str, RealRankConfig]] = {
    "mnist": {
        "learns": RealRankConfig(dataset="mnist", split="test", classes=(4, 9), n_train=900, n_test=1000,
                                 preprocess="standardize", noise_mode="background",
                                 noise_std=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0), patch_size=20, patch_stride=4,
                                 **_LEARNS_NETWORK),
        "theorem": RealRankConfig(),
    },
    "cifar10": {
        "learns": RealRankConfig(dataset="cifar10", split="heldout", classes=(0, 1), n_train=None, n_test=None,
                                 preprocess="standardize", noise_mode="image",
                                 noise_std=(0.0, 0.25, 1.0, 4.0), patch_size=24, patch_stride=4,
                                 **_LEARNS_NETWORK),
        # CIFAR-10 airplane vs automobile: no black background, so the noise goes around the image, in a
        # 48×48 canvas cut into 8×8 colour patches (the 32×32 image is exactly the central 4×4 patches).
        # The training split: the shared subset's test split holds only 97 and 78 images of the two classes.
        # 200 images, 20 filters per class and 500 steps keep the sweep under a minute on 2 cores.
        "theorem": RealRankConfig(dataset="cifar10", split="train", n_train=200, n_test=500, noise_mode="canvas",
                                  canvas_size=48, patch_size=8, m=20, lr=1.0, steps=500,
                                  noise_std=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0)),
    },
}


def real_setting(dataset: str, name: str = "learns") -> RealRankConfig:
    """The named setting ``name`` of ``dataset`` (``"mnist"`` or ``"cifar10"``); one-line ValueError otherwise."""
    if dataset not in SETTINGS:
        raise ValueError(f"dataset={dataset!r} is invalid: must be one of {sorted(SETTINGS)}")
    if name not in SETTING_NAMES:
        raise ValueError(f"setting={name!r} is invalid: must be one of {list(SETTING_NAMES)}")
    return SETTINGS[dataset][name]
