"""Real images: MNIST 0 vs 1 with background noise, as patches for the two-layer CNN.

Loads the MNIST test set (from $CNNRANK_DATA, or ../shared/data/mnist beside the checkout),
standardizes each image (zero mean, unit pixel std), adds Gaussian noise to the background pixels (σ in
units of the image's pixel std), cuts the images into 14×14 patches, trains the CNN, and prints the
stable rank of the data and of the trained filters at each noise level, with the learned-subspace
diagnostics of docs/theory.md §5 against the principal subspace of the clean training patches (90 % of
their energy): the learned dimension and the clean energy fraction of W − W(0).

    python examples/mnist_background_noise.py                          # a few seconds
    CNNRANK_DATA=/path/to/mnist python examples/mnist_background_noise.py

The full sweep with its figure is ``python -m cnnrank reproduce mnist-rank``.
"""

import os
import sys
from pathlib import Path

import numpy as np

import cnnrank
from cnnrank import datasets as ds
from cnnrank.experiments.real_images import RealRankConfig, noisy_images, preprocess_images
from cnnrank.subspace import learned_subspace_report, principal_subspace

quick = os.environ.get("CNNRANK_EXAMPLE_QUICK") == "1"
data_dir = os.environ.get(ds.DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
try:
    mnist = ds.load_mnist(data_dir, split="test")
except ds.DatasetError as exc:
    print(f"skipping: no MNIST files ({exc}); set {ds.DATA_ENV} to a folder holding "
          "t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
    sys.exit(0)

print(f"{mnist.n} images, per class: {mnist.class_counts().tolist()}")
task = ds.binary_task(mnist, (0, 1), n_train=100 if quick else 300, n_test=500, rng=0)
print(f"task {task.class_names[0]} (+1) vs {task.class_names[1]} (-1): "
      f"{task.y_train.size} train, {task.y_test.size} test images {task.image_shape}")
print(f"background (pixels < 0.1): {ds.background_mask(task.train_images).mean():.0%} of each image")

config = RealRankConfig()                                  # preprocess="standardize", background noise
train_pre = preprocess_images(config, task.train_images)    # per image: zero mean, unit pixel std
test_pre = preprocess_images(config, task.test_images)
basis, ref_dim = principal_subspace(cnnrank.patch_matrix(ds.to_patches(train_pre, 14)), energy=0.9)
print(f"reference: principal subspace of the clean patches, dimension {ref_dim} of 196")

net = cnnrank.TwoLayerCNN.init(m=10, d=14 * 14, init_std=0.01,
                               activation=cnnrank.HuberizedReLU(kappa=1.0, q=3), rng=1)
print(f"\n{'sigma':>6} {'srank images':>13} {'srank patches':>14} {'srank W':>8} {'learned dim':>12} "
      f"{'clean energy':>13} {'test acc':>9}")
for sigma in (0.0, 2.0, 6.0):
    # the same rng seed at every level: one noise pattern, scaled by sigma; background = raw pixels < 0.1
    train_imgs = noisy_images(config, train_pre, sigma, rng=2, raw=task.train_images)
    test_imgs = noisy_images(config, test_pre, sigma, rng=3, raw=task.test_images)
    X = ds.to_patches(train_imgs, 14)                      # (n, 4, 196)
    train = cnnrank.PatchData(X=X, y=task.y_train)
    test = cnnrank.PatchData(X=ds.to_patches(test_imgs, 14), y=task.y_test)
    traj = cnnrank.train(net, train, lr=0.5, steps=100 if quick else 500, record_every=100, test=test)
    rep = learned_subspace_report((traj.W_final - traj.W_init).reshape(-1, 196), basis)
    print(f"{sigma:6.2f} {cnnrank.stable_rank(cnnrank.data_matrix(X)):13.2f} "
          f"{cnnrank.stable_rank(cnnrank.patch_matrix(X)):14.2f} "
          f"{traj.filter_stable_rank[-1]:8.2f} {rep['learned_dimension']:12d} "
          f"{rep['energy_fraction']:13.3f} {traj.test_acc[-1]:9.3f}")

# the other way: the clean digit in the middle of a 56x56 canvas of noise
canvas = ds.embed_in_noise_canvas(task.train_images[:4], 56, 0.5, rng=4)
assert np.array_equal(canvas[:, 14:42, 14:42], task.train_images[:4])
print(f"\ncanvas mode: images {canvas.shape} -> patches {ds.to_patches(canvas, 14).shape}")
