"""Command-line interface: ``python -m cnnrank <command> ...``.

Commands
--------
simulate   one training run of the two-layer CNN on the signal-noise model
reproduce  one of the reproducible figures (``python -m cnnrank reproduce --help`` lists them)

Every reproducible figure lives in its own module under :mod:`cnnrank.reproduce` and exposes

* ``DESCRIPTION`` -- one line for ``--help``;
* ``add_arguments(parser)`` -- its options;
* ``run(args) -> int`` -- does the work, returns the exit status.

Every error -- bad arguments, bad input files, training that diverged, an output folder that cannot
be written, not enough memory, a worker that died -- prints one line ``cnnrank: error: ...`` on stderr
and exits with status 2, without a traceback (``--debug`` or ``CNNRANK_DEBUG=1`` shows it); options
are checked, and the output folder is created and probed, before anything is computed; results are
written atomically, the files of one command together. A signal -- Ctrl-C (SIGINT), SIGTERM, SIGHUP --
stops the command at any moment: its workers end, its temporary files and an output folder it created
and left empty are removed, finished sweep cells are kept, and it prints one line
``cnnrank: interrupted by SIGTERM[; finished cells are kept in STORE ...]`` and exits with status
128 + the signal's number (130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

#: name of the figure -> module under ``cnnrank.reproduce`` implementing it.
REPRODUCERS: dict[str, str] = {
    "rank-vs-noise": "cnnrank.reproduce.rank_vs_noise",
    "intrinsic-dimension": "cnnrank.reproduce.intrinsic_dimension",
    "mnist-rank": "cnnrank.reproduce.mnist_rank",
    "cifar10-rank": "cnnrank.reproduce.cifar10_rank",
    "linear-cnn": "cnnrank.reproduce.linear_cnn",
    "neural-collapse": "cnnrank.reproduce.neural_collapse",
    "phase-diagram": "cnnrank.reproduce.phase_diagram",
}

#: other commands: name -> module exposing DESCRIPTION, add_arguments, run.
COMMANDS: dict[str, str] = {
    "simulate": "cnnrank.reproduce.simulate",
    "sweep": "cnnrank.reproduce.sweep",
    "plot": "cnnrank.reproduce.plot",
}


class UsageError(Exception):
    """A bad command-line argument or configuration file: reported in one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump)."""

    def error(self, message: str) -> NoReturn:  # pragma: no cover - exercised through main()
        raise UsageError(f"{self.prog}: {message}")


def _load(module_name: str):
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:  # a figure whose module is not part of this version
        if exc.name == module_name:
            return None
        raise


def _add_jobs(sub: argparse._SubParsersAction, jobs: dict[str, str]) -> None:
    """One sub-command per job module that is present (see the module docstring for the protocol)."""
    for name, module_name in jobs.items():
        module = _load(module_name)
        if module is None:
            continue
        p = sub.add_parser(name, help=module.DESCRIPTION, description=module.DESCRIPTION)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)


def build_parser() -> argparse.ArgumentParser:
    """The full parser (all commands and all reproducible figures)."""
    from cnnrank._version import __version__

    parser = _Parser(prog="cnnrank", description=(
        "cnnrank: exact NumPy simulation of gradient descent on two-layer CNNs — signal learning, noise "
        "memorization, and the stable rank of the filters versus the data. "
        "Start with: python -m cnnrank reproduce rank-vs-noise"))
    parser.add_argument("--version", action="version", version=f"cnnrank {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_jobs(sub, COMMANDS)
    rep = sub.add_parser("reproduce", help="reproduce one of the figures",
                         description="Reproduce one of the figures of the theory.")
    figs = rep.add_subparsers(dest="figure", metavar="FIGURE", parser_class=_Parser)
    figs.required = True
    _add_jobs(figs, REPRODUCERS)
    return parser


#: ``--debug`` anywhere on the command line (or ``CNNRANK_DEBUG=1``) shows the traceback of an error
DEBUG_FLAG = "--debug"


def _debug_requested(argv: list[str]) -> bool:
    return DEBUG_FLAG in argv or os.environ.get("CNNRANK_DEBUG", "").strip() not in ("", "0")


def _one_line(exc: BaseException) -> str:
    """The error as one line: the library's message, or a plain-words account of a system error."""
    from concurrent.futures.process import BrokenProcessPool

    msg = " ".join(str(exc).split())
    if isinstance(exc, BrokenProcessPool):
        return (f"a worker process died ({msg or 'killed'}); the cells finished so far are kept: "
                "re-run to resume, with fewer --workers or smaller sizes if it ran out of memory")
    if isinstance(exc, MemoryError):
        if msg.startswith("Unable to allocate") or not msg:
            return f"not enough memory: {msg or 'an allocation failed'}; use smaller sizes (n, d, steps)"
        return msg
    if isinstance(exc, OverflowError):
        return f"a value is too large to compute with ({msg or 'overflow'}); use smaller values"
    if isinstance(exc, OSError):
        where = f"{exc.filename!s}: " if exc.filename else ""
        return f"{where}{exc.strerror or msg or type(exc).__name__}"
    return msg or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point. Returns the exit status: 0 success, 2 any error (one line on stderr), 128 + signum
    when stopped by a signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; one line on stderr).

    Every failure -- bad usage or input, a damaged results file, training that diverged, an output
    folder that cannot be written, not enough memory, a worker that died -- prints one line
    ``cnnrank: error: ...`` on stderr and exits with status 2, without a traceback; ``--debug`` (anywhere
    on the command line) or ``CNNRANK_DEBUG=1`` raises it instead.
    """
    from cnnrank._signals import handle_signals

    argv = list(sys.argv[1:] if argv is None else argv)
    with handle_signals():
        try:
            return _main(argv)
        except KeyboardInterrupt as exc:  # a signal while _main reported another error
            if _debug_requested(argv):
                raise
            return _interrupted(exc)


def _interrupted(exc: KeyboardInterrupt) -> int:
    """One line for a signal (``cnnrank._signals.Interrupted`` names it; a bare ``KeyboardInterrupt``
    counts as SIGINT); the exit status 128 + signum."""
    import signal

    from cnnrank._signals import signal_name

    signum = getattr(exc, "signum", None)
    kept = getattr(exc, "kept", "")
    by = "" if signum is None else f" by {signal_name(signum)}"
    print(f"cnnrank: interrupted{by}{'; ' + kept if kept else ''}", file=sys.stderr)
    return 128 + int(signal.SIGINT if signum is None else signum)


def _main(argv: list[str]) -> int:
    from concurrent.futures.process import BrokenProcessPool

    from cnnrank.errors import TrainingDiverged

    debug = _debug_requested(argv)
    argv = [a for a in argv if a != DEBUG_FLAG]
    try:
        args = build_parser().parse_args(argv)
        run: Callable[[argparse.Namespace], int] = args._run
        return int(run(args) or 0)
    except UsageError as exc:
        msg = " ".join(str(exc).split())
        print(f"cnnrank: error: {msg.removeprefix('cnnrank: ').removeprefix('cnnrank ')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # cnnrank._signals.Interrupted for SIGINT, SIGTERM, SIGHUP
        if debug:
            raise
        return _interrupted(exc)
    except (ValueError, TypeError, TrainingDiverged, OSError, MemoryError, BrokenProcessPool,
            ArithmeticError, NotImplementedError) as exc:
        # The library's error family (ValueError covers ResultsFileError, InsufficientMemory is a
        # MemoryError): parameter, value and rule in one line.
        if debug:
            raise
        print(f"cnnrank: error: {_one_line(exc)}", file=sys.stderr)
        return 2
