r"""Activation names: :func:`parse_activation` and :func:`canonical_activation_name` read ``relu``,
``huber<q>``, ``poly<q>`` and registered names; an unknown name is refused in one line with a suggestion."""

from __future__ import annotations

import difflib
from typing import Any

from cnnrank.activations.base import Activation
from cnnrank.activations.builtin import _SHORT, SHORT_NAMES, HuberizedReLU, PolyReLU, ReLU
from cnnrank.activations.registry import _REGISTERED, ActivationName


def _format_q(q: float) -> str:
    return str(int(q)) if q.is_integer() else repr(q)


def _parse(text: Any, kappa: float = 1.0) -> tuple[str, Activation]:
    if not isinstance(text, str):
        hint = f" (this activation's name is {text.name!r})" if isinstance(text, Activation) and text.name else ""
        raise TypeError(f"activation={text!r:.60} is invalid: must be a name such as 'huber3', 'relu' or "
                        f"'poly3'{hint}")
    t = text.strip()
    if t in _REGISTERED:
        act = _REGISTERED[t]
        return ActivationName(t, act), act
    low = t.lower()
    if low == "relu":
        return "relu", ReLU()
    match = _SHORT.fullmatch(low)
    if match is not None:
        kind, q = match.group(1), float(match.group(2))
        try:
            built: Activation = HuberizedReLU(kappa=kappa, q=q) if kind == "huber" else PolyReLU(q=q)
        except ValueError as exc:
            raise ValueError(f"activation={text!r} is invalid: {exc}") from None
        return kind + _format_q(q), built
    raise ValueError(_unknown(text, t, low))


def _unknown(text: str, t: str, low: str) -> str:
    """The one-line refusal of an activation name that is not one: the choices and a suggestion."""
    registered = sorted(_REGISTERED)
    rule = ("must be 'relu', 'huber<q>' or 'poly<q>' (q >= 1, e.g. huber3)"
            + (f" or a registered name {registered}" if registered else
               " (your own: cnnrank.register_activation)"))
    choices = [*SHORT_NAMES, *registered]
    starts = [c for c in choices if t and (c.startswith(t) or c.lower().startswith(low))]
    if low in ("huber", "poly"):
        return (f"activation={text!r} is ambiguous: name the power, one of {', '.join(repr(c) for c in starts)} "
                f"(any q >= 1 as {low}<q>); did you mean {low + '3'!r}?")
    if len(starts) > 1:
        kinds = {c.rstrip("0123456789.") for c in starts}
        best = kinds.pop() + "3" if len(kinds) == 1 and f"{next(iter(starts)).rstrip('0123456789.')}3" in starts \
            else starts[0]
        return (f"activation={text!r} is ambiguous: it could be {', '.join(repr(c) for c in starts)} "
                f"(names are not abbreviated); did you mean {best!r}?")
    close = starts or difflib.get_close_matches(t, choices, n=1, cutoff=0.7) \
        or difflib.get_close_matches(low, choices, n=1, cutoff=0.7)
    return f"activation={text!r} is invalid: {rule}" + (f"; did you mean {close[0]!r}?" if close else "")


def canonical_activation_name(text: str) -> str:
    """The canonical name of the activation ``text`` names: what a configuration stores.

    Built-in names are read case-insensitively and stored canonically (``"HUBER3"`` and
    ``"huber3.0"`` are ``"huber3"``); a registered name is matched exactly and returned as an
    :class:`ActivationName` carrying the activation. Bare ``"huber"``/``"poly"`` and abbreviations are
    refused (``ValueError`` listing the choices, with a suggestion).
    """
    return _parse(text)[0]


def parse_activation(text: str, kappa: float = 1.0) -> Activation:
    """The activation a name denotes: ``"relu"``, ``"huber<q>"`` (Huberized ReLU of power ``q`` and
    threshold ``kappa``, e.g. ``"huber3"``), ``"poly<q>"``, or a name given to
    :func:`register_activation`. See :func:`canonical_activation_name` for what is accepted."""
    return _parse(text, kappa)[1]
