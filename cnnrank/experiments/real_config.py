"""Configuration of the real-image rank-versus-noise sweep: :class:`RealRankConfig` and its validation.

The frozen dataclass holds the image, noise and patch fields, a :class:`NetworkSpec` and a
:class:`TrainingSpec` (:data:`DEFAULT_TRAINING` unless changed); it is built and read flat and
validated on creation. The preprocessing it names is :mod:`cnnrank.experiments.preprocess`, the run
:func:`cnnrank.experiments.real_images.run_real_rank` (which re-exports these names).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cnnrank._validation import check_choice, check_int, check_real
from cnnrank.activations import Activation
from cnnrank.datasets.cifar10 import load_cifar10
from cnnrank.datasets.mnist import load_mnist
from cnnrank.datasets.noise import to_patches
from cnnrank.experiments.specs import FlatParts, NetworkSpec, TrainingSpec, field_names, flat_changes

__all__ = ["DEFAULT_TRAINING", "NOISE_MODES", "PREPROCESSING", "REAL_FLAT_FIELDS", "SPLITS", "RealRankConfig"]

_LOADERS = {"mnist": load_mnist, "cifar10": load_cifar10}
PREPROCESSING = ("standardize", "center", "none")

#: the training of every noise level unless changed: η = 0.5, 1000 steps, ten records, the feature engine
DEFAULT_TRAINING = TrainingSpec(lr=0.5, steps=1000, record_every=100, engine="feature")
_TRAINING_EXTRA = ("record_every", "engine")
#: the fields written by :meth:`RealRankConfig.to_dict` only when they differ from these defaults, so the
#: records of configurations that do not use them are the same as before the fields existed
_WRITTEN_IF_CHANGED: dict[str, Any] = {
    "patch_stride": None, "head": "fixed", "a0": None, "optimizer": "gd", "adam_beta1": 0.9,
    "adam_beta2": 0.999, "adam_eps": 1e-8, "batch_size": None, "weight_decay": 0.0}
#: the training variants and the optimizer (docs/theory.md, "Training variants", "Sign descent and Adam")
VARIANT_FIELDS = ("head", "a0", "optimizer", "adam_beta1", "adam_beta2", "adam_eps", "batch_size", "weight_decay")
_NETWORK_FIELDS = tuple(f for f in field_names(NetworkSpec) if f not in ("head", "a0"))
_PARTS = {"network": field_names(NetworkSpec), "training": field_names(TrainingSpec)}
_OWN_FIELDS = ("dataset", "split", "classes", "n_train", "n_test", "preprocess", "grayscale", "noise_mode",
               "noise_std", "threshold", "canvas_size", "patch_size", "reference_energy")
#: the flat field names of a :class:`RealRankConfig`, in the order of :meth:`RealRankConfig.to_dict`
REAL_FLAT_FIELDS: tuple[str, ...] = (*_OWN_FIELDS, *_NETWORK_FIELDS, "lr", "steps", "seed",
                                     *_TRAINING_EXTRA, "patch_stride", *VARIANT_FIELDS)
#: the choices of ``noise_mode``
NOISE_MODES = ("background", "canvas", "image")
#: the choices of ``split``: one file set for both parts, or the training files and the test files
SPLITS = ("train", "test", "heldout")


def _record_every(steps: int) -> int:
    return max(1, steps // 10)


@dataclasses.dataclass(frozen=True, init=False)
class RealRankConfig(FlatParts):
    """Configuration of a real-image rank-versus-noise sweep (validated on creation).

    Composed of the image and noise fields below, a :class:`NetworkSpec` (``network``: ``m``,
    ``init_std``, ``activation``, ``kappa``) and a :class:`TrainingSpec` (``training``: ``lr``,
    ``steps``; ``record_every`` follows ``steps`` — ten records per run — and the engine is
    ``"feature"``). Built and read flat like :class:`~cnnrank.experiments.runs.RunConfig`:
    ``RealRankConfig(m=20, lr=1.0)``, ``config.m``, ``config.replace(steps=100)``. The training variants
    of :class:`RunConfig` (``head``, ``a0``, ``batch_size``, ``weight_decay``; docs/theory.md, "Training
    variants") and the optimizer (``optimizer``, ``adam_beta1``, ``adam_beta2``, ``adam_eps``; "Sign
    descent and Adam") are accepted flat too, validated by the parts, and train every noise level as
    they train a run (:func:`cnnrank.experiments.runs.run_once`).

    Attributes
    ----------
    dataset : {"mnist", "cifar10"}
    split : {"train", "test", "heldout"}
        The file set the task is drawn from (both of its splits come from it), or ``"heldout"``: the
        training images from the training files, the test images from the test files
        (:func:`cnnrank.datasets.tasks.heldout_task`; CIFAR-10: ``data_batch_*`` and ``test_batch``), so no
        test image is ever a training image.
    preprocess : {"standardize", "center", "none"}
        Applied to each clean image before the noise (:mod:`cnnrank.experiments.real_images`): ``"standardize"`` (zero mean,
        unit pixel standard deviation per image, over pixels and channels), ``"center"`` (minus the
        mean clean training image) or ``"none"`` (pixels in ``[0, 1]``). It sets the unit of ``σ``.
    grayscale : bool
        Average the colour channels first (CIFAR-10; MNIST has one channel).
    classes : (int, int)
        Source labels for ``y = +1`` and ``y = -1``.
    n_train, n_test : int or None
        Balanced training and held-out test sizes. ``None`` (only with ``split="heldout"``): every image
        of the two classes in its file set.
    noise_mode : {"background", "canvas", "image"}
        ``"background"``: :func:`add_background_noise` on pixels below ``threshold``;
        ``"canvas"``: :func:`embed_in_noise_canvas` (centred) in a ``canvas_size`` square;
        ``"image"``: i.i.d. ``N(0, σ²)`` on every pixel of the image (for images without a background,
        when the patches are too large for a canvas to leave any patch free of the image).
    noise_std : tuple of float
        Noise levels ``σ >= 0`` in the units of the preprocessed clean images (``"standardize"``: the
        image's pixel standard deviation; ``"none"``: pixel intensity, 1 = full), swept in this order.
    threshold : float
        Background threshold on the raw pixels in ``[0, 1]`` (``"background"`` mode).
    canvas_size : int or None
        Canvas side (``"canvas"`` mode); ``None`` means twice the image side.
    patch_size : int
        ``k``: ``k × k`` patches; without ``patch_stride`` non-overlapping, and ``k`` must divide the
        (canvas) image side.
    patch_stride : int or None
        ``s``: overlapping patches at every ``s`` pixels (:func:`cnnrank.datasets.noise.to_patches`),
        ``(side - k) // s + 1`` positions per axis; the patch must fit in the (canvas) image. ``None``:
        ``s = k``, the non-overlapping patches.
    reference_energy : float in (0, 1]
        Share of the clean training patches' energy held by the reference subspace
        (:func:`cnnrank.subspace.principal_subspace`).
    m : int
        Filters per class.
    init_std : float
        ``σ_0`` of the initial filters.
    activation : str
        ``"huber<q>"`` (Huberized ReLU, e.g. ``"huber3"``), ``"relu"`` or ``"poly<q>"``.
    kappa : float
        Huberized ReLU threshold.
    lr : float
        Step size ``η``.
    steps : int
        Gradient-descent steps per noise level.
    seed : int
        Root seed (see :mod:`cnnrank.experiments.real_images`).
    head, a0, batch_size, weight_decay, optimizer, adam_beta1, adam_beta2, adam_eps
        As in :class:`~cnnrank.experiments.specs.NetworkSpec` and
        :class:`~cnnrank.experiments.specs.TrainingSpec` (defaults: the theorem's fixed head, full-batch
        gradient descent, no weight decay); ``batch_size`` at most ``n_train``.
    """

    dataset: str
    split: str
    classes: tuple[int, int]
    n_train: int | None
    n_test: int | None
    preprocess: str
    grayscale: bool
    noise_mode: str
    noise_std: tuple[float, ...]
    threshold: float
    canvas_size: int | None
    patch_size: int
    reference_energy: float
    patch_stride: int | None
    network: NetworkSpec
    training: TrainingSpec
    seed: int

    def __init__(self, dataset: str = "mnist", split: str = "test", classes: tuple[int, int] = (0, 1),
                 n_train: int | None = 400, n_test: int | None = 1000, preprocess: str = "standardize",
                 grayscale: bool = False, noise_mode: str = "background",
                 noise_std: tuple[float, ...] = (0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0), threshold: float = 0.1,
                 canvas_size: int | None = None, patch_size: int = 14, reference_energy: float = 0.9,
                 network: NetworkSpec | None = None, training: TrainingSpec | None = None, seed: int = 0,
                 patch_stride: int | None = None, **flat: Any) -> None:
        own = dict(dataset=dataset, split=split, classes=classes, n_train=n_train, n_test=n_test,
                   preprocess=preprocess, grayscale=grayscale, noise_mode=noise_mode, noise_std=noise_std,
                   threshold=threshold, canvas_size=canvas_size, patch_size=patch_size,
                   reference_energy=reference_energy, seed=seed, patch_stride=patch_stride)
        for k, v in own.items():
            object.__setattr__(self, k, v)
        split_ = flat_changes("RealRankConfig", flat, _PARTS)
        net = NetworkSpec() if network is None else network
        if not isinstance(net, NetworkSpec):
            raise TypeError(f"network={type(net).__name__} is invalid: must be a NetworkSpec")
        tr = DEFAULT_TRAINING if training is None else training
        if not isinstance(tr, TrainingSpec):
            raise TypeError(f"training={type(tr).__name__} is invalid: must be a TrainingSpec")
        changes = split_["training"]
        if "steps" in changes:  # ten records per run
            changes["record_every"] = _record_every(check_int("steps", changes["steps"], minimum=1))
        object.__setattr__(self, "network", dataclasses.replace(net, **split_["network"]))
        object.__setattr__(self, "training", dataclasses.replace(tr, **changes))
        self._validate()

    # the flat view of the parts (m, lr, steps, ..., training_variant) is inherited from FlatParts

    def _validate(self) -> None:
        check_choice("dataset", self.dataset, tuple(_LOADERS))
        check_choice("split", self.split, SPLITS)
        if len(tuple(self.classes)) != 2:
            raise ValueError(f"classes={self.classes!r} is invalid: must be two class labels")
        classes = tuple(check_int("classes", c, minimum=0, maximum=9) for c in self.classes)
        if classes[0] == classes[1]:
            raise ValueError(f"classes={self.classes!r} is invalid: the two classes must differ")
        object.__setattr__(self, "classes", classes)
        for name, low in (("n_train", 2), ("n_test", 1)):
            if getattr(self, name) is None:
                if self.split != "heldout":
                    raise ValueError(f"{name}=None is invalid with split={self.split!r}: every image of the two "
                                     "classes is only taken with split='heldout' (give a number)")
            else:
                check_int(name, getattr(self, name), minimum=low)
        if self.batch_size is not None and self.n_train is not None and self.batch_size > self.n_train:
            raise ValueError(f"batch_size={self.batch_size} is invalid: must be at most n_train={self.n_train}")
        check_choice("preprocess", self.preprocess, PREPROCESSING)
        if not isinstance(self.grayscale, (bool, np.bool_)):
            raise ValueError(f"grayscale={self.grayscale!r} is invalid: must be True or False")
        object.__setattr__(self, "grayscale", bool(self.grayscale))
        check_real("reference_energy", self.reference_energy, positive=True, maximum=1.0)
        check_choice("noise_mode", self.noise_mode, NOISE_MODES)
        noise = tuple(check_real("noise_std", s, nonnegative=True) for s in tuple(self.noise_std))
        if not noise:
            raise ValueError("noise_std=() is invalid: must hold at least one noise level")
        object.__setattr__(self, "noise_std", noise)
        check_real("threshold", self.threshold, positive=True)
        if self.canvas_size is not None:
            check_int("canvas_size", self.canvas_size, minimum=1)
        check_int("patch_size", self.patch_size, minimum=1)
        side = self.image_side
        if self.noise_mode == "canvas" and side < self.native_side:
            raise ValueError(f"canvas_size={self.canvas_size} is invalid: must be at least the image "
                             f"side {self.native_side}")
        where = "canvas" if self.noise_mode == "canvas" else "image"
        if self.patch_stride is not None:
            check_int("patch_stride", self.patch_stride, minimum=1)
            if self.patch_size > side:
                raise ValueError(f"patch_size={self.patch_size} is invalid: the patch must fit in the {where} "
                                 f"side {side}")
        elif side % self.patch_size:
            raise ValueError(f"patch_size={self.patch_size} is invalid: must divide the {where} side {side} "
                             "(or give patch_stride for overlapping patches)")
        check_int("steps", self.steps, minimum=1)  # the parts validate the rest of their fields
        check_int("seed", self.seed, minimum=0)

    @property
    def native_side(self) -> int:
        """Side of the dataset's images: 28 (MNIST) or 32 (CIFAR-10)."""
        return 28 if self.dataset == "mnist" else 32

    @property
    def image_side(self) -> int:
        """Side of the images that are cut into patches (the canvas in ``"canvas"`` mode)."""
        if self.noise_mode == "canvas":
            return 2 * self.native_side if self.canvas_size is None else self.canvas_size
        return self.native_side

    def make_activation(self) -> Activation:
        """The activation object named by :attr:`activation`."""
        return self.network.make_activation()

    @property
    def patch_positions(self) -> int:
        """``P``, the patches per image: ``(side / k)²`` or, with a stride ``s``, ``((side - k) // s + 1)²``."""
        side, k = self.image_side, self.patch_size
        q = side // k if self.patch_stride is None else (side - k) // self.patch_stride + 1
        return q * q

    def patches(self, images: np.ndarray) -> np.ndarray:
        """The ``(n, P, d)`` patches of ``images`` (n, S, S, C) (:func:`cnnrank.datasets.noise.to_patches`)."""
        return to_patches(images, self.patch_size, self.patch_stride)

    def replace(self, **changes: Any) -> RealRankConfig:
        """A copy with some fields changed, flat or parts (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able flat dict of the fields, in the order of :data:`REAL_FLAT_FIELDS`.

        ``record_every`` and ``engine`` are written only when they differ from what the sweep uses
        by default (``max(1, steps // 10)`` and ``"feature"``), so the dict is the same as before the
        configuration was composed of parts; ``patch_stride`` and the training variants' fields only
        when they differ from their defaults (the theorem's network and full-batch gradient descent), so
        the records of default configurations are unchanged bit for bit.
        """
        out: dict[str, Any] = {}
        for name in REAL_FLAT_FIELDS:
            value = getattr(self, name) if name not in _TRAINING_EXTRA else getattr(self.training, name)
            if name == "record_every" and value == _record_every(self.steps):
                continue
            if name == "engine" and value == DEFAULT_TRAINING.engine:
                continue
            if name in _WRITTEN_IF_CHANGED and value == _WRITTEN_IF_CHANGED[name]:
                continue
            out[name] = list(value) if isinstance(value, tuple) else value
        return out

