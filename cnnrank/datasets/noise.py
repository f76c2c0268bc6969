"""Background noise on real images, and images as patches.

Two ways of adding background noise, as in the literature:

* :func:`add_background_noise` -- i.i.d. ``N(0, noise_std^2)`` added to the *background* pixels of
  the image, those whose value (largest over channels) is below ``threshold``; foreground pixels are
  left exactly as they were;
* :func:`embed_in_noise_canvas` -- the image placed (unchanged) in a larger canvas whose
  surrounding area is i.i.d. ``N(0, noise_std^2)``.

Both draw one standard normal ``Z`` for every output pixel whatever the mask or ``noise_std``, and add
``noise_std * Z``: with the same ``rng``, a sweep over ``noise_std`` scales one noise pattern
(common random numbers), so the curves it gives are smooth in the noise level.

:func:`to_patches` cuts images into ``k x k`` patches (non-overlapping, stride ``k``, by default;
overlapping with a smaller ``stride``; channels flattened) and returns the ``(n, P, d)`` array the
two-layer CNN takes; :func:`from_patches` is the exact inverse of the non-overlapping cut. Images are
float arrays ``(n, H, W, C)``, channels last, values in ``[0, 1]`` for
clean images (:func:`to_unit_float`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array, check_choice, check_int, check_real

__all__ = [
    "add_background_noise",
    "background_mask",
    "embed_in_noise_canvas",
    "from_patches",
    "to_patches",
    "to_unit_float",
]


def _images(name: str, images: Any) -> np.ndarray:
    arr = as_array(name, images, ndim=4)
    if 0 in arr.shape[1:]:
        raise ValueError(f"{name} has shape {arr.shape} which is invalid: image sides and channels must be >= 1")
    return arr


def to_unit_float(images: Any) -> np.ndarray:
    """Pixels 0..255 as float64 in ``[0, 1]``: ``images / 255``.

    Parameters
    ----------
    images : array_like, shape (n, H, W, C)
        Integer pixel values in 0..255 (e.g. :attr:`ImageSet.images`).

    Returns
    -------
    ndarray, shape (n, H, W, C), float64
    """
    arr = _images("images", images)
    if arr.size and (arr.min() < 0 or arr.max() > 255):
        raise ValueError(f"images is invalid: pixel values must lie in [0, 255], found "
                         f"[{arr.min()}, {arr.max()}]")
    return arr / 255.0


def background_mask(images: Any, threshold: float = 0.1) -> np.ndarray:
    """Which pixels are background: ``max_c images[i, h, w, c] < threshold``.

    Parameters
    ----------
    images : array_like, shape (n, H, W, C)
        Clean images, values in ``[0, 1]``.
    threshold : float
        A pixel is background when all its channels are strictly below it (``> 0``; MNIST's
        background is exactly 0, so any small positive threshold selects it).

    Returns
    -------
    ndarray, shape (n, H, W), bool
    """
    arr = _images("images", images)
    threshold = check_real("threshold", threshold, positive=True)
    return arr.max(axis=3) < threshold


def add_background_noise(images: Any, noise_std: float, *, threshold: float = 0.1,
                         rng: Any = None) -> np.ndarray:
    """Add i.i.d. Gaussian noise to the background pixels of each image.

    ``out = images + noise_std * Z * mask[..., None]`` with ``Z`` standard normal of the shape of
    ``images`` (one draw per pixel and channel, drawn whatever the mask) and ``mask`` the
    :func:`background_mask`. Foreground pixels are returned bit for bit unchanged.

    Parameters
    ----------
    images : array_like, shape (n, H, W, C)
        Clean images, values in ``[0, 1]``.
    noise_std : float
        Standard deviation ``sigma >= 0`` of the noise, in pixel units (1 = full intensity).
    threshold : float
        Background threshold of :func:`background_mask`.
    rng : None, int, SeedSequence or Generator
        Normalized with ``np.random.default_rng``.

    Returns
    -------
    ndarray, shape (n, H, W, C), float64
    """
    arr = _images("images", images)
    noise_std = check_real("noise_std", noise_std, nonnegative=True)
    mask = background_mask(arr, threshold)
    rng = np.random.default_rng(rng)
    z = rng.standard_normal(arr.shape)
    out = arr.copy()
    idx = np.broadcast_to(mask[..., None], arr.shape)
    out[idx] += noise_std * z[idx]
    return out


def embed_in_noise_canvas(images: Any, canvas_size: int | tuple[int, int], noise_std: float, *,
                          position: str = "center", rng: Any = None) -> np.ndarray:
    """Place each image, unchanged, in a larger canvas of i.i.d. ``N(0, noise_std^2)`` pixels.

    Parameters
    ----------
    images : array_like, shape (n, H, W, C)
        Clean images.
    canvas_size : int or (int, int)
        Canvas height and width ``(S_h, S_w)`` with ``S_h >= H`` and ``S_w >= W`` (an int for a
        square canvas).
    noise_std : float
        Standard deviation ``sigma >= 0`` of the surrounding noise.
    position : {"center", "random"}
        ``"center"``: top-left corner at ``((S_h - H) // 2, (S_w - W) // 2)`` for every image;
        ``"random"``: a uniform corner per image, drawn after the noise.
    rng : None, int, SeedSequence or Generator
        Normalized with ``np.random.default_rng``.

    Returns
    -------
    ndarray, shape (n, S_h, S_w, C), float64
        ``out[i, t_i:t_i+H, l_i:l_i+W] == images[i]`` exactly; elsewhere ``noise_std * Z``.
    """
    arr = _images("images", images)
    n, h, w, c = arr.shape
    if isinstance(canvas_size, tuple):
        if len(canvas_size) != 2:
            raise ValueError(f"canvas_size={canvas_size!r} is invalid: must be an int or a pair of ints")
        sh, sw = (check_int("canvas_size", s, minimum=1) for s in canvas_size)
    else:
        sh = sw = check_int("canvas_size", canvas_size, minimum=1)
    if sh < h or sw < w:
        raise ValueError(f"canvas_size={(sh, sw)!r} is invalid: must be at least the image size {(h, w)!r}")
    noise_std = check_real("noise_std", noise_std, nonnegative=True)
    check_choice("position", position, ("center", "random"))
    rng = np.random.default_rng(rng)
    out = noise_std * rng.standard_normal((n, sh, sw, c))
    if position == "center":
        top, left = (sh - h) // 2, (sw - w) // 2
        out[:, top:top + h, left:left + w, :] = arr
        return out
    top = rng.integers(0, sh - h + 1, size=n)
    left = rng.integers(0, sw - w + 1, size=n)
    rows = top[:, None, None] + np.arange(h)[None, :, None]     # (n, h, 1)
    cols = left[:, None, None] + np.arange(w)[None, None, :]    # (n, 1, w)
    out[np.arange(n)[:, None, None], rows, cols, :] = arr
    return out


def to_patches(images: Any, patch_size: int, stride: int | None = None) -> np.ndarray:
    """Cut images into ``k x k`` patches, channels flattened: non-overlapping (stride ``k``) by default,
    or overlapping with a ``stride`` ``s``.

    Patch ``p = a * Q + b`` is the block of rows ``a s .. a s + k - 1`` and columns ``b s .. b s + k - 1``
    (``s = k`` by default), for ``a, b`` in ``0 .. Q - 1`` with ``Q = (side - k) // s + 1`` positions per
    axis; its ``d = k * k * C`` entries are in (row, column, channel) order. Rows or columns that no
    position reaches (when ``s`` does not divide ``side - k``) are left out.

    Parameters
    ----------
    images : array_like, shape (n, H, W, C)
        Without ``stride``, ``H`` and ``W`` must be multiples of ``k``; with one, at least ``k``.
    patch_size : int
        ``k >= 1``.
    stride : int or None
        ``s >= 1``; ``None`` means ``k`` (the non-overlapping patches, cut as before the option existed).

    Returns
    -------
    ndarray, shape (n, P, d), float64
        ``P = (H / k) (W / k)`` patches (``P = Q_H Q_W`` with a stride) of dimension ``d = k^2 C``.
    """
    arr = _images("images", images)
    k = check_int("patch_size", patch_size, minimum=1)
    n, h, w, c = arr.shape
    if stride is not None:
        s = check_int("stride", stride, minimum=1)
        if h < k or w < k:
            raise ValueError(f"patch_size={k} is invalid: the patch must fit in the image height {h} and width {w}")
        qh, qw = (h - k) // s + 1, (w - k) // s + 1
        # (n, qh, qw, C, k, k) windows, a view; then (row, column, channel) order inside each patch
        win = np.lib.stride_tricks.sliding_window_view(arr, (k, k), axis=(1, 2))[:, ::s, ::s]
        return np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3).reshape(n, qh * qw, k * k * c))
    if h % k or w % k:
        raise ValueError(f"patch_size={k} is invalid: must divide the image height {h} and width {w}")
    blocks = arr.reshape(n, h // k, k, w // k, k, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks.reshape(n, (h // k) * (w // k), k * k * c))


def from_patches(patches: Any, image_shape: tuple[int, int, int], patch_size: int) -> np.ndarray:
    """Reassemble images from :func:`to_patches` output (its exact inverse).

    Parameters
    ----------
    patches : array_like, shape (n, P, d)
        ``P = (H / k)(W / k)``, ``d = k^2 C``.
    image_shape : (int, int, int)
        ``(H, W, C)``.
    patch_size : int
        ``k``.

    Returns
    -------
    ndarray, shape (n, H, W, C), float64
    """
    k = check_int("patch_size", patch_size, minimum=1)
    if len(image_shape) != 3:
        raise ValueError(f"image_shape={image_shape!r} is invalid: must be (H, W, C)")
    h, w, c = (check_int("image_shape", s, minimum=1) for s in image_shape)
    if h % k or w % k:
        raise ValueError(f"patch_size={k} is invalid: must divide the image height {h} and width {w}")
    arr = as_array("patches", patches, shape=(None, (h // k) * (w // k), k * k * c))
    n = arr.shape[0]
    blocks = arr.reshape(n, h // k, w // k, k, k, c).transpose(0, 1, 3, 2, 4, 5)
    return np.ascontiguousarray(blocks.reshape(n, h, w, c))
