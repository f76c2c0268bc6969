"""Property-test a gradient formula with cnnrank.testing: here, the analytic gradient of the
two-layer CNN's logistic loss, on random problems drawn by hypothesis.

Users can do the same for their own formulas: give ``check_grad`` a scalar function and its
claimed gradient.
"""

import numpy as np
from hypothesis import assume, given, settings

import cnnrank
from cnnrank.testing import check_grad, taylor_slope
from cnnrank.testing import strategies as cst


@settings(max_examples=30, deadline=None)
@given(cst.problems())
def gradient_is_right(problem):
    W, X, y, act = problem
    Z = np.einsum("ipd,jrd->ipjr", X, W)
    assume(all(np.min(np.abs(Z - k)) > 1e-4 for k in act.kinks()))  # stay away from kinks
    fun = lambda w: cnnrank.loss_and_grad(w, X, y, act)[0]
    grad = lambda w: cnnrank.loss_and_grad(w, X, y, act)[1]
    check_grad(fun, grad, W, rng=0)


gradient_is_right()
print("analytic gradient agrees with central differences on 30 random problems")

# the Taylor-remainder slope is 2 for a right gradient, about 1 for a wrong one
rng = np.random.default_rng(0)
W, X, y = rng.standard_normal((2, 3, 5)), rng.standard_normal((8, 2, 5)), np.sign(rng.standard_normal(8))
act = cnnrank.HuberizedReLU(1.0, q=3)
fun = lambda w: cnnrank.loss_and_grad(w, X, y, act)[0]
right = lambda w: cnnrank.loss_and_grad(w, X, y, act)[1]
wrong = lambda w: 1.1 * right(w)
print(f"Taylor slope: right gradient {taylor_slope(fun, right, W, rng=1):.2f}, "
      f"10% wrong gradient {taylor_slope(fun, wrong, W, rng=1):.2f}")
