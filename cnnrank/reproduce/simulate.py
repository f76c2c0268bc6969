"""``python -m cnnrank simulate``: one training run, a table over training, and the γ/ρ figure."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

DESCRIPTION = ("Train the two-layer CNN once on the signal-noise model; print loss, accuracy, "
               "signal learning γ, memorization ρ̄/ρ̲ and stable ranks over training; save the figure.")


#: the files ``simulate`` writes into ``--out`` (together: all or none)
OUTPUTS = ("trajectory.npz", "summary.json", "simulate.png")

#: the training engines ``--engine`` accepts (docs/engines.md)
ENGINES = ("auto", "feature", "gram", "implicit")


class _Swept(argparse.Action):
    """An option of the run configuration that the command sweeps: refused with a pointer to the
    option that sets the grid (so that a value is never silently ignored)."""

    def __init__(self, option_strings: list[str], dest: str, instead: str = "", **kwargs: Any) -> None:
        self.instead = instead
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string} is not an option of this command: it sweeps that value; "
                     f"give the levels with {self.instead}")


#: the help of each run-configuration option (docs/theory.md §1 defines the model and its symbols)
RUN_OPTION_HELP: dict[str, str] = {
    "n": "training samples n",
    "n_test": "test samples drawn from the same model (0: no test accuracy)",
    "d": "dimension d of a patch",
    "K": "signals per class K (the signal span has dimension 2K <= d)",
    "patches": "patches per sample P >= 2: one carries the signal, the others noise",
    "signal_norm": "signal strength ‖μ‖",
    "noise_std": "background noise σ_p of the noise patches",
    "project_noise": "draw the background noise orthogonal to the signal span",
    "label_noise": "probability in [0, 0.5) that an observed label is flipped",
    "balanced": "exactly balanced classes and signals instead of independent draws",
    "signal_position": "index of the patch carrying the signal, 0..P-1, or 'random' (uniform per sample)",
    "signal_basis": "signal directions: 'canonical' (the first 2K coordinate axes) or 'random' (a random orthonormal frame)",
    "m": "filters per class m",
    "init_std": "standard deviation σ_0 of the initial filters",
    "activation": ("activation: huber<q> (Huberized ReLU of power q, e.g. huber3), relu, poly<q>, or a name "
                   "given to cnnrank.register_activation"),
    "kappa": "threshold κ of the Huberized ReLU",
    "lr": "gradient-descent step size η",
    "steps": "gradient-descent steps",
    "record_every": "steps between two records of the trajectory",
    "signal_norms": ("per-signal strengths ‖μ_k‖: 2K comma-separated numbers, class +1 first (default: every "
                     "signal has --signal-norm)"),
    "optimizer": "gd (gradient descent), sign (sign descent) or adam; sign and adam run on vectors only",
    "adam_beta1": "Adam's β1 in [0, 1) (optimizer adam only)",
    "adam_beta2": "Adam's β2 in [0, 1) (optimizer adam only)",
    "adam_eps": "Adam's ε > 0 (optimizer adam only)",
    "head": "second layer: fixed (the theorem's a = j/m) or trainable (from a = j·a0)",
    "a0": "initial scale a0 of a trainable head (default 1/m; only with --head trainable)",
    "batch_size": "minibatch size of SGD (default: full batch; each epoch a seeded permutation)",
    "weight_decay": "weight decay λ >= 0 on every trained parameter (lr·λ < 1)",
}


def add_run_arguments(parser: argparse.ArgumentParser, base: Any = None,
                      swept: dict[str, str] | None = None) -> None:
    """Options for every flat field of :class:`cnnrank.experiments.RunConfig` (defaults from ``base``,
    ``RunConfig()`` when ``None``). ``swept`` maps the fields the command sweeps to the option that
    sets their grid; those fields' own options are refused with a message naming it."""
    from cnnrank.experiments.runs import FLAT_FIELDS, RunConfig

    base = RunConfig() if base is None else base
    swept = swept or {}
    g = parser.add_argument_group("run configuration (defaults: the paper regime)")
    for name in FLAT_FIELDS:
        default = getattr(base, name)
        flag = "--" + name.replace("_", "-")
        # a field without its own line still gets its attribute's one-line description
        text = RUN_OPTION_HELP.get(name) or (getattr(RunConfig, name).__doc__ or name).strip().rstrip(".")
        if name in swept:
            g.add_argument(flag, action=_Swept, instead=swept[name], default=default)
        elif name == "engine":
            g.add_argument(flag, choices=ENGINES, default=default,
                           help="training engine: feature (vectors of R^d), gram (inner products), "
                                "implicit (d-free: inner products drawn directly, any d), auto "
                                "(cheaper of feature/gram)")
        elif isinstance(default, bool):
            g.add_argument(flag, type=_parse_bool, default=default, metavar="BOOL", help=f"{text}: true or false")
        elif name == "activation":
            from cnnrank.reproduce._args import activation_name

            g.add_argument(flag, type=activation_name, default=default, help=text)
        elif name == "signal_position":
            g.add_argument(flag, type=_int_or_random, default=default, metavar="INDEX", help=text)
        elif name == "signal_basis":
            g.add_argument(flag, choices=("canonical", "random"), default=default, help=text)
        elif name == "signal_norms":
            g.add_argument(flag, type=_float_list, default=default, metavar="N1,N2,...", help=text)
        elif name == "optimizer":
            g.add_argument(flag, choices=("gd", "sign", "adam"), default=default, help=text)
        elif name == "head":
            g.add_argument(flag, choices=("fixed", "trainable"), default=default, help=text)
        elif name in ("a0", "batch_size"):
            g.add_argument(flag, type=float if name == "a0" else int, default=default, help=text)
        else:
            g.add_argument(flag, type=type(default), default=default, help=text)


def _parse_bool(text: str) -> bool:
    t = text.lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"{text!r} is not a boolean (true/false)")


def _float_list(text: str) -> tuple[float, ...]:
    """``argparse`` type of ``--signal-norms``: comma-separated numbers."""
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def _int_or_random(text: str) -> int | str:
    """``argparse`` type of ``--signal-position``: a patch index or ``random``."""
    if text == "random":
        return "random"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer patch index or 'random', got {text!r}") from None


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~cnnrank.experiments.RunConfig` of the parsed options (validated)."""
    from cnnrank.experiments.runs import FLAT_FIELDS, RunConfig

    return RunConfig(**{name: getattr(args, name) for name in FLAT_FIELDS})


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from cnnrank.reproduce._output import seed_type

    add_run_arguments(parser)
    parser.add_argument("--seed", type=seed_type, default=0, help="root seed, an integer >= 0")
    parser.add_argument("--out", type=Path, default=Path("results/simulate"),
                        help="output folder for trajectory.npz, summary.json, simulate.png (files of an "
                             "earlier run there are replaced)")
    parser.add_argument("--no-save", action="store_true", help="print the table only, write nothing")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from concurrent.futures import ThreadPoolExecutor

    from cnnrank.experiments.runs import run_once
    from cnnrank.reproduce._output import figure_bytes, output_folder, write_outputs, written

    config = config_from_args(args)  # validates before anything is written
    # created and probed before computing (a killed run's temporary files removed); removed again on an
    # error or a signal
    with output_folder(args.out, enabled=not args.no_save, outputs=OUTPUTS):
        start = time.perf_counter()
        out = run_once(config, rng=args.seed, progress=None if not args.quiet else False)
        seconds = time.perf_counter() - start
        if args.no_save:
            _print_run(out, config, seconds)
            return 0
        from cnnrank.plotting import training_figure

        traj = out.trajectory
        r = out.data_ranks
        traj.metadata.update(seed=args.seed)
        # no timings in the results: two runs of one command write byte-identical JSON
        summary = {"config": config.to_dict(), "seed": args.seed, "final": traj.summary(), "data_ranks": r}
        paths = [args.out / name for name in OUTPUTS]
        # built in memory, then written together (all three or none), then printed. The trajectory file is
        # compressed in a thread while the figure is drawn (zlib releases the GIL): the same bytes, sooner
        with ThreadPoolExecutor(1) as pool:
            npz = pool.submit(traj.to_npz_bytes)
            fig = training_figure(traj, data_stable_rank=r["data_stable_rank"],
                                  data=out.data if config.engine != "implicit" else None)
            png = figure_bytes(fig, "png", dpi=120)
            write_outputs([(paths[0], npz.result()), (paths[1], json.dumps(summary, indent=2).encode("utf-8")),
                           (paths[2], png)])
    _print_run(out, config, seconds)
    print(written(paths))
    return 0


def _save_figure(fig: Any, path: Path, dpi: int) -> None:
    """Save a figure atomically (a temporary file beside it, then rename) and close it."""
    import io

    import matplotlib.pyplot as plt

    from cnnrank.results import atomic_write_bytes

    buf = io.BytesIO()
    fig.savefig(buf, format=path.suffix.lstrip(".") or "png", dpi=dpi)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _print_run(out: Any, config: Any, seconds: float) -> None:
    from cnnrank.tables import format_table

    traj = out.trajectory
    picks = np.unique(np.linspace(0, len(traj) - 1, min(len(traj), 11)).round().astype(int))
    rows = [traj.summary(k) for k in picks]
    cols = [("step", "step", "d"), ("train_loss", "loss", ".4f"), ("train_acc", "acc", ".3f")]
    if traj.test_acc is not None:
        cols.append(("test_acc", "test acc", ".3f"))
    if traj.gamma is not None:
        cols += [("max_gamma", "max γ", ".4g"), ("max_rho_pos", "max ρ̄", ".4g"), ("min_rho_neg", "min ρ̲", ".4g")]
    cols.append(("filter_stable_rank", "srank W", ".3f"))
    print(format_table(rows, cols))
    r = out.data_ranks
    print(f"\nstable rank: data (n×Pd) {r['data_stable_rank']:.2f} (clean {r['clean_data_stable_rank']:.2f}), "
          f"patches (nP×d) {r['patch_stable_rank']:.2f}, filters {traj.filter_stable_rank[-1]:.2f}, "
          f"2K = {2 * config.K}; {config.steps} steps in {seconds:.1f} s ({traj.engine} engine)")
