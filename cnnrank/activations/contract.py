r"""The contract of a registered activation (docs/theory.md §2), checked on a test grid: ``σ(0) = 0`` and
``σ'(0) = 0`` exactly, ``σ`` and ``σ'`` finite on :data:`CHECK_GRID`, ``σ'`` the derivative of ``σ`` to
:data:`FD_TOLERANCE` (central differences of step :data:`FD_STEP`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

#: the test grid of the contract: ``z`` in ``[-8, 8]`` in steps of ``1/128`` (``0`` included, every
#: point exact in binary) and ``±1e-6``, ``±1e-3`` close to the origin
CHECK_GRID = np.concatenate([np.arange(-1024, 1025) / 128.0, [-1e-3, -1e-6, 1e-6, 1e-3]])


#: step ``h = 2⁻²⁰`` of the central difference ``(σ(z+h) - σ(z-h)) / 2h`` of the contract
FD_STEP = 2.0**-20


#: ``σ'`` must match the central difference to ``FD_TOLERANCE · max(1, |σ'(z)|)`` at every point of
#: :data:`CHECK_GRID` farther than ``2h`` from a declared kink (the rounding error of the difference
#: is about ``1e-10 |σ|``, its truncation error ``h² |σ'''| / 6 ≈ 1e-13 |σ'''|``)
FD_TOLERANCE = 1e-5


def _contract_error(value: Callable[[np.ndarray], Any], derivative: Callable[[np.ndarray], Any],
                    kinks: tuple[float, ...]) -> str | None:
    """How ``(value, derivative)`` break the contract of docs/theory.md §2 (module doc), as the end of
    a one-line message; ``None`` when they keep it."""
    z = CHECK_GRID

    def call(fn: Callable[[np.ndarray], Any], which: str, x: np.ndarray) -> np.ndarray:
        try:
            with np.errstate(all="ignore"):
                out = np.asarray(fn(_read_only(x.copy())))  # as an engine calls it: z is read-only
        except Exception as exc:
            raise _Broken(f"{which}(z) on a float64 array of shape {x.shape} raised "
                          f"{type(exc).__name__}: {exc}") from None
        if out.shape != x.shape or out.dtype.kind not in "biuf":
            raise _Broken(f"{which}(z) returned {out.dtype} of shape {out.shape} for a float64 array of shape "
                          f"{x.shape}: must be vectorized (real, elementwise, the shape of z)")
        return out.astype(np.float64)

    try:
        for fn, which, sym in ((value, "value", "σ"), (derivative, "derivative", "σ'")):
            out = call(fn, which, z)
            bad = np.flatnonzero(~np.isfinite(out))
            if bad.size:
                return f"{sym}(z) = {out[bad[0]]} at z = {z[bad[0]]:g}: must be finite on [-8, 8]"
            at0 = float(out[z == 0.0][0])
            if at0 != 0.0:
                return f"{sym}(0) = {at0:g}: must be 0 (docs/theory.md §2)"
            block = z[:2048].reshape(8, 16, 16)
            if not np.allclose(call(fn, which, block), out[:2048].reshape(block.shape), rtol=1e-12, atol=0.0):
                return (f"{which}(z) is not elementwise: on an array of shape {block.shape} it differs from the "
                        "same points given as a 1-D array")
            if which == "value":
                lo, hi = call(fn, which, z - FD_STEP), call(fn, which, z + FD_STEP)
            else:
                grad = out
    except _Broken as exc:
        return str(exc)
    with np.errstate(all="ignore"):
        fd = (hi - lo) / (2.0 * FD_STEP)
    far = np.ones(z.shape, dtype=bool)
    for k in kinks:
        far &= np.abs(z - k) > 2.0 * FD_STEP
    bad = np.flatnonzero(far & ~(np.abs(fd - grad) <= FD_TOLERANCE * np.maximum(1.0, np.abs(grad))))
    if bad.size:
        i = bad[0]
        return (f"derivative is not the derivative of value: at z = {z[i]:g}, σ'(z) = {grad[i]:.6g} but "
                f"(σ(z+h) - σ(z-h))/2h = {fd[i]:.6g} (h = 2^-20, tolerance {FD_TOLERANCE:g}·max(1, |σ'|)); "
                "a kink there must be declared with kinks=")
    return None


def _read_only(z: Any) -> np.ndarray:
    """A read-only float64 view of ``z``: a user function writing into it fails loudly instead of
    changing an engine's pre-activations."""
    view = np.asarray(z, dtype=np.float64).view()
    view.flags.writeable = False
    return view


class _Broken(Exception):
    """Internal: a call of a user function broke the contract."""
