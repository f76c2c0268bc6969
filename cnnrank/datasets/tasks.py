"""A binary task from two classes of a real image set, with a held-out test split (from the same set,
or from another file set: :func:`heldout_task`)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from cnnrank._validation import check_int, check_real
from cnnrank.datasets._files import ImageSet
from cnnrank.datasets.noise import to_unit_float

__all__ = ["BinaryImageTask", "binary_task", "heldout_task"]


@dataclasses.dataclass(frozen=True, eq=False)
class BinaryImageTask:
    """Two classes of an image set as a ``+1 / -1`` task, split into training and test images.

    Attributes
    ----------
    train_images : ndarray, shape (n_train, H, W, C), float64
        Clean training images, values in ``[0, 1]``.
    y_train : ndarray, shape (n_train,), float64
        ``+1`` for ``classes[0]``, ``-1`` for ``classes[1]``.
    test_images : ndarray, shape (n_test, H, W, C), float64
    y_test : ndarray, shape (n_test,), float64
    train_index, test_index : ndarray of int64
        Positions of the images in the source :class:`ImageSet` (disjoint).
    classes : (int, int)
        The source labels mapped to ``+1`` and ``-1``.
    class_names : (str, str)
    dataset : str
        Name of the source set (``"mnist"``, ``"cifar10"``).
    """

    train_images: np.ndarray
    y_train: np.ndarray
    test_images: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    test_index: np.ndarray
    classes: tuple[int, int]
    class_names: tuple[str, str]
    dataset: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)``."""
        return tuple(int(s) for s in self.train_images.shape[1:])  # type: ignore[return-value]


def _class_pair(classes: Any, n_classes: int) -> tuple[int, int]:
    """The two distinct class labels of ``classes``, each in ``0 .. n_classes - 1`` (checked)."""
    if len(classes) != 2:
        raise ValueError(f"classes={classes!r} is invalid: must be two class labels")
    a, b = (check_int("classes", c, minimum=0, maximum=n_classes - 1) for c in classes)
    if a == b:
        raise ValueError(f"classes={classes!r} is invalid: the two classes must differ")
    return a, b


def _split_counts(n: int, balanced: bool) -> tuple[int, int]:
    """How many of ``n`` images come from the first and the second class when balanced."""
    return (n - n // 2, n // 2) if balanced else (n, 0)


def binary_task(images: ImageSet, classes: tuple[int, int] = (0, 1), *, n_train: int | None = None,
                n_test: int | None = None, test_fraction: float = 0.2, balanced: bool = True,
                rng: Any = None) -> BinaryImageTask:
    """Build a binary task from two classes of ``images``, with a disjoint, seeded test split.

    Parameters
    ----------
    images : ImageSet
        The source (e.g. from :func:`load_mnist`).
    classes : (int, int)
        Source labels ``(a, b)``; ``a`` becomes ``y = +1`` and ``b`` becomes ``y = -1``.
    n_train, n_test : int or None
        Sizes of the two splits. Both ``None``: every usable image, a ``test_fraction`` of them
        held out. One ``None``: the rest of the usable images.
    test_fraction : float
        In ``(0, 1)``; used only when both sizes are ``None``.
    balanced : bool
        ``True``: each split holds ``ceil(n / 2)`` images of ``a`` and ``floor(n / 2)`` of ``b``
        (the usable images are then ``2 min(count_a, count_b)``); ``False``: the splits are drawn
        from the pooled images of both classes.
    rng : None, int, SeedSequence or Generator
        Normalized with ``np.random.default_rng``; decides which images go where and their order.

    Returns
    -------
    BinaryImageTask

    Raises
    ------
    ValueError
        Bad classes, sizes or fraction, or more images requested than the two classes hold.
    """
    if not isinstance(images, ImageSet):
        raise TypeError(f"images must be an ImageSet, got {type(images).__name__}")
    a, b = _class_pair(classes, len(images.classes))
    test_fraction = check_real("test_fraction", test_fraction, positive=True, below=1.0)
    if n_train is not None:
        n_train = check_int("n_train", n_train, minimum=1)
    if n_test is not None:
        n_test = check_int("n_test", n_test, minimum=1)
    rng = np.random.default_rng(rng)

    idx_a = np.flatnonzero(images.labels == a)
    idx_b = np.flatnonzero(images.labels == b)
    idx_a = idx_a[rng.permutation(idx_a.size)]
    idx_b = idx_b[rng.permutation(idx_b.size)]
    pool = idx_a.size + idx_b.size
    usable = 2 * min(idx_a.size, idx_b.size) if balanced else pool
    if n_train is None and n_test is None:
        n_test = max(1, int(round(test_fraction * usable)))
        n_train = usable - n_test
    elif n_train is None:
        n_train = usable - n_test
    elif n_test is None:
        n_test = usable - n_train
    assert n_train is not None and n_test is not None
    if n_train < 1 or n_test < 1 or n_train + n_test > usable:
        raise ValueError(
            f"n_train={n_train}, n_test={n_test} is invalid: classes {a} and {b} of {images.name} "
            f"hold {idx_a.size} and {idx_b.size} images, {usable} usable"
            f"{' for balanced splits' if balanced else ''}; need n_train, n_test >= 1 and "
            f"n_train + n_test <= {usable}"
        )

    if balanced:
        tr_a, tr_b = _split_counts(n_train, True)
        te_a, te_b = _split_counts(n_test, True)
        if tr_a + te_a > idx_a.size or tr_b + te_b > idx_b.size:
            raise ValueError(
                f"n_train={n_train}, n_test={n_test} is invalid: balanced splits need "
                f"{tr_a + te_a} images of class {a} (has {idx_a.size}) and {tr_b + te_b} of class "
                f"{b} (has {idx_b.size})"
            )
        train = np.concatenate([idx_a[:tr_a], idx_b[:tr_b]])
        test = np.concatenate([idx_a[tr_a:tr_a + te_a], idx_b[tr_b:tr_b + te_b]])
    else:
        both = np.concatenate([idx_a, idx_b])
        both = both[rng.permutation(both.size)]
        train, test = both[:n_train], both[n_train:n_train + n_test]
    train = train[rng.permutation(train.size)]
    test = test[rng.permutation(test.size)]

    def labels(index: np.ndarray) -> np.ndarray:
        return np.where(images.labels[index] == a, 1.0, -1.0)

    return BinaryImageTask(
        train_images=to_unit_float(images.images[train]),
        y_train=labels(train),
        test_images=to_unit_float(images.images[test]),
        y_test=labels(test),
        train_index=train.astype(np.int64),
        test_index=test.astype(np.int64),
        classes=(a, b),
        class_names=(images.classes[a], images.classes[b]),
        dataset=images.name,
    )


def heldout_task(train_set: ImageSet, test_set: ImageSet, classes: tuple[int, int] = (0, 1), *,
                 n_train: int | None = None, n_test: int | None = None, rng: Any = None) -> BinaryImageTask:
    """A binary task whose training images come from ``train_set`` and test images from ``test_set``.

    The held-out protocol: the test images are those of another file set (CIFAR-10: ``test_batch``; MNIST:
    the ``t10k`` files), so they are never among the training images. Each size is ``None`` (every image of
    the two classes in its set, in a seeded order, not balanced) or a number (balanced as in
    :func:`binary_task`: ``ceil(n / 2)`` images of ``classes[0]``, ``floor(n / 2)`` of ``classes[1]``).
    ``rng`` draws the training images first, then the test images. ``train_index`` and ``test_index`` are
    positions in ``train_set`` and ``test_set`` respectively.

    Raises
    ------
    ValueError
        Different datasets, bad classes or sizes, or more images requested than a set holds.
    """
    for name, s in (("train_set", train_set), ("test_set", test_set)):
        if not isinstance(s, ImageSet):
            raise TypeError(f"{name} must be an ImageSet, got {type(s).__name__}")
    if train_set.name != test_set.name:
        raise ValueError(f"train_set holds {train_set.name!r} and test_set {test_set.name!r}: must be one dataset")
    a, b = _class_pair(classes, len(train_set.classes))
    rng = np.random.default_rng(rng)

    def draw(s: ImageSet, n: int | None, what: str) -> np.ndarray:
        idx_a, idx_b = np.flatnonzero(s.labels == a), np.flatnonzero(s.labels == b)
        if n is None:
            both = np.concatenate([idx_a, idx_b])
            return both[rng.permutation(both.size)]
        n = check_int(what, n, minimum=1)
        na, nb = _split_counts(n, True)
        if na > idx_a.size or nb > idx_b.size:
            raise ValueError(f"{what}={n} is invalid: the {s.split} set of {s.name} holds {idx_a.size} images of "
                             f"class {a} and {idx_b.size} of class {b}; a balanced {what} needs {na} and {nb}")
        pick = np.concatenate([idx_a[rng.permutation(idx_a.size)[:na]], idx_b[rng.permutation(idx_b.size)[:nb]]])
        return pick[rng.permutation(pick.size)]

    train = draw(train_set, n_train, "n_train")
    test = draw(test_set, n_test, "n_test")
    return BinaryImageTask(
        train_images=to_unit_float(train_set.images[train]),
        y_train=np.where(train_set.labels[train] == a, 1.0, -1.0),
        test_images=to_unit_float(test_set.images[test]),
        y_test=np.where(test_set.labels[test] == a, 1.0, -1.0),
        train_index=train.astype(np.int64),
        test_index=test.astype(np.int64),
        classes=(a, b),
        class_names=(train_set.classes[a], train_set.classes[b]),
        dataset=train_set.name,
    )
