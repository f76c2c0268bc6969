"""Background noise, canvases, patches and binary tasks on real-image arrays."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnrank import datasets as ds


def digits(n=6, h=8, w=8, c=1, seed=0):
    """Images with a zero background and a bright square 'digit' in [0.3, 1]."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, h, w, c))
    x[:, 2:h - 2, 3:w - 2, :] = rng.uniform(0.3, 1.0, size=(n, h - 4, w - 5, c))
    return x


# --------------------------------------------------------------------------- background noise


def test_background_noise_leaves_foreground_untouched():
    x = digits(c=3)
    x[0, 0, 0, 1] = 0.5    # one channel above threshold: the pixel is foreground
    out = ds.add_background_noise(x, 0.7, threshold=0.1, rng=1)
    mask = ds.background_mask(x, 0.1)
    assert mask.shape == x.shape[:3] and not mask[0, 0, 0]
    np.testing.assert_array_equal(out[~mask], x[~mask])   # bit for bit
    assert np.all(out[mask] != x[mask])
    assert out.dtype == np.float64 and out.shape == x.shape


def test_background_noise_statistics():
    # 4000 x 64 x ~0.6 background entries: the sample std of N(0, 0.5^2) is within 1% w.h.p.
    # (relative standard error 1/sqrt(2 N) ~ 0.0006 for N ~ 1.5e5)
    x = digits(n=4000, seed=2)
    out = ds.add_background_noise(x, 0.5, rng=3)
    noise = (out - x)[ds.background_mask(x)]
    assert abs(noise.std() / 0.5 - 1) < 0.01
    assert abs(noise.mean()) < 0.01


def test_background_noise_is_common_random_numbers_and_seeded():
    x = digits()
    a = ds.add_background_noise(x, 0.3, rng=7)
    b = ds.add_background_noise(x, 0.6, rng=7)
    np.testing.assert_array_equal(a, ds.add_background_noise(x, 0.3, rng=7))
    np.testing.assert_allclose(b - x, 2 * (a - x), rtol=0, atol=1e-15)
    np.testing.assert_array_equal(ds.add_background_noise(x, 0.0, rng=7), x)
    assert not np.array_equal(a, ds.add_background_noise(x, 0.3, rng=8))
    g = np.random.default_rng(7)
    np.testing.assert_array_equal(ds.add_background_noise(x, 0.3, rng=g), a)


@given(
    arrays(np.float64, st.tuples(st.integers(1, 3), st.integers(1, 6), st.integers(1, 6), st.integers(1, 3)),
           elements=st.floats(0, 1)),
    st.floats(0.01, 1.0),
    st.floats(0.0, 3.0),
)
def test_background_noise_property(images, threshold, sigma):
    out = ds.add_background_noise(images, sigma, threshold=threshold, rng=0)
    fg = images.max(axis=3) >= threshold
    np.testing.assert_array_equal(out[fg], images[fg])     # foreground: bit for bit
    z = np.random.default_rng(0).standard_normal(images.shape)
    np.testing.assert_array_equal(out[~fg], images[~fg] + sigma * z[~fg])


@pytest.mark.parametrize("kwargs, match", [
    (dict(noise_std=-1.0), "noise_std"),
    (dict(noise_std=0.1, threshold=0.0), "threshold"),
])
def test_background_noise_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ds.add_background_noise(digits(), **kwargs)
    with pytest.raises(ValueError, match="images"):
        ds.add_background_noise(np.zeros((3, 8, 8)), 0.1)


# --------------------------------------------------------------------------- canvas


def test_canvas_center():
    x = digits(n=3, h=8, w=6, c=2)
    out = ds.embed_in_noise_canvas(x, (16, 12), 0.4, rng=0)
    assert out.shape == (3, 16, 12, 2)
    np.testing.assert_array_equal(out[:, 4:12, 3:9], x)
    border = np.ones((16, 12), bool)
    border[4:12, 3:9] = False
    assert np.all(out[:, border] != 0)
    np.testing.assert_array_equal(ds.embed_in_noise_canvas(x, (16, 12), 0.0)[:, border], 0.0)
    np.testing.assert_array_equal(out, ds.embed_in_noise_canvas(x, (16, 12), 0.4, rng=0))


def test_canvas_random_positions():
    x = np.random.default_rng(0).uniform(10, 11, size=(50, 4, 4, 1))   # far from any noise value
    out = ds.embed_in_noise_canvas(x, 9, 0.1, position="random", rng=4)
    assert out.shape == (50, 9, 9, 1)
    corners = set()
    for i in range(50):   # reference check, one image at a time
        rows, cols = np.nonzero(out[i, :, :, 0] > 5)
        t, left = rows.min(), cols.min()
        corners.add((t, left))
        np.testing.assert_array_equal(out[i, t:t + 4, left:left + 4], x[i])
        assert rows.size == 16
    assert len(corners) > 10   # 36 possible corners, 50 draws


def test_canvas_validation():
    with pytest.raises(ValueError, match="canvas_size"):
        ds.embed_in_noise_canvas(digits(h=8, w=8), 7, 0.1)
    with pytest.raises(ValueError, match="position"):
        ds.embed_in_noise_canvas(digits(), 10, 0.1, position="left")
    with pytest.raises(ValueError, match="noise_std"):
        ds.embed_in_noise_canvas(digits(), 10, float("nan"))


# --------------------------------------------------------------------------- patches


@given(
    arrays(np.float64, st.tuples(st.integers(1, 3), st.sampled_from([2, 4, 6]), st.sampled_from([2, 4]),
                                 st.integers(1, 3)), elements=st.floats(-10, 10)),
    st.sampled_from([1, 2]),
)
def test_patch_roundtrip(images, k):
    X = ds.to_patches(images, k)
    n, h, w, c = images.shape
    assert X.shape == (n, (h // k) * (w // k), k * k * c)
    np.testing.assert_array_equal(ds.from_patches(X, (h, w, c), k), images)


def test_patch_layout_against_definition():
    x = np.arange(2 * 6 * 4 * 3, dtype=float).reshape(2, 6, 4, 3)
    X = ds.to_patches(x, 2)
    for i in range(2):
        for a in range(3):
            for b in range(2):
                np.testing.assert_array_equal(X[i, a * 2 + b], x[i, 2 * a:2 * a + 2, 2 * b:2 * b + 2, :].ravel())


def test_patch_validation():
    with pytest.raises(ValueError, match="patch_size=3"):
        ds.to_patches(np.zeros((1, 8, 8, 1)), 3)
    with pytest.raises(ValueError, match="patches"):
        ds.from_patches(np.zeros((1, 5, 4)), (4, 4, 1), 2)


def test_to_unit_float():
    np.testing.assert_array_equal(ds.to_unit_float(np.array([0, 51, 255], np.uint8).reshape(1, 3, 1, 1)).ravel(),
                                  [0.0, 0.2, 1.0])
    with pytest.raises(ValueError, match=r"\[0, 255\]"):
        ds.to_unit_float(np.full((1, 1, 1, 1), 300))


# --------------------------------------------------------------------------- binary task


def image_set(counts=(30, 20, 25), seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(counts)), counts)
    labels = labels[rng.permutation(labels.size)]
    images = rng.integers(0, 256, size=(labels.size, 4, 4, 1), dtype=np.uint8)
    return ds.ImageSet(images=images, labels=labels, classes=("a", "b", "c"), name="toy", split="test", files=())


def test_binary_task_balanced_split():
    src = image_set()
    task = ds.binary_task(src, (2, 0), n_train=11, n_test=8, rng=1)
    assert task.train_images.shape == (11, 4, 4, 1) and task.test_images.shape == (8, 4, 4, 1)
    assert np.sum(task.y_train == 1) == 6 and np.sum(task.y_train == -1) == 5
    assert np.sum(task.y_test == 1) == 4
    assert not set(task.train_index) & set(task.test_index)
    np.testing.assert_array_equal(np.where(src.labels[task.train_index] == 2, 1.0, -1.0), task.y_train)
    assert set(src.labels[task.test_index]) <= {0, 2}
    np.testing.assert_array_equal(task.train_images, src.images[task.train_index] / 255.0)
    assert task.class_names == ("c", "a") and task.classes == (2, 0) and task.image_shape == (4, 4, 1)


def test_binary_task_defaults_and_reproducible():
    src = image_set()
    t1 = ds.binary_task(src, rng=5)      # classes 0, 1: 30 and 20 images -> 40 usable, 8 held out
    assert (t1.y_train.size, t1.y_test.size) == (32, 8)
    t2 = ds.binary_task(src, rng=5)
    np.testing.assert_array_equal(t1.train_index, t2.train_index)
    np.testing.assert_array_equal(t1.test_index, t2.test_index)
    t3 = ds.binary_task(src, rng=6)
    assert not np.array_equal(t1.train_index, t3.train_index)
    t4 = ds.binary_task(src, n_train=10, balanced=False, rng=0)
    assert (t4.y_train.size, t4.y_test.size) == (10, 40)


@pytest.mark.parametrize("kwargs, match", [
    (dict(classes=(1, 1)), "must differ"),
    (dict(classes=(0, 3)), "classes=3"),
    (dict(n_train=30, n_test=20), "40 usable"),
    (dict(n_train=0), "n_train=0"),
    (dict(test_fraction=1.0), "test_fraction"),
])
def test_binary_task_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ds.binary_task(image_set(), **kwargs)


def test_real_mnist_task_shapes(mnist_dir):
    mnist = ds.load_mnist(mnist_dir, split="test")
    task = ds.binary_task(mnist, (0, 1), n_train=100, n_test=50, rng=0)
    assert task.class_names == ("0", "1")
    X = ds.to_patches(ds.add_background_noise(task.train_images, 0.5, rng=0), 7)
    assert X.shape == (100, 16, 49)
    canvas = ds.embed_in_noise_canvas(task.train_images, 56, 0.5, rng=0)
    assert ds.to_patches(canvas, 14).shape == (100, 16, 196)
