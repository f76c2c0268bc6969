"""Neural-collapse metrics in a few lines: a perfect simplex ETF, a noisy one, and a short UFM run.

Run: ``python examples/neural_collapse_metrics.py`` (about a second).
"""

import numpy as np

from cnnrank.collapse import coherence, grassmannian_frame, nc_metrics, simplex_etf, welch_bound
from cnnrank.collapse.simulate import UFMConfig, train_ufm

C, d, per = 4, 6, 25
rng = np.random.default_rng(0)
M = simplex_etf(C, d, rng=rng)                      # (C, d) unit rows, cosines -1/(C-1)
y = np.repeat(np.arange(C), per)

perfect = nc_metrics(3.0 * M[y], y, W=M)            # collapsed features, self-dual classifier
noisy = nc_metrics(3.0 * M[y] + 0.5 * rng.standard_normal((C * per, d)), y, W=M)
print(f"{'metric':<22}{'perfect':>12}{'noisy':>12}")
for name in ("nc1", "equinorm_means", "equiangular_means", "etf_distance_means", "nc3_duality",
             "nc4_ncc_mismatch", "p_min"):
    print(f"{name:<22}{getattr(perfect, name):>12.2e}{getattr(noisy, name):>12.3f}")

# Collapse emerging in the unconstrained-features model with weight decay.
run = train_ufm(UFMConfig(num_classes=C, dim=d, steps=1500, record_every=500), rng=1)
for step, nc1, etf, pmin in zip(run.steps, run.series("nc1"), run.series("etf_distance_means"), run.series("p_min")):
    print(f"UFM step {step:>5}: nc1 {nc1:.2e}  ETF distance {etf:.2e}  p_min {pmin:.3f}")

# Generalized collapse (C > d + 1): 6 classes in R^3 -> the octahedron, signed coherence 0.
frame = grassmannian_frame(6, 3, signed=True, restarts=4, steps=800, rng=2)
print(f"6 vectors in R^3: signed coherence {frame.coherence:.2e} (bound {frame.bound}, {frame.bound_name})")
print(f"Welch bound for 4 lines in R^3: {welch_bound(4, 3):.4f}; the simplex reaches {coherence(simplex_etf(4, 3, rng=3)):.4f}")
