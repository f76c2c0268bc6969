"""The headline claim on real images, fast enough for the default run (a few seconds).

On real MNIST 0 vs 1 (per-image standardized, background noise, docs/theory.md §5): as the noise grows
the data's stable rank grows while the filters' learned part keeps its stable rank, its learned
dimension and its clean energy fraction (share of ``‖W − W(0)‖_F²`` in the principal subspace of the
clean training patches); the control at very large noise shows where the claim must NOT hold: the
clean energy fraction falls, the learned dimension drops to at most 1 and the test accuracy falls —
while the learned part's stable rank stays low, so the stable rank alone does not reveal the failure.

The real data live beside the checkout (``../shared/data``); the tests skip with the reason when the
files are absent.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import CIFAR10_DIR

from cnnrank import datasets as ds
from cnnrank.cli import main
from cnnrank.experiments.real_images import RealRankConfig, check_task_sizes, claim_range, run_real_rank
from cnnrank.reproduce.mnist_rank import default_config

# small and short: ~3 s on the shared 2-core machine
FAST_CLAIM = dict(n_train=200, n_test=300, m=10, steps=200, noise_std=(0.0, 1.5, 8.0))


@pytest.fixture
def cifar10_dir() -> Path:
    """The real CIFAR-10 subset shipped in ../shared/data/cifar10/cifar-10-batches-py, or skip with the reason."""
    needed = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    if not all((CIFAR10_DIR / f).is_file() for f in needed):
        pytest.skip(f"real CIFAR-10 subset not found at {CIFAR10_DIR} (../shared/data/cifar10 beside the checkout)")
    return CIFAR10_DIR


@pytest.fixture(scope="module")
def mnist_claim_result():
    from conftest import MNIST_DIR

    if not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"real MNIST test set not found at {MNIST_DIR} (../shared/data/mnist beside the checkout)")
    return run_real_rank(RealRankConfig(**FAST_CLAIM), images=ds.load_mnist(MNIST_DIR, split="test"))


def test_mnist_claim_holds_at_moderate_noise(mnist_claim_result):
    """σ = 1.5 (noise std 1.5× the image's pixel std on the background): the data's stable rank grows
    by more than 2.5× (measured 2.8×) while the learned part keeps its stable rank (±15 %), its learned
    dimension (measured 6 → 5) and ≥ 85 % of its energy in the clean subspace (measured 0.99 → 0.92)."""
    r = mnist_claim_result
    assert r.train_acc[0] == 1.0 and r.test_acc[0] >= 0.99
    assert r.data_stable_rank[1] > 2.5 * r.data_stable_rank[0]
    assert r.patch_stable_rank[1] > 1.5 * r.patch_stable_rank[0]
    assert abs(r.learned_stable_rank[1] / r.learned_stable_rank[0] - 1) < 0.15
    assert r.learned_stable_rank[1] < 0.5 * r.data_stable_rank[1]
    assert r.clean_energy_fraction[0] > 0.95 and r.clean_energy_fraction[1] > 0.85
    assert r.learned_dimension[0] >= 4 and r.learned_dimension[1] >= r.learned_dimension[0] - 1
    assert r.learned_dimension[0] < r.reference_dimension       # a few directions of the reference, not all
    assert r.test_acc[1] >= 0.98
    c = r.claim()
    assert c["holds"][:2] == [True, True] and c["holds_up_to"] == 1.5


def test_mnist_claim_fails_at_huge_noise(mnist_claim_result):
    """Control, σ = 8: the data's stable rank is > 20× the clean one; the filters memorize the noise:
    clean energy fraction < 0.5 (measured 0.32), learned dimension <= 1, test accuracy < 0.85 — but the
    learned part's stable rank stays below 3: a flat stable rank alone would wrongly suggest the claim holds."""
    r = mnist_claim_result
    assert r.data_stable_rank[2] > 20 * r.data_stable_rank[0]
    assert r.clean_energy_fraction[2] < 0.5
    assert r.learned_dimension[2] <= 1
    assert r.test_acc[2] < 0.85 and r.train_acc[2] == 1.0
    assert r.learned_stable_rank[2] < 3
    c = r.claim()
    assert c["fails_from"] == 8.0 and "clean energy fraction" in c["reason"]


def test_claim_range_rules():
    c = claim_range([0, 1, 2, 3], [0.9, 0.85, 0.7, 0.95], [0.99, 0.99, 0.99, 0.5])
    assert c["holds"] == [True, True, False, False] and c["holds_up_to"] == 1 and c["fails_from"] == 2
    assert "0.90 → 0.70" in c["reason"]
    c = claim_range([0, 1], [0.9, 0.9], [0.99, 0.9])
    assert c["fails_from"] == 1 and "test accuracy" in c["reason"]
    assert claim_range([0, 1], [0.9, 0.85], [0.9, 0.9])["fails_from"] is None


# --------------------------------------------------------------------------- the real CIFAR-10 subset


def test_cifar10_defaults_fit_the_subset(cifar10_dir):
    """The theorem setting's defaults draw from the training split, which the subset can supply; the test split
    cannot, and says so in one line with the class counts."""
    cfg = default_config("cifar10", "theorem")
    assert cfg.split == "train"
    check_task_sizes(cfg, ds.load_cifar10(cifar10_dir, split="train"))
    test_set = ds.load_cifar10(cifar10_dir, split="test")
    with pytest.raises(ValueError, match=r"test split of cifar10 holds 97 images of class 0 \(airplane\) "
                                         r"and 78 of class 1 \(automobile\), 156 usable") as info:
        check_task_sizes(cfg.replace(split="test"), test_set)
    assert "\n" not in str(info.value) and "split='train'" in str(info.value)


def test_cifar10_command_rejects_test_split_early(cifar10_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["reproduce", "cifar10-rank", "--setting", "theorem", "--data-dir", str(cifar10_dir), "--out", str(out),
                 "--split", "test"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "97 images of class 0" in err
    assert not out.exists()


def test_cifar10_short_run(cifar10_dir):
    """A tiny run on the real subset with the default preprocessing and canvas: the standardized clean
    images are not dominated by the mean image (data stable rank > 3, against 1.2 for raw pixels), and
    the canvas noise raises it."""
    cfg = default_config("cifar10", "theorem").replace(n_train=40, n_test=40, m=4, steps=30, noise_std=(0.0, 2.0))
    r = run_real_rank(cfg, images=ds.load_cifar10(cifar10_dir, split="train"))
    assert r.data["P"] == 36 and r.data["d"] == 192 and r.data["image_side"] == 48
    assert r.data_stable_rank[0] > 3 and r.data_stable_rank[1] > 3 * r.data_stable_rank[0]
    raw = run_real_rank(cfg.replace(preprocess="none", noise_std=(0.0,), steps=1), images=ds.load_cifar10(
        cifar10_dir, split="train"))
    assert raw.data_stable_rank[0] < 1.5
    assert 1 <= r.reference_dimension < r.data["d"]
    assert np.all((0 <= r.clean_energy_fraction) & (r.clean_energy_fraction <= 1))
