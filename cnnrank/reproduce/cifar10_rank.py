"""``python -m cnnrank reproduce cifar10-rank``: the real-image rank-versus-noise figure on CIFAR-10
(airplane vs automobile by default, any pair with ``--classes``; each colour image standardized).

``--setting learns`` (the default; :mod:`cnnrank.experiments.real_settings`): the searched network that
learns (24 × 24 patches at stride 4, trainable head, Adam on minibatches, weight decay), noise on every
pixel of the image (``--noise-mode image``), trained on every image of the two classes in
``data_batch_1..5`` and tested on every one in ``test_batch`` (``--split heldout``). ``--setting theorem``: the theorem's network (48 × 48 canvas, 8 × 8
non-overlapping patches, fixed head, full-batch gradient descent) on the training split, the defaults
before the settings existed.

Needs the CIFAR-10 python batches (``data_batch_1..5`` and ``test_batch``) in ``--data-dir`` or
``$CNNRANK_DATA``; nothing is downloaded. Writes ``OUT/cifar10_rank.json``, ``.npz`` and ``.png``.
Options and output as in :mod:`cnnrank.reproduce.mnist_rank`.
"""

from __future__ import annotations

import argparse

from cnnrank.reproduce.mnist_rank import add_real_rank_arguments, run_real_rank_cli

DESCRIPTION = ("Real images: stable rank of CIFAR-10 data and of the trained filters, and the filters' "
               "learned subspace, versus noise on the image (learns) or a noise canvas around it (theorem) "
               "(writes OUT/cifar10_rank.json and .png).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_real_rank_arguments(parser, "cifar10")


def run(args: argparse.Namespace) -> int:
    return run_real_rank_cli(args, "cifar10")
