"""Stable rank of real images versus background noise, and of the CNN trained on them.

:func:`run_real_rank` takes a binary task from MNIST or CIFAR-10, preprocesses the clean images
(:attr:`RealRankConfig.preprocess`; optionally to grayscale), adds background noise of each level in
:attr:`RealRankConfig.noise_std` (on the background pixels, or as a canvas around the image), cuts the
images into patches (non-overlapping, or overlapping with :attr:`RealRankConfig.patch_stride`), trains the
two-layer CNN of docs/theory.md §2 (by full-batch gradient descent unless the configuration names a
training variant or another optimizer, trained as :func:`cnnrank.experiments.runs.run_once` trains them),
and records, per noise level,

* the stable rank ``‖A‖_F² / ‖A‖_2²`` of the data matrix (samples as rows, ``n × P d``) and of the
  patch matrix (patches as rows, ``n P × d``), for the noisy and the clean training images;
* the stable rank of the trained filters ``W`` (``2m × d``) and of their learned part ``W - W(0)``;
* the learned-subspace diagnostics of docs/theory.md §5 (:mod:`cnnrank.subspace`) against a
  *reference subspace*: for real images the signal span is unknown, so the reference is the principal
  subspace of the CLEAN training patches holding a share :attr:`RealRankConfig.reference_energy` of
  their energy (:func:`cnnrank.subspace.principal_subspace`). Recorded: its dimension, the *clean
  energy fraction* (share of ``‖W - W(0)‖_F²`` inside it) and the *learned dimension* (singular values
  of the in-reference part above the memorization edge);
* training loss, training and test accuracy.

Preprocessing and noise (in this order): the clean images are preprocessed image by image
(``"standardize"``: minus the image's mean pixel, divided by its pixel standard deviation;
``"center"``: minus the mean clean training image; ``"none"``), then the noise is added. So ``σ`` is in
the units of the preprocessed clean images: with ``"standardize"``, ``σ = 1`` is noise as strong as the
image's own pixel variation. In ``"background"`` mode the background pixels are those of the *raw*
image below ``threshold`` (MNIST: the black surround); in ``"canvas"`` mode the preprocessed image is
placed in the centre of a canvas of pure noise.

Seeds: ``SeedSequence(seed).spawn(4)`` gives the streams of the train/test split, the training noise,
the test noise and the initial filters. The *same* streams are used at every noise level, so the
levels differ only by the factor ``noise_std`` on one noise pattern and share one initialization
(common random numbers): the curves are smooth in the noise level. Minibatch SGD (``batch_size``) draws
its permutations from a fifth child, spawned after the four (which it leaves unchanged), the same at every
level. With ``split="heldout"`` the split stream draws the training images from the training files and
the test images from the test files (:func:`cnnrank.datasets.tasks.heldout_task`).

Under weight decay the learned part is ``W - s(t) W(0)``, ``s(t) = (1 - ηλ)^t`` (docs/theory.md, "Training
variants"); the filter stable rank is that of ``W``.

This module holds the run; its result is :mod:`cnnrank.experiments.real_result`, the configuration :mod:`cnnrank.experiments.real_config`
and the preprocessing :mod:`cnnrank.experiments.preprocess` (their public names are re-exported here).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, cast

import numpy as np

from cnnrank._blas import blas_threads
from cnnrank._schedule import record_steps
from cnnrank.data import PatchData
from cnnrank.datasets._files import ImageSet
from cnnrank.datasets.tasks import BinaryImageTask, binary_task, heldout_task
from cnnrank.experiments.preprocess import _noise_units, check_task_sizes, noisy_images, preprocess_images
from cnnrank.experiments.real_config import _LOADERS, DEFAULT_TRAINING, REAL_FLAT_FIELDS, RealRankConfig
from cnnrank.experiments.real_config import PREPROCESSING as PREPROCESSING  # the choices of ``preprocess``
from cnnrank.experiments.real_result import CLAIM_ACCURACY_DROP, CLAIM_FRACTION_DROP, RealRankResult, claim_range
from cnnrank.experiments.runs import _train_vectors
from cnnrank.rank import data_matrix, patch_matrix, stable_rank
from cnnrank.subspace import learned_subspace_report, principal_subspace

__all__ = [
    "CLAIM_ACCURACY_DROP",
    "CLAIM_FRACTION_DROP",
    "DEFAULT_TRAINING",
    "REAL_FLAT_FIELDS",
    "RealRankConfig",
    "RealRankResult",
    "check_task_sizes",
    "claim_range",
    "load_real_images",
    "noisy_images",
    "preprocess_images",
    "run_real_rank",
]


def _stable_ranks(X: np.ndarray) -> tuple[float, float]:
    return stable_rank(data_matrix(X)), stable_rank(patch_matrix(X))


def _noise_level(item: tuple) -> tuple[float, float, dict[str, Any]]:
    """One noise level of :func:`run_real_rank` (a plain function of its item, so a process pool can run
    it): the noisy patches at ``sigma`` from the level-independent streams, the data stable ranks, the
    training and the learned-subspace report. Returns ``(data stable rank, patch stable rank, row)``."""
    (config, pre_train, pre_test, raw_train, raw_test, y_train, y_test, net, train_noise_ss,
     test_noise_ss, batch_ss, threads, sigma) = item
    with blas_threads(threads):
        X = config.patches(noisy_images(config, pre_train, sigma, np.random.default_rng(train_noise_ss),
                                        raw=raw_train))
        Xt = config.patches(noisy_images(config, pre_test, sigma, np.random.default_rng(test_noise_ss),
                                         raw=raw_test))
        d = X.shape[2]
        data_sr, patch_sr = _stable_ranks(X)
        # the training of RunConfig (gradient descent, its variants, sign descent, Adam); without variants
        # exactly the call of train() the sweep always made. The minibatch permutations: a fresh generator
        # from the same stream at every level.
        variant = config.training_variant(None if batch_ss is None else np.random.default_rng(batch_ss))
        traj = _train_vectors(cast(Any, config), net, PatchData(X=X, y=y_train), PatchData(X=Xt, y=y_test), "auto",
                              False, variant)
        if traj.W_final is None or traj.W_init is None or traj.test_acc is None:  # pragma: no cover
            raise RuntimeError("train() returned a trajectory without filters or test accuracy")
        # the learned part W - s(t) W(0) (s = (1 - ηλ)^t under weight decay, else 1; docs/theory.md)
        s_final = 1.0 if traj.init_scale is None else float(traj.init_scale[-1])
        A = (traj.W_final - s_final * traj.W_init).reshape(-1, d)
        row = {
            "learned_part": A,  # measured against the reference subspace by the caller (_with_report)
            "filter_stable_rank": float(traj.filter_stable_rank[-1]),
            "learned_stable_rank": float(stable_rank(A)),
            "filter_stable_rank_path": traj.filter_stable_rank.copy(),
            "train_loss": float(traj.train_loss[-1]),
            "train_acc": float(traj.train_acc[-1]),
            "test_acc": float(traj.test_acc[-1]),
        }
    return data_sr, patch_sr, row


def _with_report(row: dict[str, Any], basis: np.ndarray, threads: int) -> dict[str, Any]:
    """A level's row with its learned part measured against the reference subspace (docs/theory.md §5), on
    ``threads`` BLAS threads, as the level's other numbers."""
    row = dict(row)
    A = row.pop("learned_part")
    with blas_threads(threads):
        report = learned_subspace_report(A, basis)
    return {**row, "clean_energy_fraction": report["energy_fraction"],
            "learned_dimension": report["learned_dimension"], "memorization_edge": report["memorization_edge"]}


def load_real_images(config: RealRankConfig, data_dir: str | os.PathLike | None = None
                     ) -> ImageSet | tuple[ImageSet, ImageSet]:
    """The image set of ``config`` (its dataset and split) from ``data_dir`` (``None``: ``$CNNRANK_DATA``);
    with ``split="heldout"`` the pair (training set, test set)."""
    load = _LOADERS[config.dataset]
    if config.split == "heldout":
        return load(data_dir, split="train"), load(data_dir, split="test")
    return load(data_dir, split=config.split)


def run_real_rank(
    config: RealRankConfig,
    images: ImageSet | tuple[ImageSet, ImageSet] | None = None,
    data_dir: str | os.PathLike | None = None,
    callback: Callable[[dict[str, float]], None] | None = None,
    executor: Executor | None = None,
) -> RealRankResult:
    """Sweep the background noise on a real binary task; measure data and filter stable ranks and the
    learned subspace against the clean patches' principal subspace.

    Parameters
    ----------
    config : RealRankConfig
    images : ImageSet or (ImageSet, ImageSet), optional
        The source images; loaded from ``data_dir`` (``config.dataset``, ``config.split``) if absent.
        With ``split="heldout"`` the pair (training set, test set) (:func:`load_real_images`).
    data_dir : path, optional
        Data directory (``None``: ``$CNNRANK_DATA``); used only when ``images`` is ``None``.
    callback : callable, optional
        Called with the row of each noise level (see :meth:`RealRankResult.rows`) as it completes, in
        the order of the levels.
    executor : concurrent.futures.Executor, optional
        Runs the noise levels (e.g. ``cnnrank._parallel.make_executor(workers)``); ``None``: one by one
        here. Every level is a function of its own inputs and the level-independent streams: the same
        numbers, bit for bit, whatever the executor.

    Returns
    -------
    RealRankResult

    Raises
    ------
    DatasetError
        The data cannot be loaded.
    ValueError
        The two classes hold fewer than ``n_train + n_test`` usable images (:func:`check_task_sizes`).
    cnnrank.TrainingDiverged
        Gradient descent blew up (lower ``lr``).
    """
    if not isinstance(config, RealRankConfig):
        raise TypeError(f"config={type(config).__name__} is invalid: must be a RealRankConfig")
    if images is None:
        images = load_real_images(config, data_dir)
    for s in images if isinstance(images, tuple) else (images,):
        if s.name != config.dataset:
            raise ValueError(f"images holds {s.name!r}, but config.dataset={config.dataset!r}")
    check_task_sizes(config, images)
    sq = np.random.SeedSequence(config.seed)
    split_ss, train_noise_ss, test_noise_ss, init_ss = sq.spawn(4)
    # minibatch SGD: a fifth child, spawned after the four (which it leaves unchanged), only when used
    batch_ss = sq.spawn(1)[0] if config.batch_size is not None else None
    task: BinaryImageTask
    if isinstance(images, tuple):   # split="heldout": the test images come from the test files
        task = heldout_task(images[0], images[1], config.classes, n_train=config.n_train, n_test=config.n_test,
                            rng=np.random.default_rng(split_ss))
    else:
        task = binary_task(images, config.classes, n_train=config.n_train, n_test=config.n_test,
                           rng=np.random.default_rng(split_ss))
    raw_train = task.train_images.mean(axis=3, keepdims=True) if config.grayscale else task.train_images
    raw_test = task.test_images.mean(axis=3, keepdims=True) if config.grayscale else task.test_images
    mean_image = raw_train.mean(axis=0) if config.preprocess == "center" else None
    pre_train = preprocess_images(config, task.train_images, mean_image)
    pre_test = preprocess_images(config, task.test_images, mean_image)
    clean_X = config.patches(noisy_images(config, pre_train, 0.0, 0, raw=raw_train))
    n, P, d = clean_X.shape
    net = config.network.init(d, rng=np.random.default_rng(init_ss))
    record_every = config.training.record_every
    rec = record_steps(config.steps, record_every)

    cols: dict[str, list] = {key: [] for key in (
        "data_stable_rank", "patch_stable_rank", "filter_stable_rank", "learned_stable_rank",
        "clean_energy_fraction", "learned_dimension", "memorization_edge",
        "filter_stable_rank_path", "train_loss", "train_acc", "test_acc")}
    start = time.perf_counter()
    # Everything on one BLAS thread: the levels, in this process or in a worker (they are what runs side by
    # side, cnnrank._parallel), and the clean data's decompositions. The numbers then do not depend on the
    # machine's or the pool's thread count, and nothing oversubscribes the cores: two 2-thread workers on
    # 2 cores took 2-3 times as long, and a 2-thread SVD of the 8622 × 1728 CIFAR-10 patch matrix took
    # 34-71 s under load.
    common = (config, pre_train, pre_test, raw_train, raw_test, task.y_train, task.y_test, net,
              train_noise_ss, test_noise_ss, batch_ss, 1)
    items = [(*common, sigma) for sigma in config.noise_std]
    # every level is a pure function of its item (the same streams at every level): the same bits on
    # any executor, rows delivered in the order of the levels. With an executor the levels start first
    # and the reference subspace is computed here meanwhile (each level's learned part is measured
    # against it below).
    levels = None if executor is None else executor.map(_noise_level, items)
    with blas_threads(1):
        clean_data, clean_patch = _stable_ranks(clean_X)
        # the reference subspace (docs/theory.md §5): principal subspace of the clean training patches
        basis, ref_dim = principal_subspace(patch_matrix(clean_X), config.reference_energy)
    if levels is None:
        levels = map(_noise_level, items)
    for sigma, (data_sr, patch_sr, raw_row) in zip(config.noise_std, levels):
        row = _with_report(raw_row, basis, 1)
        cols["data_stable_rank"].append(data_sr)
        cols["patch_stable_rank"].append(patch_sr)
        for key, value in row.items():
            cols[key].append(value)
        if callback is not None:
            callback({"noise_std": sigma, "clean_data_stable_rank": clean_data,
                      "clean_patch_stable_rank": clean_patch, "reference_dimension": ref_dim,
                      "data_stable_rank": data_sr, "patch_stable_rank": patch_sr, **{key: v for key, v in row.items() if key != "filter_stable_rank_path"}})
    seconds = time.perf_counter() - start
    L = len(config.noise_std)
    sets = images if isinstance(images, tuple) else (images,)
    return RealRankResult(
        noise_std=np.array(config.noise_std),
        data_stable_rank=np.array(cols["data_stable_rank"]),
        clean_data_stable_rank=np.full(L, clean_data),
        patch_stable_rank=np.array(cols["patch_stable_rank"]),
        clean_patch_stable_rank=np.full(L, clean_patch),
        filter_stable_rank=np.array(cols["filter_stable_rank"]),
        learned_stable_rank=np.array(cols["learned_stable_rank"]),
        clean_energy_fraction=np.array(cols["clean_energy_fraction"]),
        learned_dimension=np.array(cols["learned_dimension"], dtype=np.int64),
        memorization_edge=np.array(cols["memorization_edge"]),
        reference_dimension=int(ref_dim),
        reference_energy=float(config.reference_energy),
        filter_stable_rank_path=np.array(cols["filter_stable_rank_path"]),
        record_steps=np.asarray(rec, dtype=np.int64),
        train_loss=np.array(cols["train_loss"]),
        train_acc=np.array(cols["train_acc"]),
        test_acc=np.array(cols["test_acc"]),
        config=config.to_dict(),
        seeds={"seed": config.seed, "entropy": str(sq.entropy),
               "streams": "SeedSequence(seed).spawn(4): split, train noise, test noise, initial "
                          "filters; the same streams at every noise level"
                          + ("; a fifth child: the minibatch permutations" if batch_ss is not None else "")},
        data={"dataset": task.dataset, "split": config.split if isinstance(images, tuple) else images.split,
              "files": [f for s in sets for f in s.files],
              "classes": list(task.classes), "class_names": list(task.class_names),
              "n_train": int(n), "n_test": int(task.y_test.size), "P": int(P), "d": int(d),
              "image_side": config.image_side, "channels": int(pre_train.shape[3]),
              "preprocess": config.preprocess, "noise_units": _noise_units(config)},
        seconds=seconds,
    )
