"""``python -m cnnrank reproduce mnist-rank``: stable rank of real images and of the CNN's filters
versus background noise, with the learned-subspace diagnostics (docs/theory.md §5) against the
principal subspace of the clean training patches; MNIST 0 vs 1 (the shared test set by default).

Writes ``OUT/mnist_rank.json``, ``OUT/mnist_rank.npz`` (:class:`RealRankResult`) and
``OUT/mnist_rank.png``, and prints the table. The experiment itself lives in
:mod:`cnnrank.experiments.real_images`, the figure in :mod:`cnnrank.plotting.real_images`; this module
parses options and prints.
:mod:`cnnrank.reproduce.cifar10_rank` reuses :func:`add_real_rank_arguments` and :func:`run_real_rank_cli`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnrank.reproduce._args import ACTIVATION_HELP, activation_name, comma_list

if TYPE_CHECKING:
    from cnnrank.experiments.real_images import RealRankConfig

DESCRIPTION = ("Real images: stable rank of MNIST 0-vs-1 data (images, patches; clean and noisy) and of "
               "the trained filters versus background noise (writes OUT/mnist_rank.json and .png).")


_floats = comma_list(float, "numbers", lambda v: True, "give at least one noise level")


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two comma-separated class labels, e.g. 0,1") from None
    return a, b


def add_real_rank_arguments(parser: argparse.ArgumentParser, dataset: str) -> None:
    """The options shared by ``mnist-rank`` and ``cifar10-rank``; defaults from :func:`default_config`."""
    from cnnrank.datasets import DATA_ENV
    from cnnrank.reproduce._output import seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument
    from cnnrank.reproduce.simulate import _Swept

    base = default_config(dataset)
    files = ("the MNIST files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] of the official MNIST "
             "distribution" if dataset == "mnist" else
             "the CIFAR-10 python batches data_batch_1..5 and test_batch (cifar-10-batches-py)")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder holding {files}; nothing is downloaded (default: ${DATA_ENV})")
    parser.add_argument("--out", type=Path, default=Path(f"results/{dataset}-rank"),
                        help="output folder")
    parser.add_argument("--seed", type=seed_type, default=base.seed,
                        help="root seed, an integer >= 0")
    parser.add_argument("--noise", type=_floats, default=base.noise_std,
                        help="comma-separated noise levels σ, in units of the preprocessed image "
                             "(standardize: its pixel std)")
    parser.add_argument("--noise-std", action=_Swept, instead="--noise")
    parser.add_argument("--quiet", action="store_true",
                        help="print the table once at the end instead of one row per level as it completes")
    add_workers_argument(parser)
    parser.add_argument("--noise-mode", choices=("background", "canvas"), default=base.noise_mode,
                        help="noise on the background pixels, or a noise canvas around the image")
    parser.add_argument("--threshold", type=float, default=base.threshold,
                        help="background = pixels below this intensity")
    parser.add_argument("--canvas-size", type=int, default=base.canvas_size,
                        help="canvas side in canvas mode (default: twice the image side)")
    parser.add_argument("--split", choices=("train", "test"), default=base.split,
                        help="file set the task is drawn from")
    parser.add_argument("--preprocess", choices=("standardize", "center", "none"), default=base.preprocess,
                        help="per-image standardization, centring on the mean training image, or raw "
                             "pixels; sets the unit of σ")
    parser.add_argument("--grayscale", action=argparse.BooleanOptionalAction, default=base.grayscale,
                        help="average the colour channels")
    parser.add_argument("--reference-energy", type=float, default=base.reference_energy,
                        help="share of the clean patches' energy held by the reference subspace")
    parser.add_argument("--classes", type=_pair, default=base.classes,
                        help="the classes for y=+1 and y=-1")
    parser.add_argument("--n-train", type=int, default=base.n_train, help="training images")
    parser.add_argument("--n-test", type=int, default=base.n_test, help="held-out images")
    parser.add_argument("--patch-size", type=int, default=base.patch_size,
                        help="k: non-overlapping k×k patches")
    parser.add_argument("--m", type=int, default=base.m, help="filters per class")
    parser.add_argument("--init-std", type=float, default=base.init_std, help="σ_0")
    parser.add_argument("--activation", type=activation_name, default=base.activation, help=ACTIVATION_HELP)
    parser.add_argument("--kappa", type=float, default=base.kappa, help="Huberized ReLU κ")
    parser.add_argument("--lr", type=float, default=base.lr, help="step size η")
    parser.add_argument("--steps", type=int, default=base.steps,
                        help="gradient-descent steps per noise level")


def default_config(dataset: str) -> RealRankConfig:
    """The default :class:`RealRankConfig` of each command."""
    from cnnrank.experiments.real_images import RealRankConfig

    if dataset == "mnist":
        return RealRankConfig()
    # CIFAR-10 airplane vs automobile: no black background, so the noise goes around the image, in a
    # 48×48 canvas cut into 8×8 colour patches (the 32×32 image is exactly the central 4×4 patches).
    # The training split: the shared subset's test split holds only 97 and 78 images of the two classes.
    # 200 images, 20 filters per class and 500 steps keep the sweep under a minute on 2 cores.
    return RealRankConfig(dataset="cifar10", split="train", n_train=200, n_test=500, noise_mode="canvas",
                          canvas_size=48, patch_size=8, m=20, lr=1.0, steps=500,
                          noise_std=(0.0, 0.25, 0.5, 1.0, 2.0, 4.0))


def config_from_args(args: argparse.Namespace, dataset: str) -> RealRankConfig:
    """A validated :class:`RealRankConfig` from the parsed options (ValueError on a bad value)."""
    return default_config(dataset).replace(
        split=args.split, classes=tuple(args.classes), n_train=args.n_train, n_test=args.n_test,
        preprocess=args.preprocess, grayscale=args.grayscale, reference_energy=args.reference_energy,
        noise_mode=args.noise_mode, noise_std=tuple(args.noise), threshold=args.threshold,
        canvas_size=args.canvas_size, patch_size=args.patch_size, m=args.m, init_std=args.init_std,
        activation=args.activation, kappa=args.kappa, lr=args.lr, steps=args.steps, seed=args.seed,
    )


COLUMNS = [("noise_std", "σ", ".3g"), ("data_stable_rank", "srank X", ".2f"),
           ("patch_stable_rank", "srank patches", ".2f"), ("filter_stable_rank", "srank W", ".2f"),
           ("learned_stable_rank", "srank W-W0", ".2f"), ("learned_dimension", "learned dim", "d"),
           ("clean_energy_fraction", "clean energy", ".3f"), ("train_acc", "train acc", ".3f"),
           ("test_acc", "test acc", ".3f")]


def run_real_rank_cli(args: argparse.Namespace, dataset: str) -> int:
    """Validate, load, sweep, print the table and write ``OUT/<dataset>_rank.{json,npz,png}``."""
    from cnnrank.datasets import load_cifar10, load_mnist
    from cnnrank.experiments.real_images import check_task_sizes
    from cnnrank.reproduce._output import output_folder
    from cnnrank.reproduce._sweeping import resolve_workers

    config = config_from_args(args, dataset)          # ValueError before anything is done
    resolve_workers(args)
    loader = load_mnist if dataset == "mnist" else load_cifar10
    images = loader(args.data_dir, split=config.split)  # DatasetError (a ValueError) names the file
    check_task_sizes(config, images)                  # one-line ValueError with the class counts
    colour = "grayscale" if config.grayscale else ("colour" if images.images.shape[3] > 1 else "gray")
    print(f"{images.name} {images.split} set: {images.n} images from {Path(images.files[0]).parent}; "
          f"classes {images.classes[config.classes[0]]} (+1) vs {images.classes[config.classes[1]]} (-1); "
          f"{config.n_train} train / {config.n_test} test images, {colour}, preprocess={config.preprocess}, "
          f"{config.noise_mode} noise, {config.patch_size}×{config.patch_size} patches, m={config.m}, "
          f"η={config.lr:g}, {config.steps} steps per level", flush=True)
    # created and probed before computing (a killed run's temporary files removed); removed again on failure
    with output_folder(args.out, outputs=[f"{dataset}_rank.{ext}" for ext in ("json", "npz", "png")]):
        _sweep_and_write(args, dataset, config, images)
    return 0


def _sweep_and_write(args: argparse.Namespace, dataset: str, config: RealRankConfig, images: Any) -> None:
    import matplotlib.pyplot as plt

    from cnnrank.experiments.real_images import run_real_rank
    from cnnrank.plotting.real_images import real_rank_figure
    from cnnrank.reproduce._output import figure_bytes, write_outputs, written
    from cnnrank.tables import format_table

    rows: list[dict] = []
    if not args.quiet:
        print(format_table([], COLUMNS), flush=True)

    def show(row: dict) -> None:
        rows.append(row)
        if not args.quiet:
            print(format_table([row], COLUMNS).splitlines()[-1], flush=True)

    from cnnrank._parallel import make_executor, stop_executor

    start = time.perf_counter()
    # the noise levels on --workers processes (the same bits for any number); on a signal or an error
    # the workers end at once
    executor = make_executor(min(args.workers, len(config.noise_std)))
    try:
        result = run_real_rank(config, images=images, callback=show, executor=executor)
    except BaseException:
        stop_executor(executor)
        raise
    if executor is not None:
        executor.shutdown()
    seconds = time.perf_counter() - start
    s = result.summary()
    c = result.claim()
    # the files first (built in memory, written together: all three or none), then the summary lines
    out = args.out
    stem = f"{dataset}_rank"
    record = result.to_json()
    record.pop("seconds", None)  # no timings in the results: reruns write byte-identical JSON
    record["summary"] = s
    record["claim"] = c
    name = "MNIST" if dataset == "mnist" else "CIFAR-10"
    pos, neg = result.data["class_names"]
    fig = real_rank_figure(result, title=f"{name} {pos} vs {neg}, {config.noise_mode} noise")
    paths = [out / f"{stem}.{ext}" for ext in ("json", "npz", "png")]
    write_outputs([(paths[0], json.dumps(record, indent=1).encode("utf-8")),
                   (paths[1], result.to_npz_bytes()), (paths[2], figure_bytes(fig, "png", dpi=130))])
    plt.close("all")
    if args.quiet:
        print(format_table(rows, COLUMNS))
    print(f"\nreference: principal subspace of the clean training patches holding {config.reference_energy:.0%} "
          f"of their energy, dimension {result.reference_dimension} of d={result.data['d']}")
    print(f"data stable rank grows {s['data_growth']:.1f}x (patches {s['patch_growth']:.1f}x) across the noise "
          f"range; the filters' stable rank stays in [{s['filter_min']:.2f}, {s['filter_max']:.2f}], the learned "
          f"part's in [{s['learned_min']:.2f}, {s['learned_max']:.2f}]; learned dimension "
          f"{s['learned_dimension_max']} .. {s['learned_dimension_min']}; clean energy fraction "
          f"{s['clean_energy_fraction_max']:.2f} .. {s['clean_energy_fraction_min']:.2f}; "
          f"test accuracy {s['test_acc_max']:.3f} .. {s['test_acc_min']:.3f}; {seconds:.1f} s")
    if c["fails_from"] is None:
        print(f"the filters keep the clean subspace at every level (σ <= {c['holds_up_to']:g})")
    else:
        print(f"the filters keep the clean subspace up to σ = {c['holds_up_to']:g} (data stable rank "
              f"{s['data_growth_where_holds']:.1f}x, learned part's stable rank in "
              f"[{s['learned_min_where_holds']:.2f}, {s['learned_max_where_holds']:.2f}]); from σ = "
              f"{c['fails_from']:g} they do not: {c['reason']}")
    print(written(paths))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_real_rank_arguments(parser, "mnist")


def run(args: argparse.Namespace) -> int:
    return run_real_rank_cli(args, "mnist")
