r"""Activations of the two-layer CNN (docs/theory.md §2), vectorized, with their derivatives.

All use the convention :math:`\sigma'(0) = 0` and vanish for :math:`z \le 0`.

* :class:`HuberizedReLU` -- threshold :math:`\kappa > 0`, power :math:`q \ge 1`:

  .. math::
     \sigma(z) = \begin{cases} 0 & z \le 0\\ z^q / (q\kappa^{q-1}) & 0 < z \le \kappa\\
                 z - (1 - 1/q)\kappa & z > \kappa \end{cases},\qquad
     \sigma'(z) = \min((z/\kappa)^{q-1}, 1)\ \ (z > 0).

* :class:`ReLU` -- :math:`\max(z, 0)`, derivative :math:`1(z > 0)`.
* :class:`PolyReLU` -- :math:`\max(z, 0)^q`, derivative :math:`q\max(z, 0)^{q-1}` (0 at 0).

Each activation is a frozen dataclass, callable on arrays of any shape, with ``.grad(z)`` and
``.spec()`` (a JSON-able dict; :func:`activation_from_spec` inverts it).

**Your own activation** (docs/guide.md, "Your own activation"): :func:`register_activation` ``(name,
value, derivative, power=None)`` with ``value`` and ``derivative`` vectorized NumPy functions of ``z``
returns a :class:`RegisteredActivation`; the name then works wherever a built-in's does
(:func:`parse_activation`, ``RunConfig(activation=name)``, sweeps, ``--activation name``, saved
trajectories, :mod:`cnnrank.theory` with the declared power). The contract, checked when registered
and at network creation (:func:`check_activation`), is that of docs/theory.md §2: ``σ(0) = 0`` and
``σ'(0) = 0`` exactly, ``σ`` and ``σ'`` finite on the test grid :data:`CHECK_GRID`, and ``σ'`` the
derivative of ``σ`` (central finite differences, tolerance :data:`FD_TOLERANCE`). Subclassing
:class:`Activation` directly is reserved for the built-ins: a network refuses any other subclass.

The engines that step in coefficient space need ``σ`` and ``σ'`` of the same pre-activations in one
pass: :meth:`Activation.terms_and_grad` is the fused form (one home per activation: the value as a sum
of terms ``σ(z) = Σ_k t_k(z) / c_k``, the derivative, optionally into preallocated buffers) and
:meth:`Activation.value_and_grad` adds the terms up. They equal ``act(z)`` and ``act.grad(z)`` up to
rounding (the fused form reuses ``σ'`` to build ``σ``).

One module per idea, every name re-exported here (``cnnrank.activations.parse_activation``, ...):

* :mod:`cnnrank.activations.base`: :class:`Activation` and its fused form;
* :mod:`cnnrank.activations.builtin`: :class:`HuberizedReLU`, :class:`ReLU`, :class:`PolyReLU`, :data:`SHORT_NAMES`;
* :mod:`cnnrank.activations.contract`: the contract of a registered activation (:data:`CHECK_GRID`);
* :mod:`cnnrank.activations.registry`: :func:`register_activation`, :class:`RegisteredActivation`,
  :class:`ActivationName`, :func:`check_activation`, :func:`activation_from_spec`;
* :mod:`cnnrank.activations.names`: :func:`parse_activation`, :func:`canonical_activation_name`.
"""

from cnnrank.activations.base import Activation as Activation
from cnnrank.activations.base import Terms as Terms
from cnnrank.activations.base import _pow as _pow
from cnnrank.activations.builtin import _BUILTIN as _BUILTIN
from cnnrank.activations.builtin import _SHORT as _SHORT
from cnnrank.activations.builtin import SHORT_NAMES as SHORT_NAMES
from cnnrank.activations.builtin import HuberizedReLU as HuberizedReLU
from cnnrank.activations.builtin import PolyReLU as PolyReLU
from cnnrank.activations.builtin import ReLU as ReLU
from cnnrank.activations.contract import CHECK_GRID as CHECK_GRID
from cnnrank.activations.contract import FD_STEP as FD_STEP
from cnnrank.activations.contract import FD_TOLERANCE as FD_TOLERANCE
from cnnrank.activations.contract import _Broken as _Broken
from cnnrank.activations.contract import _contract_error as _contract_error
from cnnrank.activations.contract import _read_only as _read_only
from cnnrank.activations.names import _format_q as _format_q
from cnnrank.activations.names import _parse as _parse
from cnnrank.activations.names import _unknown as _unknown
from cnnrank.activations.names import canonical_activation_name as canonical_activation_name
from cnnrank.activations.names import parse_activation as parse_activation
from cnnrank.activations.registry import _NAME as _NAME
from cnnrank.activations.registry import _REGISTERED as _REGISTERED
from cnnrank.activations.registry import ActivationName as ActivationName
from cnnrank.activations.registry import RegisteredActivation as RegisteredActivation
from cnnrank.activations.registry import _check_name as _check_name
from cnnrank.activations.registry import _not_registered as _not_registered
from cnnrank.activations.registry import _restore_activation as _restore_activation
from cnnrank.activations.registry import activation_from_spec as activation_from_spec
from cnnrank.activations.registry import check_activation as check_activation
from cnnrank.activations.registry import register_activation as register_activation
from cnnrank.activations.registry import registered_activations as registered_activations
from cnnrank.activations.registry import unregister_activation as unregister_activation

__all__ = ['CHECK_GRID', 'FD_STEP', 'FD_TOLERANCE', 'SHORT_NAMES', 'Activation', 'ActivationName', 'HuberizedReLU', 'PolyReLU', 'ReLU', 'RegisteredActivation', 'Terms', 'activation_from_spec', 'canonical_activation_name', 'check_activation', 'parse_activation', 'register_activation', 'registered_activations', 'unregister_activation']
