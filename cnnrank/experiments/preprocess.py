"""Preprocessing of the real images, from the image set to the images that are cut into patches.

Per :class:`~cnnrank.experiments.real_config.RealRankConfig`: the check that the task's two classes
hold enough images (:func:`check_task_sizes`), the grayscale step and the per-image preprocessing
(:func:`preprocess_images`: ``"standardize"``, ``"center"`` or ``"none"``), the background noise or
noise canvas of one level (:func:`noisy_images`), and what ``σ = 1`` means after the preprocessing.
The order and the units are those of :mod:`cnnrank.experiments.real_images` (module docstring).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank.datasets._files import ImageSet
from cnnrank.datasets.noise import background_mask, embed_in_noise_canvas
from cnnrank.experiments.real_config import RealRankConfig

__all__ = ["check_task_sizes", "noisy_images", "preprocess_images"]


def check_task_sizes(config: RealRankConfig, images: ImageSet | tuple[ImageSet, ImageSet]) -> None:
    """Raise a one-line ValueError when the two classes of ``images`` cannot supply ``n_train + n_test``
    balanced images, stating how many of each class the split holds.

    With ``split="heldout"`` ``images`` is the pair (training set, test set): each must supply its own
    size (``None``: every image of the two classes, at least one of each class for training)."""
    a, b = config.classes
    if config.split == "heldout":
        if not (isinstance(images, tuple) and len(images) == 2):
            raise ValueError("split='heldout' needs the pair (training set, test set) of images")
        for s, n, what in ((images[0], config.n_train, "n_train"), (images[1], config.n_test, "n_test")):
            counts = np.bincount(np.asarray(s.labels, dtype=np.int64), minlength=len(s.classes))
            na, nb = int(counts[a]), int(counts[b])
            need = (1, 1) if n is None else (n - n // 2, n // 2)
            if need[0] > na or need[1] > nb:
                raise ValueError(f"{what}={n} is invalid: the {s.split} set of {s.name} holds {na} images of class "
                                 f"{a} ({s.classes[a]}) and {nb} of class {b} ({s.classes[b]}); a balanced {what} "
                                 f"needs {need[0]} and {need[1]}: lower {what} or give None (all of them)")
        return
    if isinstance(images, tuple):
        raise ValueError(f"split={config.split!r} takes one image set, not a pair (the pair is for split='heldout')")
    counts = np.bincount(np.asarray(images.labels, dtype=np.int64), minlength=len(images.classes))
    na, nb = int(counts[a]), int(counts[b])
    assert config.n_train is not None and config.n_test is not None  # None only with split="heldout"
    need_a = (config.n_train - config.n_train // 2) + (config.n_test - config.n_test // 2)
    need_b = config.n_train // 2 + config.n_test // 2
    if need_a > na or need_b > nb:
        usable = 2 * min(na, nb)
        other = "train" if images.split == "test" else "test"
        raise ValueError(
            f"n_train={config.n_train}, n_test={config.n_test} is invalid: the {images.split} split of "
            f"{images.name} holds {na} images of class {a} ({images.classes[a]}) and {nb} of class {b} "
            f"({images.classes[b]}), {usable} usable for balanced splits; balanced splits need {need_a} "
            f"and {need_b}: lower n_train + n_test to at most {usable} or use split={other!r}")



def preprocess_images(config: RealRankConfig, images: np.ndarray, mean_image: np.ndarray | None = None
                      ) -> np.ndarray:
    """The clean images ``(n, H, W, C)`` in ``[0, 1]`` after :attr:`RealRankConfig.grayscale` and
    :attr:`RealRankConfig.preprocess` (``"center"`` subtracts ``mean_image``, the mean clean training
    image after the grayscale step)."""
    x = np.asarray(images, dtype=np.float64)
    if config.grayscale:
        x = x.mean(axis=3, keepdims=True)
    if config.preprocess == "standardize":
        x = x - x.mean(axis=(1, 2, 3), keepdims=True)
        std = x.std(axis=(1, 2, 3), keepdims=True)
        return x / np.where(std > 0, std, 1.0)
    if config.preprocess == "center":
        if mean_image is None:
            raise ValueError('preprocess="center" needs the mean clean training image')
        return x - mean_image
    return x


def noisy_images(config: RealRankConfig, images: np.ndarray, noise_std: float, rng: Any,
                 raw: np.ndarray | None = None) -> np.ndarray:
    """``images`` (n, H, W, C) with the config's kind of background noise of level ``noise_std``.

    ``images`` are the preprocessed clean images; ``raw`` the clean images in ``[0, 1]`` whose pixels
    below ``threshold`` are the background (``"background"`` mode; default ``images``). One standard
    normal per output pixel is drawn whatever the mask, so one ``rng`` gives one noise pattern scaled
    by ``noise_std``; with ``raw = images`` this is :func:`add_background_noise` exactly. ``"image"`` mode
    adds ``noise_std`` times the same draws to every pixel.
    Returns an array ``(n, S, S, C)`` (``S`` = :attr:`RealRankConfig.image_side`).
    """
    images = np.asarray(images, dtype=np.float64)
    if config.noise_mode == "background":
        mask = background_mask(images if raw is None else raw, config.threshold)
        z = np.random.default_rng(rng).standard_normal(images.shape)
        out = images.copy()
        idx = np.broadcast_to(mask[..., None], images.shape)
        out[idx] += noise_std * z[idx]
        return out
    if config.noise_mode == "image":   # every pixel: the same draws as a background covering the image
        return images + noise_std * np.random.default_rng(rng).standard_normal(images.shape)
    return embed_in_noise_canvas(images, config.image_side, noise_std, position="center", rng=rng)



def _noise_units(config: RealRankConfig) -> str:
    """What ``σ = 1`` means, for labels and the JSON record."""
    if config.preprocess == "standardize":
        return "per-image pixel std"
    if config.preprocess == "center":
        return "pixel intensity (1 = full), images centred"
    return "pixel intensity (1 = full)"
