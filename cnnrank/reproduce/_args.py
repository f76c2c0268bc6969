"""Argument types shared by the commands: comma-separated lists of numbers; ``--n-test`` where a command
measures test accuracy."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any


def measures_test_accuracy(parser: argparse.ArgumentParser, what: str) -> None:
    """Say in ``--n-test``'s help that the command needs test samples (``what`` it measures on them)."""
    for action in parser._actions:
        if action.dest == "n_test":
            action.help = f"test samples per run, >= 1: {what} (default: {action.default})"


def check_test_samples(n_test: int, what: str) -> None:
    """Refuse ``--n-test`` < 1 before anything runs (``what``: what the command measures on them)."""
    if n_test < 1:
        raise ValueError(f"--n-test {n_test} is invalid here: must be >= 1 ({what})")


def comma_list(convert: Callable[[str], Any], kind: str, check: Callable[[Any], bool], rule: str,
               increasing: str | None = None) -> Callable[[str], tuple]:
    """An argparse type for ``"a,b,c"``: each item converted by ``convert`` (else ``"… is not a
    comma-separated list of <kind>"``); at least one item, each passing ``check`` (else ``rule``); with
    ``increasing``, strictly increasing (else that message)."""

    def parse(text: str) -> tuple:
        try:
            vals = tuple(convert(v) for v in text.split(",") if v.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {kind}") from None
        if not vals or not all(check(v) for v in vals):
            raise argparse.ArgumentTypeError(f"{text!r}: {rule}")
        if increasing is not None and list(vals) != sorted(set(vals)):
            raise argparse.ArgumentTypeError(f"{text!r}: {increasing}")
        return vals

    return parse


def activation_name(text: str) -> str:
    """An argparse type for ``--activation``: the canonical name
    (:func:`cnnrank.activations.canonical_activation_name`: ``HUBER3`` is stored as ``huber3``, a
    name given to :func:`cnnrank.register_activation` before the command line is parsed is accepted);
    ``huber``/``poly`` without a power, abbreviations and unknown names are refused with the choices
    and a suggestion."""
    from cnnrank.activations import canonical_activation_name

    try:
        return canonical_activation_name(text)
    except (TypeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


#: the help text of ``--activation``
ACTIVATION_HELP = ("huber<q> (Huberized ReLU of power q >= 1, e.g. huber3), relu, poly<q>, or a name given to "
                   "cnnrank.register_activation")
