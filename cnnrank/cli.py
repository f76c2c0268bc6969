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
import difflib
import importlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

#: name of the figure -> module under ``cnnrank.reproduce`` implementing it.
REPRODUCERS: dict[str, str] = {
    "rank-vs-noise": "cnnrank.reproduce.rank_vs_noise",
    "intrinsic-dimension": "cnnrank.reproduce.intrinsic_dimension",
    "mnist-rank": "cnnrank.reproduce.mnist_rank",
    "cifar10-rank": "cnnrank.reproduce.cifar10_rank",
    "linear-cnn": "cnnrank.reproduce.linear_cnn",
    "neural-collapse": "cnnrank.reproduce.neural_collapse",
    "phase-diagram": "cnnrank.reproduce.phase_diagram",
    "calibration": "cnnrank.reproduce.calibration",
    "beyond-the-theorem": "cnnrank.reproduce.beyond_the_theorem",
}

#: other commands: name -> module exposing DESCRIPTION, add_arguments, run.
COMMANDS: dict[str, str] = {
    "simulate": "cnnrank.reproduce.simulate",
    "sweep": "cnnrank.reproduce.sweep",
    "plot": "cnnrank.reproduce.plot",
    "export": "cnnrank.reproduce.export",
}


class UsageError(Exception):
    """A bad command-line argument or configuration file: reported in one line, exit status 2."""


def _show_default(value: object) -> str:
    """A default as it is typed on the command line: ``a,b,c`` for a list, ``true``/``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return ",".join(_show_default(v) for v in value)
    return str(value)


class HelpFormatter(argparse.HelpFormatter):
    """The one help style of every command: each option's help ends with ``(default: X)``, the
    default as it is typed (``0,0.04,0.08``, ``true``), unless the help already says its default; a
    flag (``--quiet``) or an option without a default shows none."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = (action.help or "").replace(" (default: %(default)s)", "")  # BooleanOptionalAction's own
        if (text == argparse.SUPPRESS or "(default" in text or not action.option_strings
                or action.default is None or action.default is argparse.SUPPRESS
                or (action.nargs == 0 and not isinstance(action, argparse.BooleanOptionalAction))):
            return text
        return f"{text} (default: {_show_default(action.default).replace('%', '%%')})"


def _suggest(word: str, names: Sequence[str]) -> list[str]:
    """The names closest to ``word`` (a mistyped option or choice): those it begins (an abbreviation),
    else difflib's closest two (compared without the leading dashes, which every option shares, and
    without case), keeping only those with the word's first letter when some have it (a typo rarely
    changes the first letter: ``--noize`` suggests ``--noise-std``, not ``--optimizer``)."""
    bare = {n.lstrip("-").lower(): n for n in names if n != word}
    stem = word.lstrip("-").lower()
    starting = sorted((n for b, n in bare.items() if stem and b.startswith(stem)), key=len)
    if starting:
        return starting[:3]
    close = difflib.get_close_matches(stem, list(bare), n=max(len(bare), 1), cutoff=0.55)
    same_first = [b for b in close if stem and b[:1] == stem[:1]]
    return [bare[b] for b in (same_first or close)[:2]]


def _did_you_mean(names: list[str], quote: bool = False) -> str:
    shown = [repr(n) if quote else n for n in names]
    return "did you mean " + (" or ".join([", ".join(shown[:-1]), shown[-1]]) if len(shown) > 1 else shown[0]) + "?"


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line on stderr and exit status 2 (no usage dump).

    Options are never abbreviated (``--n`` is never taken for ``--n-test``); an unknown option or
    choice is named with the closest ones (``did you mean --noise?``); a bad value of a custom type
    says what was expected (never the type's Python name); every command shares :class:`HelpFormatter`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # pragma: no cover - exercised through main()
        raise UsageError(f"{self.prog}: {message}")

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        """Parse; unknown arguments are refused by the (sub-)command they were given to, with the
        closest options it has."""
        argv = list(sys.argv[1:] if args is None else args)
        ns, extras = self.parse_known_args(argv, namespace)
        if extras:
            parser = getattr(ns, "_parser", self)
            command = getattr(ns, "command", None)
            if command in argv and extras[0] in argv and argv.index(extras[0]) < argv.index(command):
                parser = self  # given before the command: an option of ``cnnrank`` itself
            options = [s for a in parser._actions for s in a.option_strings]
            hints = []
            for word in extras:
                if word.startswith("-") and len(word) > 1:
                    name = word.split("=", 1)[0]
                    close = _suggest(name, options)
                    if close:
                        hints.append((name, close))
            msg = f"unrecognized arguments: {' '.join(extras)}"
            if len(hints) == 1:
                msg += f"; {_did_you_mean(hints[0][1])}"
            elif hints:
                msg += "; " + "; ".join(f"{name}: {_did_you_mean(close)}" for name, close in hints)
            parser.error(msg)
        return ns

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            close = _suggest(str(value), choices)
            hint = f"; {_did_you_mean(close, quote=True)}" if close else ""
            raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint} "
                                                 f"(choose from {', '.join(map(repr, choices))})")

    def _get_value(self, action: argparse.Action, arg_string: str) -> Any:
        try:
            return super()._get_value(action, arg_string)
        except argparse.ArgumentError as exc:
            # argparse names the type's Python name ("invalid _parse value"); only int and float read well
            name = getattr(action.type, "__name__", None)
            if name not in (None, "int", "float") and str(exc.message).startswith(f"invalid {name} value"):
                raise argparse.ArgumentError(action, f"invalid value {arg_string!r}") from None
            raise


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
        p.set_defaults(_run=module.run, _parser=p)


def build_parser() -> argparse.ArgumentParser:
    """The full parser (all commands and all reproducible figures)."""
    from cnnrank._version import __version__

    parser = _Parser(prog="cnnrank", description=(
        "cnnrank: exact NumPy simulation of gradient descent on two-layer CNNs — signal learning, noise "
        "memorization, and the stable rank of the filters versus the data. "
        "Start with: python -m cnnrank reproduce rank-vs-noise"))
    parser.add_argument("--version", action="version", version=f"cnnrank {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser,
                                help="the command to run; python -m cnnrank COMMAND --help shows its options")
    sub.required = True
    _add_jobs(sub, COMMANDS)
    rep = sub.add_parser("reproduce", help="reproduce one of the figures",
                         description="Reproduce one of the figures of the theory.")
    rep.set_defaults(_parser=rep)
    figs = rep.add_subparsers(dest="figure", metavar="FIGURE", parser_class=_Parser,
                              help="the figure to reproduce; python -m cnnrank reproduce FIGURE --help shows "
                                   "its options")
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
