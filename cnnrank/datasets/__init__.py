"""Real images for cnnrank: MNIST and CIFAR-10 readers, background noise, patches, binary tasks.

Modules: :mod:`~cnnrank.datasets.mnist` and :mod:`~cnnrank.datasets.cifar10` (readers),
:mod:`~cnnrank.datasets.noise` (background noise, patches), :mod:`~cnnrank.datasets.tasks` (binary
tasks). They use numpy and the foundation only (docs/architecture.md: readers never train); the
rank-versus-noise experiment on these images is :mod:`cnnrank.experiments.real_images`, its figure
:mod:`cnnrank.plotting.real_images`. Nothing is downloaded: the readers take a data directory (argument or
``$CNNRANK_DATA``) holding the standard files. A typical pipeline::

    from cnnrank import datasets as ds
    mnist = ds.load_mnist("../shared/data/mnist", split="test")
    task = ds.binary_task(mnist, (0, 1), n_train=400, n_test=400, rng=0)
    noisy = ds.add_background_noise(task.train_images, 0.5, rng=1)      # (n, 28, 28, 1)
    X = ds.to_patches(noisy, 7)                                          # (n, 16, 49)

See ``docs/real-images.md``.
"""

from cnnrank.datasets._files import DATA_ENV, DatasetError, ImageSet, find_data_dir
from cnnrank.datasets.cifar10 import CIFAR10_CLASSES, load_cifar10, read_cifar10_batch
from cnnrank.datasets.mnist import MNIST_CLASSES, load_mnist, read_idx_images, read_idx_labels
from cnnrank.datasets.noise import (
    add_background_noise,
    background_mask,
    embed_in_noise_canvas,
    from_patches,
    to_patches,
    to_unit_float,
)
from cnnrank.datasets.tasks import BinaryImageTask, binary_task, heldout_task

__all__ = [
    "CIFAR10_CLASSES",
    "DATA_ENV",
    "MNIST_CLASSES",
    "BinaryImageTask",
    "DatasetError",
    "ImageSet",
    "add_background_noise",
    "background_mask",
    "binary_task",
    "embed_in_noise_canvas",
    "find_data_dir",
    "from_patches",
    "heldout_task",
    "load_cifar10",
    "load_mnist",
    "read_cifar10_batch",
    "read_idx_images",
    "read_idx_labels",
    "to_patches",
    "to_unit_float",
]
