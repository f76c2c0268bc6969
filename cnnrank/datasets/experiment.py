"""Stable rank of real images versus background noise, and of the CNN trained on them.

:func:`run_real_rank` takes a binary task from MNIST or CIFAR-10, adds background noise of each level
in :attr:`RealRankConfig.noise_std` (on the background pixels, or as a canvas around the image), cuts
the images into patches, trains the two-layer CNN of THEORY.md §2 by full-batch gradient descent, and
records, per noise level,

* the stable rank ``‖A‖_F² / ‖A‖_2²`` of the data matrix (samples as rows, ``n × P d``) and of the
  patch matrix (patches as rows, ``n P × d``), for the noisy and the clean training images;
* the stable rank of the trained filters ``W`` (``2m × d``) and of their learned part ``W - W(0)``;
* training loss, training and test accuracy.

Seeds: ``SeedSequence(seed).spawn(4)`` gives the streams of the train/test split, the training noise,
the test noise and the initial filters. The *same* streams are used at every noise level, so the
levels differ only by the factor ``noise_std`` on one noise pattern and share one initialization
(common random numbers): the curves are smooth in the noise level.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any, Callable

import numpy as np

from cnnrank._blas import blas_threads
from cnnrank._validation import check_choice, check_int, check_real
from cnnrank.datasets.noise import add_background_noise, embed_in_noise_canvas, to_patches
from cnnrank.datasets._files import ImageSet
from cnnrank.datasets.cifar10 import load_cifar10
from cnnrank.datasets.mnist import load_mnist
from cnnrank.datasets.tasks import BinaryImageTask, binary_task
from cnnrank.results import SavableResult

__all__ = ["RealRankConfig", "RealRankResult", "run_real_rank", "noisy_images"]

_LOADERS = {"mnist": load_mnist, "cifar10": load_cifar10}


@dataclasses.dataclass(frozen=True)
class RealRankConfig:
    """Configuration of a real-image rank-versus-noise sweep (validated on creation).

    Attributes
    ----------
    dataset : {"mnist", "cifar10"}
    split : {"train", "test"}
        The file set the task is drawn from (both of its splits come from it).
    classes : (int, int)
        Source labels for ``y = +1`` and ``y = -1``.
    n_train, n_test : int
        Balanced training and held-out test sizes.
    noise_mode : {"background", "canvas"}
        ``"background"``: :func:`add_background_noise` on pixels below ``threshold``;
        ``"canvas"``: :func:`embed_in_noise_canvas` (centred) in a ``canvas_size`` square.
    noise_std : tuple of float
        Noise levels ``σ >= 0`` (pixel units: 1 is full intensity), swept in this order.
    threshold : float
        Background threshold (``"background"`` mode).
    canvas_size : int or None
        Canvas side (``"canvas"`` mode); ``None`` means twice the image side.
    patch_size : int
        ``k``: non-overlapping ``k × k`` patches, must divide the (canvas) image side.
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
        Root seed (see the module docstring).
    """

    dataset: str = "mnist"
    split: str = "test"
    classes: tuple[int, int] = (0, 1)
    n_train: int = 400
    n_test: int = 1000
    noise_mode: str = "background"
    noise_std: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 1.5, 2.0)
    threshold: float = 0.1
    canvas_size: int | None = None
    patch_size: int = 14
    m: int = 40
    init_std: float = 0.01
    activation: str = "huber3"
    kappa: float = 1.0
    lr: float = 5.0
    steps: int = 1000
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice("dataset", self.dataset, tuple(_LOADERS))
        check_choice("split", self.split, ("train", "test"))
        if len(tuple(self.classes)) != 2:
            raise ValueError(f"classes={self.classes!r} is invalid: must be two class labels")
        classes = tuple(check_int("classes", c, minimum=0, maximum=9) for c in self.classes)
        if classes[0] == classes[1]:
            raise ValueError(f"classes={self.classes!r} is invalid: the two classes must differ")
        object.__setattr__(self, "classes", classes)
        check_int("n_train", self.n_train, minimum=2)
        check_int("n_test", self.n_test, minimum=1)
        check_choice("noise_mode", self.noise_mode, ("background", "canvas"))
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
        if side % self.patch_size:
            where = "canvas" if self.noise_mode == "canvas" else "image"
            raise ValueError(f"patch_size={self.patch_size} is invalid: must divide the {where} side {side}")
        check_int("m", self.m, minimum=1)
        check_real("init_std", self.init_std, nonnegative=True)
        check_real("kappa", self.kappa, positive=True)
        self.make_activation()
        check_real("lr", self.lr, positive=True)
        check_int("steps", self.steps, minimum=1)
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

    def make_activation(self):
        """The activation object named by :attr:`activation`."""
        from cnnrank.activations import parse_activation

        return parse_activation(self.activation, kappa=self.kappa)

    def replace(self, **changes: Any) -> "RealRankConfig":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields."""
        out = dataclasses.asdict(self)
        out["classes"] = list(self.classes)
        out["noise_std"] = list(self.noise_std)
        return out


@dataclasses.dataclass(eq=False)
class RealRankResult(SavableResult):
    """What :func:`run_real_rank` measured; arrays have one entry per noise level (shape ``(L,)``).

    Attributes
    ----------
    noise_std : ndarray (L,)
    data_stable_rank, clean_data_stable_rank : ndarray (L,)
        Stable rank of the training data matrix ``n × P d``, noisy and clean (the clean one does not
        depend on the level; repeated so that each row of the table is complete).
    patch_stable_rank, clean_patch_stable_rank : ndarray (L,)
        Same for the patch matrix ``n P × d``.
    filter_stable_rank, learned_stable_rank : ndarray (L,)
        Stable rank of the trained filters ``W`` (``2m × d``) and of ``W - W(0)``.
    filter_stable_rank_path : ndarray (L, R)
        Stable rank of ``W`` at the ``R`` records ``record_steps`` of each run.
    record_steps : ndarray (R,)
    train_loss, train_acc, test_acc : ndarray (L,)
        At the end of training.
    config : dict
        :meth:`RealRankConfig.to_dict`.
    seeds : dict
        Root seed, its entropy and the streams derived from it.
    data : dict
        Dataset name, split, files, class names, shapes ``n``, ``P``, ``d``.
    seconds : float
        Wall-clock time of the sweep (loading excluded).
    """

    noise_std: np.ndarray
    data_stable_rank: np.ndarray
    clean_data_stable_rank: np.ndarray
    patch_stable_rank: np.ndarray
    clean_patch_stable_rank: np.ndarray
    filter_stable_rank: np.ndarray
    learned_stable_rank: np.ndarray
    filter_stable_rank_path: np.ndarray
    record_steps: np.ndarray
    train_loss: np.ndarray
    train_acc: np.ndarray
    test_acc: np.ndarray
    config: dict
    seeds: dict
    data: dict
    seconds: float

    _kind = "RealRankResult"

    def to_json(self) -> dict[str, Any]:
        """The JSON record written by the ``reproduce`` commands (lists instead of arrays)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            out[f.name] = value.tolist() if isinstance(value, np.ndarray) else value
        return out

    def rows(self) -> list[dict[str, float]]:
        """One dict per noise level, for printing a table."""
        keys = ("data_stable_rank", "clean_data_stable_rank", "patch_stable_rank", "clean_patch_stable_rank",
                "filter_stable_rank", "learned_stable_rank", "train_acc", "test_acc")
        return [{"noise_std": float(s), **{k: float(getattr(self, k)[i]) for k in keys}}
                for i, s in enumerate(self.noise_std)]

    def summary(self) -> dict[str, float]:
        """Headline numbers: data stable rank growth factor and the filters' stable rank range."""
        d, f = self.data_stable_rank, self.filter_stable_rank
        return {
            "data_growth": float(d.max() / d[0]) if d[0] > 0 else float("nan"),
            "patch_growth": float(self.patch_stable_rank.max() / self.patch_stable_rank[0])
            if self.patch_stable_rank[0] > 0 else float("nan"),
            "filter_min": float(f.min()),
            "filter_max": float(f.max()),
            "test_acc_min": float(self.test_acc.min()),
            "test_acc_max": float(self.test_acc.max()),
        }


def noisy_images(config: RealRankConfig, images: np.ndarray, noise_std: float, rng: Any) -> np.ndarray:
    """``images`` (n, H, W, C) with the config's kind of background noise of level ``noise_std``.

    Returns an array ``(n, S, S, C)`` (``S`` = :attr:`RealRankConfig.image_side`).
    """
    if config.noise_mode == "background":
        return add_background_noise(images, noise_std, threshold=config.threshold, rng=rng)
    return embed_in_noise_canvas(images, config.image_side, noise_std, position="center", rng=rng)


def _stable_ranks(X: np.ndarray) -> tuple[float, float]:
    from cnnrank.rank import data_matrix, patch_matrix, stable_rank

    return stable_rank(data_matrix(X)), stable_rank(patch_matrix(X))


def run_real_rank(
    config: RealRankConfig,
    images: ImageSet | None = None,
    data_dir: str | os.PathLike | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
) -> RealRankResult:
    """Sweep the background noise on a real binary task and measure data and filter stable ranks.

    Parameters
    ----------
    config : RealRankConfig
    images : ImageSet, optional
        The source images; loaded from ``data_dir`` (``config.dataset``, ``config.split``) if absent.
    data_dir : path, optional
        Data directory (``None``: ``$CNNRANK_DATA``); used only when ``images`` is ``None``.
    callback : callable, optional
        Called with the row of each noise level (see :meth:`RealRankResult.rows`) as it completes.

    Returns
    -------
    RealRankResult

    Raises
    ------
    DatasetError
        The data cannot be loaded.
    ValueError
        The two classes hold fewer than ``n_train + n_test`` usable images.
    cnnrank.TrainingDiverged
        Gradient descent blew up (lower ``lr``).
    """
    from cnnrank.data import PatchData
    from cnnrank.network import TwoLayerCNN
    from cnnrank.engines import FeatureEngine
    from cnnrank.experiments import MODERATE_RUN_FLOPS
    from cnnrank.train import record_steps, train

    if not isinstance(config, RealRankConfig):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RealRankConfig")
    if images is None:
        images = _LOADERS[config.dataset](data_dir, split=config.split)
    elif images.name != config.dataset:
        raise ValueError(f"images holds {images.name!r}, but config.dataset={config.dataset!r}")
    sq = np.random.SeedSequence(config.seed)
    split_ss, train_noise_ss, test_noise_ss, init_ss = sq.spawn(4)
    task: BinaryImageTask = binary_task(images, config.classes, n_train=config.n_train,
                                        n_test=config.n_test, rng=np.random.default_rng(split_ss))
    activation = config.make_activation()
    k = config.patch_size
    clean_X = to_patches(noisy_images(config, task.train_images, 0.0, 0), k)
    clean_data, clean_patch = _stable_ranks(clean_X)
    n, P, d = clean_X.shape
    net = TwoLayerCNN.init(config.m, d, config.init_std, activation, rng=np.random.default_rng(init_ss))
    record_every = max(1, config.steps // 10)
    rec = record_steps(config.steps, record_every)

    cols: dict[str, list] = {key: [] for key in (
        "data_stable_rank", "patch_stable_rank", "filter_stable_rank", "learned_stable_rank",
        "filter_stable_rank_path", "train_loss", "train_acc", "test_acc")}
    start = time.perf_counter()
    # one BLAS thread for products this small (see cnnrank._blas): measured 29 s instead of 85-175 s
    # for the default MNIST run on the shared 2-core machine
    small = FeatureEngine.cost_per_step(n, P, d, config.m, 0) < MODERATE_RUN_FLOPS
    with blas_threads(1 if small else None):
        for sigma in config.noise_std:
            X = to_patches(noisy_images(config, task.train_images, sigma, np.random.default_rng(train_noise_ss)), k)
            Xt = to_patches(noisy_images(config, task.test_images, sigma, np.random.default_rng(test_noise_ss)), k)
            data_sr, patch_sr = _stable_ranks(X)
            traj = train(net, PatchData(X=X, y=task.y_train), lr=config.lr, steps=config.steps,
                         record_every=record_every, test=PatchData(X=Xt, y=task.y_test))
            row = {
                "data_stable_rank": data_sr,
                "patch_stable_rank": patch_sr,
                "filter_stable_rank": float(traj.filter_stable_rank[-1]),
                "learned_stable_rank": float(traj.learned_stable_rank[-1]),
                "filter_stable_rank_path": traj.filter_stable_rank.copy(),
                "train_loss": float(traj.train_loss[-1]),
                "train_acc": float(traj.train_acc[-1]),
                "test_acc": float(traj.test_acc[-1]),
            }
            for key, value in row.items():
                cols[key].append(value)
            if callback is not None:
                callback({"noise_std": sigma, "clean_data_stable_rank": clean_data,
                          "clean_patch_stable_rank": clean_patch,
                          **{key: v for key, v in row.items() if key != "filter_stable_rank_path"}})
    seconds = time.perf_counter() - start
    L = len(config.noise_std)
    return RealRankResult(
        noise_std=np.array(config.noise_std),
        data_stable_rank=np.array(cols["data_stable_rank"]),
        clean_data_stable_rank=np.full(L, clean_data),
        patch_stable_rank=np.array(cols["patch_stable_rank"]),
        clean_patch_stable_rank=np.full(L, clean_patch),
        filter_stable_rank=np.array(cols["filter_stable_rank"]),
        learned_stable_rank=np.array(cols["learned_stable_rank"]),
        filter_stable_rank_path=np.array(cols["filter_stable_rank_path"]),
        record_steps=np.asarray(rec, dtype=np.int64),
        train_loss=np.array(cols["train_loss"]),
        train_acc=np.array(cols["train_acc"]),
        test_acc=np.array(cols["test_acc"]),
        config=config.to_dict(),
        seeds={"seed": config.seed, "entropy": str(sq.entropy),
               "streams": "SeedSequence(seed).spawn(4): split, train noise, test noise, initial "
                          "filters; the same streams at every noise level"},
        data={"dataset": task.dataset, "split": images.split, "files": list(images.files),
              "classes": list(task.classes), "class_names": list(task.class_names),
              "n_train": int(n), "n_test": int(task.y_test.size), "P": int(P), "d": int(d),
              "image_side": config.image_side},
        seconds=seconds,
    )
