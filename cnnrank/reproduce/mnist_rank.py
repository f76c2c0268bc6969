"""``python -m cnnrank reproduce mnist-rank``: stable rank of real images and of the CNN's filters
versus background noise, with the learned-subspace diagnostics (docs/theory.md §5) against the
principal subspace of the clean training patches.

``--setting learns`` (the default; :mod:`cnnrank.experiments.real_settings`): MNIST 4 vs 9 with the searched
network that learns (20 × 20 patches at stride 4, trainable head, Adam on minibatches, weight decay);
``--setting theorem``: MNIST 0 vs 1 with the theorem's network (non-overlapping 14 × 14 patches, fixed
head, full-batch gradient descent), the defaults before the settings existed. The shared test set by default.

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

DESCRIPTION = ("Real images: stable rank of MNIST data (4 vs 9; images, patches; clean and noisy) and of "
               "the trained filters versus background noise (writes OUT/mnist_rank.json and .png).")


_floats = comma_list(float, "numbers", lambda v: True, "give at least one noise level")


def _pair(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not two comma-separated class labels, e.g. 0,1") from None
    return a, b


def _count(text: str) -> int | None:
    """An image count, or ``all`` (every image of the two classes; ``--split heldout`` only)."""
    if text.strip().lower() == "all":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'all'") from None


def _optional_int(text: str) -> int | None:
    """An integer, or ``none``."""
    if text.strip().lower() == "none":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'none'") from None


#: the options that change one field of the setting: (flag, field)
_FIELD_OPTIONS = (("seed", "seed"), ("noise", "noise_std"), ("noise_mode", "noise_mode"), ("threshold", "threshold"),
                  ("canvas_size", "canvas_size"), ("split", "split"), ("preprocess", "preprocess"),
                  ("grayscale", "grayscale"), ("reference_energy", "reference_energy"), ("classes", "classes"),
                  ("n_train", "n_train"), ("n_test", "n_test"), ("patch_size", "patch_size"),
                  ("patch_stride", "patch_stride"), ("m", "m"), ("init_std", "init_std"),
                  ("activation", "activation"), ("kappa", "kappa"), ("head", "head"), ("a0", "a0"),
                  ("optimizer", "optimizer"), ("lr", "lr"), ("steps", "steps"), ("batch_size", "batch_size"),
                  ("weight_decay", "weight_decay"))


def add_real_rank_arguments(parser: argparse.ArgumentParser, dataset: str) -> None:
    """The options shared by ``mnist-rank`` and ``cifar10-rank``. ``--setting`` picks the configuration
    (:func:`cnnrank.experiments.real_settings.real_setting`); every other option changes one of its fields
    (unset: the setting's value)."""
    from cnnrank.datasets import DATA_ENV
    from cnnrank.experiments.real_settings import SETTING_NAMES
    from cnnrank.reproduce._output import seed_type
    from cnnrank.reproduce._sweeping import add_workers_argument
    from cnnrank.reproduce.simulate import _Swept

    learns, theorem = default_config(dataset, "learns"), default_config(dataset, "theorem")

    def both(field: str) -> str:
        a, b = getattr(learns, field), getattr(theorem, field)
        show = (lambda v: ",".join(f"{x:g}" if isinstance(x, float) else str(x) for x in v)
                if isinstance(v, tuple) else ("all" if v is None and field.startswith("n_") else v))
        return f"(default: learns {show(a)}; theorem {show(b)})"

    files = ("the MNIST files {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz] of the official MNIST "
             "distribution" if dataset == "mnist" else
             "the CIFAR-10 python batches data_batch_1..5 and test_batch (cifar-10-batches-py)")
    parser.add_argument("--setting", choices=SETTING_NAMES, default="learns",
                        help="learns: the searched setting that learns (overlapping patches, trainable head, Adam "
                             "on minibatches, weight decay); theorem: the theorem's network (non-overlapping "
                             "patches, fixed head, full-batch gradient descent)")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder holding {files}; nothing is downloaded (default: ${DATA_ENV})")
    parser.add_argument("--out", type=Path, default=Path(f"results/{dataset}-rank"),
                        help="output folder")
    parser.add_argument("--seed", type=seed_type, help="root seed, an integer >= 0 (default: 0)")
    parser.add_argument("--noise", type=_floats,
                        help="comma-separated noise levels σ, in units of the preprocessed image "
                             f"(standardize: its pixel std) {both('noise_std')}")
    parser.add_argument("--noise-std", action=_Swept, instead="--noise")
    parser.add_argument("--quiet", action="store_true",
                        help="print the table once at the end instead of one row per level as it completes")
    add_workers_argument(parser)
    parser.add_argument("--noise-mode", choices=("background", "canvas", "image"),
                        help="noise on the background pixels, a noise canvas around the image, or noise on every "
                             f"pixel of the image {both('noise_mode')}")
    parser.add_argument("--threshold", type=float, help="background = pixels below this intensity (default: 0.1)")
    parser.add_argument("--canvas-size", type=int,
                        help=f"canvas side in canvas mode (none: twice the image side) {both('canvas_size')}")
    parser.add_argument("--split", choices=("train", "test", "heldout"),
                        help="file set the task is drawn from, or heldout: train on the training files, test on "
                             f"the test files {both('split')}")
    parser.add_argument("--preprocess", choices=("standardize", "center", "none"),
                        help="per-image standardization, centring on the mean training image, or raw "
                             "pixels; sets the unit of σ (default: standardize)")
    parser.add_argument("--grayscale", action=argparse.BooleanOptionalAction,
                        help="average the colour channels (default: no)")
    parser.add_argument("--reference-energy", type=float,
                        help="share of the clean patches' energy held by the reference subspace (default: 0.9)")
    parser.add_argument("--classes", type=_pair, help=f"the classes for y=+1 and y=-1 {both('classes')}")
    parser.add_argument("--n-train", type=_count, help=f"training images, or all (heldout) {both('n_train')}")
    parser.add_argument("--n-test", type=_count, help=f"held-out images, or all (heldout) {both('n_test')}")
    parser.add_argument("--patch-size", type=int, help=f"k: k×k patches {both('patch_size')}")
    parser.add_argument("--patch-stride", type=_optional_int,
                        help=f"s: overlapping patches every s pixels; none: non-overlapping {both('patch_stride')}")
    parser.add_argument("--m", type=int, help=f"filters per class {both('m')}")
    parser.add_argument("--init-std", type=float, help="σ_0 (default: 0.01)")
    parser.add_argument("--activation", type=activation_name, help=f"{ACTIVATION_HELP} {both('activation')}")
    parser.add_argument("--kappa", type=float, help="Huberized ReLU κ (default: 1)")
    parser.add_argument("--head", choices=("fixed", "trainable"), help=f"second layer {both('head')}")
    parser.add_argument("--a0", type=float, help="initial scale of a trainable head (default: 1/m)")
    parser.add_argument("--optimizer", choices=("gd", "sign", "adam"), help=f"optimizer {both('optimizer')}")
    parser.add_argument("--lr", type=float, help=f"step size η {both('lr')}")
    parser.add_argument("--steps", type=int, help=f"training steps per noise level {both('steps')}")
    parser.add_argument("--batch-size", type=_optional_int,
                        help=f"minibatch size; none: full batch {both('batch_size')}")
    parser.add_argument("--weight-decay", type=float, help=f"weight decay λ {both('weight_decay')}")
    fields = {dest for dest, _ in _FIELD_OPTIONS}
    for action in parser._actions:  # an option not given is absent: the setting's value is kept
        if action.dest in fields:
            action.default = argparse.SUPPRESS


def default_config(dataset: str, setting: str = "learns") -> RealRankConfig:
    """The :class:`RealRankConfig` each command starts from: the named ``setting``
    (:mod:`cnnrank.experiments.real_settings`; ``"learns"`` by default, ``"theorem"`` the theorem's network)."""
    from cnnrank.experiments.real_settings import real_setting

    return real_setting(dataset, setting)


def config_from_args(args: argparse.Namespace, dataset: str) -> RealRankConfig:
    """A validated :class:`RealRankConfig` from the parsed options (ValueError on a bad value): the setting
    of ``--setting``, with the fields of the options that were given."""
    base = default_config(dataset, getattr(args, "setting", "learns"))
    changes = {field: getattr(args, dest) for dest, field in _FIELD_OPTIONS if hasattr(args, dest)}
    if "noise_std" in changes:
        changes["noise_std"] = tuple(changes["noise_std"])
    if "classes" in changes:
        changes["classes"] = tuple(changes["classes"])
    if "head" in changes and changes["head"] == "fixed" and "a0" not in changes:
        changes["a0"] = None
    return base.replace(**changes)


COLUMNS = [("noise_std", "σ", ".3g"), ("data_stable_rank", "srank X", ".2f"),
           ("patch_stable_rank", "srank patches", ".2f"), ("filter_stable_rank", "srank W", ".2f"),
           ("learned_stable_rank", "srank W-W0", ".2f"), ("learned_dimension", "learned dim", "d"),
           ("clean_energy_fraction", "clean energy", ".3f"), ("train_acc", "train acc", ".3f"),
           ("test_acc", "test acc", ".3f")]


def run_real_rank_cli(args: argparse.Namespace, dataset: str) -> int:
    """Validate, load, sweep, print the table and write ``OUT/<dataset>_rank.{json,npz,png}``."""
    from cnnrank.experiments.real_images import check_task_sizes, load_real_images
    from cnnrank.reproduce._output import output_folder
    from cnnrank.reproduce._sweeping import resolve_workers

    config = config_from_args(args, dataset)          # ValueError before anything is done
    resolve_workers(args)
    images = load_real_images(config, args.data_dir)  # DatasetError (a ValueError) names the file
    check_task_sizes(config, images)                  # one-line ValueError with the class counts
    first = images[0] if isinstance(images, tuple) else images
    colour = "grayscale" if config.grayscale else ("colour" if first.images.shape[3] > 1 else "gray")
    if isinstance(images, tuple):
        where = (f"train on the {images[0].split} set ({images[0].n} images), test on the {images[1].split} set "
                 f"({images[1].n} images) from {Path(images[0].files[0]).parent}")
    else:
        where = f"{images.name} {images.split} set: {images.n} images from {Path(images.files[0]).parent}"
    sizes = ["all" if v is None else str(v) for v in (config.n_train, config.n_test)]
    stride = "" if config.patch_stride is None else f" at stride {config.patch_stride}"
    training = (f"{config.optimizer}, η={config.lr:g}, {config.steps} steps per level"
                + (f", batches of {config.batch_size}" if config.batch_size is not None else "")
                + (f", weight decay {config.weight_decay:g}" if config.weight_decay else "")
                + (", trainable head" if config.head == "trainable" else ""))
    print(f"{first.name} setting {getattr(args, 'setting', 'learns')}: {where}; "
          f"classes {first.classes[config.classes[0]]} (+1) vs {first.classes[config.classes[1]]} (-1); "
          f"{sizes[0]} train / {sizes[1]} test images, {colour}, preprocess={config.preprocess}, "
          f"{config.noise_mode} noise, {config.patch_size}×{config.patch_size} patches{stride}, m={config.m}, "
          f"{training}", flush=True)
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
