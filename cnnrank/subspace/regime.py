"""The measured regime (docs/theory.md §4): benign when the test accuracy is at least
:data:`BENIGN_TEST_ACC` and the signal energy fraction at least :data:`BENIGN_ENERGY_FRACTION`."""

from __future__ import annotations

from typing import Any

import numpy as np

from cnnrank._validation import as_array

#: a run is in the measured benign window when its test accuracy is at least this ...
BENIGN_TEST_ACC = 0.95


#: ... and at least this share of its learned energy lies in the signal span (docs/theory.md §4)
BENIGN_ENERGY_FRACTION = 0.5


def measured_regime(test_acc: Any, signal_energy_fraction: Any) -> np.ndarray:
    """``"benign"`` where the network learned the signal, else ``"harmful"`` (docs/theory.md §4).

    Benign means test accuracy ``>= BENIGN_TEST_ACC`` (0.95) **and** signal energy fraction
    ``>= BENIGN_ENERGY_FRACTION`` (0.5): the network generalizes *and* what it learned is mostly signal.
    With several seeds on the last axis, a level is benign only when every seed is.

    Parameters
    ----------
    test_acc, signal_energy_fraction : array_like, same shape ``(..., seeds)`` or ``(...)``

    Returns
    -------
    ndarray of str, the shape of the inputs without the seed axis if ``seeds`` was given
    (use ``[..., None]`` for a single run)
    """
    acc = as_array("test_acc", test_acc, finite=False)  # NaN (a diverged run) is harmful
    frac = as_array("signal_energy_fraction", signal_energy_fraction, finite=False)
    if acc.shape != frac.shape:
        raise ValueError(f"test_acc has shape {acc.shape} which is invalid: must match signal_energy_fraction "
                         f"{frac.shape}")
    ok = np.asarray((acc >= BENIGN_TEST_ACC) & (frac >= BENIGN_ENERGY_FRACTION))
    if ok.ndim:
        ok = np.asarray(ok.all(axis=-1))
    return np.where(ok, "benign", "harmful")
