"""The real-image rank-versus-noise experiment, its figure and the mnist-rank / cifar10-rank commands."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_datasets_readers import fake_cifar, py2_cifar_pickle, write_mnist

import cnnrank
from cnnrank import datasets as ds
from cnnrank.cli import main
from cnnrank.experiments.real_images import RealRankConfig, RealRankResult, run_real_rank
from cnnrank.plotting.real_images import plot_real_accuracy, plot_real_rank, real_rank_figure

FAST = dict(n_train=40, n_test=40, m=6, steps=30, noise_std=(0.0, 0.5, 1.5))


def toy_digits(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like uint8 images (zero background): class 0 a ring, class 1 a bar, others a blob."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, size=n).astype(np.uint8)
    hh, ww = np.mgrid[0:28, 0:28]
    r = np.hypot(hh - 13.5, ww - 13.5)
    shapes = np.stack([(r > 6) & (r < 10), (np.abs(ww - 13.5) < 2.5) & (np.abs(hh - 13.5) < 10), r < 5])
    ink = rng.uniform(120, 255, size=(n, 28, 28))
    shift = rng.integers(-2, 3, size=(n, 2))
    images = np.zeros((n, 28, 28), np.uint8)
    for c in range(3):   # building the toy set only
        sel = labels == c
        images[sel] = np.where(shapes[c], ink[sel], 0).astype(np.uint8)
    rows = (hh[None] + shift[:, :1, None]) % 28
    cols = (ww[None] + shift[:, 1:, None]) % 28
    images = images[np.arange(n)[:, None, None], rows, cols]
    return images, labels


@pytest.fixture(scope="module")
def toy_set() -> ds.ImageSet:
    images, labels = toy_digits()
    return ds.ImageSet(images=images[..., None], labels=labels.astype(np.int64), classes=ds.MNIST_CLASSES,
                       name="mnist", split="test", files=("toy",))


@pytest.fixture(scope="module")
def toy_result(toy_set) -> RealRankResult:
    return run_real_rank(RealRankConfig(**FAST), images=toy_set)


# --------------------------------------------------------------------------- config


@pytest.mark.parametrize("changes, match", [
    (dict(patch_size=5), "patch_size=5 .* image side 28"),
    (dict(noise_mode="canvas", canvas_size=20), "canvas_size=20"),
    (dict(noise_mode="canvas", canvas_size=60, patch_size=14), "patch_size=14 .* canvas side 60"),
    (dict(noise_std=()), "noise_std"),
    (dict(noise_std=(0.0, -1.0)), "noise_std=-1.0"),
    (dict(classes=(3, 3)), "must differ"),
    (dict(activation="tanh"), "activation='tanh'"),
    (dict(lr=0.0), "lr=0.0"),
    (dict(dataset="svhn"), "dataset='svhn'"),
    (dict(noise_mode="salt"), "noise_mode='salt'"),
    (dict(preprocess="whiten"), "preprocess='whiten'"),
    (dict(reference_energy=0.0), "reference_energy=0.0"),
    (dict(reference_energy=1.5), "reference_energy=1.5"),
    (dict(grayscale="yes"), "grayscale='yes'"),
])
def test_config_validation(changes, match):
    with pytest.raises(ValueError, match=match):
        RealRankConfig(**changes)


def test_config_sides():
    assert RealRankConfig().image_side == 28
    assert RealRankConfig(noise_mode="canvas").image_side == 56
    assert RealRankConfig(dataset="cifar10", noise_mode="canvas", patch_size=16).image_side == 64
    assert RealRankConfig().replace(m=3).m == 3


# --------------------------------------------------------------------------- experiment


def test_result_shapes_and_clean_ranks(toy_set, toy_result):
    r = toy_result
    L = 3
    for key in ("data_stable_rank", "clean_data_stable_rank", "patch_stable_rank", "filter_stable_rank",
                "learned_stable_rank", "clean_energy_fraction", "learned_dimension", "memorization_edge",
                "train_acc", "test_acc", "train_loss"):
        assert getattr(r, key).shape == (L,)
    assert r.learned_dimension.dtype == np.int64
    assert r.filter_stable_rank_path.shape == (L, r.record_steps.size) and r.record_steps[-1] == 30
    assert r.data == {**r.data, "n_train": 40, "n_test": 40, "P": 4, "d": 196}
    # the clean ranks, recomputed independently from the same split
    sq = np.random.SeedSequence(0).spawn(4)
    task = ds.binary_task(toy_set, (0, 1), n_train=40, n_test=40, rng=np.random.default_rng(sq[0]))
    flat = task.train_images.reshape(40, -1)
    flat = flat - flat.mean(axis=1, keepdims=True)
    flat = flat / flat.std(axis=1, keepdims=True)          # the default per-image standardization
    assert r.clean_data_stable_rank[0] == pytest.approx(cnnrank.stable_rank(flat), rel=1e-12)
    np.testing.assert_array_equal(r.clean_data_stable_rank, r.clean_data_stable_rank[0])
    # at σ = 0 the noisy data are the clean data
    assert r.data_stable_rank[0] == pytest.approx(r.clean_data_stable_rank[0], rel=1e-12)
    assert r.patch_stable_rank[0] == pytest.approx(r.clean_patch_stable_rank[0], rel=1e-12)
    # background noise raises the data's stable rank (one noise pattern, scaled)
    assert np.all(np.diff(r.data_stable_rank) > 0) and np.all(np.diff(r.patch_stable_rank) > 0)
    assert r.data_stable_rank[-1] > 2 * r.data_stable_rank[0]     # σ = 1.5 image pixel stds: ×2.4
    assert np.all(r.filter_stable_rank >= 1)
    assert r.filter_stable_rank[-1] == r.filter_stable_rank_path[-1, -1]


def test_learned_subspace_recomputed(toy_set):
    """The recorded diagnostics equal cnnrank.subspace applied to W − W(0) of the same run, against the
    principal subspace of the clean (standardized) training patches."""
    from cnnrank.experiments.real_images import noisy_images, preprocess_images
    from cnnrank.subspace import learned_subspace_report, principal_subspace

    cfg = RealRankConfig(**{**FAST, "noise_std": (0.0, 1.0), "reference_energy": 0.8})
    r = run_real_rank(cfg, images=toy_set)
    sq = np.random.SeedSequence(0).spawn(4)
    task = ds.binary_task(toy_set, (0, 1), n_train=40, n_test=40, rng=np.random.default_rng(sq[0]))
    pre = preprocess_images(cfg, task.train_images)
    clean = ds.to_patches(pre, 14)
    basis, k = principal_subspace(cnnrank.patch_matrix(clean), 0.8)
    assert r.reference_dimension == k and r.reference_energy == 0.8
    X = ds.to_patches(noisy_images(cfg, pre, 1.0, np.random.default_rng(sq[1]), raw=task.train_images), 14)
    net = cnnrank.TwoLayerCNN.init(cfg.m, 196, cfg.init_std, cfg.make_activation(), rng=np.random.default_rng(sq[3]))
    traj = cnnrank.train(net, cnnrank.PatchData(X=X, y=task.y_train), lr=cfg.lr, steps=cfg.steps)
    A = (traj.W_final - traj.W_init).reshape(-1, 196)
    rep = learned_subspace_report(A, basis)
    assert r.clean_energy_fraction[1] == pytest.approx(rep["energy_fraction"], rel=1e-9)
    assert r.learned_dimension[1] == rep["learned_dimension"]
    assert r.memorization_edge[1] == pytest.approx(rep["memorization_edge"], rel=1e-9)
    assert r.learned_stable_rank[1] == pytest.approx(cnnrank.stable_rank(A), rel=1e-9)
    # σ = 0: W − W(0) lies in the span of the clean patches, most of it in their principal subspace
    assert r.clean_energy_fraction[0] > r.clean_energy_fraction[1]


def test_preprocessing_and_noise_protocol(toy_set):
    """standardize: zero mean, unit pixel std per clean image; center: minus the mean training image;
    background noise only where the RAW image is below the threshold; with preprocess="none" the noise is
    add_background_noise bit for bit."""
    from cnnrank.experiments.real_images import noisy_images, preprocess_images

    task = ds.binary_task(toy_set, (0, 1), n_train=20, n_test=10, rng=0)
    raw = task.train_images
    std = preprocess_images(RealRankConfig(), raw)
    np.testing.assert_allclose(std.mean(axis=(1, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(std.std(axis=(1, 2, 3)), 1, rtol=1e-12)
    mean = raw.mean(axis=0)
    np.testing.assert_array_equal(preprocess_images(RealRankConfig(preprocess="center"), raw, mean), raw - mean)
    with pytest.raises(ValueError, match="mean clean training image"):
        preprocess_images(RealRankConfig(preprocess="center"), raw)
    cfg = RealRankConfig()
    noisy = noisy_images(cfg, std, 2.0, 5, raw=raw)
    mask = ds.background_mask(raw, 0.1)
    np.testing.assert_array_equal(noisy[~mask], std[~mask])
    assert np.all(noisy[mask] != std[mask])
    none = RealRankConfig(preprocess="none")
    np.testing.assert_array_equal(noisy_images(none, raw, 0.7, 3), ds.add_background_noise(raw, 0.7, rng=3))
    rgb = np.repeat(raw, 3, axis=3)
    gray = preprocess_images(RealRankConfig(preprocess="none", grayscale=True), rgb)
    np.testing.assert_allclose(gray, raw, rtol=1e-15)


def test_check_task_sizes_message(toy_set):
    from cnnrank.experiments.real_images import check_task_sizes

    counts = np.bincount(toy_set.labels, minlength=10)
    with pytest.raises(ValueError) as info:
        check_task_sizes(RealRankConfig(n_train=400, n_test=1000), toy_set)
    msg = str(info.value)
    assert "\n" not in msg and f"holds {counts[0]} images of class 0 (0) and {counts[1]} of class 1 (1)" in msg
    assert "usable" in msg and "split='train'" in msg


def test_noise_levels_on_two_workers_give_the_same_bits(toy_set, toy_result):
    """The levels on a process pool (mnist-rank / cifar10-rank --workers 2): every array, bit for bit,
    and the rows reach the callback in the order of the levels."""
    from cnnrank._parallel import WorkerPool

    rows: list[float] = []
    with WorkerPool(2) as pool:
        pooled = run_real_rank(RealRankConfig(**FAST), images=toy_set, executor=pool,
                               callback=lambda row: rows.append(row["noise_std"]))
    assert rows == list(FAST["noise_std"])
    a, b = pooled.to_json(), toy_result.to_json()
    a.pop("seconds", None), b.pop("seconds", None)
    assert a == b
    for key in ("data_stable_rank", "filter_stable_rank", "filter_stable_rank_path", "train_loss", "test_acc",
                "clean_energy_fraction", "learned_dimension"):
        np.testing.assert_array_equal(getattr(pooled, key), getattr(toy_result, key))


def test_reproducible_and_saved(toy_set, toy_result, tmp_path):
    again = run_real_rank(RealRankConfig(**FAST), images=toy_set)
    for key in ("data_stable_rank", "filter_stable_rank", "test_acc", "train_loss"):
        np.testing.assert_array_equal(getattr(again, key), getattr(toy_result, key))
    other = run_real_rank(RealRankConfig(**{**FAST, "seed": 1}), images=toy_set)
    assert not np.array_equal(other.train_loss, toy_result.train_loss)
    loaded = RealRankResult.load(toy_result.save(tmp_path / "r.npz"))
    np.testing.assert_array_equal(loaded.filter_stable_rank_path, toy_result.filter_stable_rank_path)
    assert loaded.config == toy_result.config and loaded.seeds["seed"] == 0
    for key in ("clean_energy_fraction", "learned_dimension", "memorization_edge"):
        np.testing.assert_array_equal(getattr(loaded, key), getattr(toy_result, key))
    assert loaded.reference_dimension == toy_result.reference_dimension
    assert loaded.reference_energy == 0.9
    rec = json.loads(json.dumps(toy_result.to_json()))
    assert rec["noise_std"] == [0.0, 0.5, 1.5] and rec["config"]["patch_size"] == 14
    assert rec["config"]["preprocess"] == "standardize" and rec["reference_dimension"] >= 1
    assert isinstance(rec["learned_dimension"][0], int)


def test_canvas_mode_and_rows(toy_set):
    seen = []
    r = run_real_rank(RealRankConfig(**{**FAST, "noise_mode": "canvas", "noise_std": (0.0, 1.0)}),
                      images=toy_set, callback=seen.append)
    assert r.data["P"] == 16 and r.data["d"] == 196 and r.data["image_side"] == 56
    assert [row["noise_std"] for row in seen] == [0.0, 1.0]
    assert r.rows()[1]["data_stable_rank"] == seen[1]["data_stable_rank"] > seen[0]["data_stable_rank"]
    assert set(r.summary()) >= {"data_growth", "filter_min", "filter_max", "learned_dimension_min",
                                "clean_energy_fraction_min", "reference_dimension", "holds_up_to", "fails_from"}
    row = r.rows()[0]
    assert isinstance(row["learned_dimension"], int) and 0 <= row["clean_energy_fraction"] <= 1
    assert row["reference_dimension"] == r.reference_dimension


def test_mismatched_and_small(toy_set):
    with pytest.raises(ValueError, match="cifar10"):
        run_real_rank(RealRankConfig(dataset="cifar10", noise_mode="canvas", patch_size=16), images=toy_set)
    with pytest.raises(ValueError, match="usable"):
        run_real_rank(RealRankConfig(**{**FAST, "n_train": 500}), images=toy_set)


def test_figure(toy_result):
    import matplotlib.pyplot as plt

    fig = real_rank_figure(toy_result, title="toy")
    assert len(fig.axes) == 4 and fig.axes[0].get_yscale() == "log"     # 3 panels + the twin axis
    fig2 = plot_real_rank(toy_result.to_json())            # the JSON record works too
    fig3 = plot_real_accuracy(toy_result)
    old = {k: v for k, v in toy_result.to_json().items()   # a record without the subspace fields
           if k not in ("clean_energy_fraction", "learned_dimension", "reference_dimension")}
    fig4 = real_rank_figure(old)
    assert len(fig4.axes) == 2
    with pytest.raises(TypeError, match="ax="):
        plot_real_rank(toy_result, ax="left")
    for f in (fig, fig2, fig3, fig4):
        plt.close(f)


def test_figure_caption_gives_the_learned_dimension_at_every_level_of_the_window(toy_result):
    """The caption's learned dimension is read at each level where the claim holds, not only where it
    first changes: a window of three levels whose dimension changes twice names all three values;
    controls: a constant window, and a level outside the window (the claim fails there) left out."""
    import matplotlib.pyplot as plt

    rec = {**toy_result.to_json(), "test_acc": [1.0, 1.0, 1.0]}   # noise_std 0, 0.5, 1.5
    cases = [([0.9, 0.9, 0.9], [4, 3, 2], "learned dimension 4, 3, 2 at σ = 0, 0.5, 1.5"),
             ([0.9, 0.9, 0.9], [3, 3, 3], "learned dimension 3 at each of these levels"),
             ([0.9, 0.9, 0.3], [4, 4, 0], "learned dimension 4 at each of these levels")]
    for fraction, dims, want in cases:
        fig = real_rank_figure({**rec, "clean_energy_fraction": fraction, "learned_dimension": dims})
        text = fig.get_supxlabel()
        plt.close(fig)
        assert want in text, text


# --------------------------------------------------------------------------- commands


def test_mnist_rank_command(tmp_path, capsys):
    images, labels = toy_digits(160, seed=1)
    write_mnist(tmp_path / "data", images, labels, gz=True)
    out = tmp_path / "out"
    code = main(["reproduce", "mnist-rank", "--setting", "theorem", "--data-dir", str(tmp_path / "data"), "--out", str(out),
                 "--n-train", "30", "--n-test", "20", "--m", "4", "--steps", "20", "--noise", "0,1"])
    assert code == 0
    text = capsys.readouterr().out
    assert "srank W" in text and "data stable rank grows" in text
    assert "learned dim" in text and "clean energy" in text and "reference: principal subspace" in text
    rec = json.loads((out / "mnist_rank.json").read_text())
    for key in ("noise_std", "data_stable_rank", "clean_data_stable_rank", "patch_stable_rank",
                "filter_stable_rank", "test_acc", "config", "seeds", "clean_energy_fraction",
                "learned_dimension", "reference_dimension", "claim"):
        assert key in rec
    assert rec["noise_std"] == [0.0, 1.0] and rec["config"]["steps"] == 20
    assert (out / "mnist_rank.png").stat().st_size > 1000 and (out / "mnist_rank.npz").is_file()


@pytest.mark.parametrize("argv, match", [
    (["--patch-size", "5"], "patch_size=5"),
    (["--noise", "0,-1"], "noise_std=-1.0"),
    (["--n-train", "5000"], "usable"),
    (["--classes", "0,0"], "must differ"),
])
def test_mnist_rank_bad_values(tmp_path, capsys, argv, match):
    images, labels = toy_digits(60)
    write_mnist(tmp_path / "data", images, labels)
    out = tmp_path / "out"
    code = main(["reproduce", "mnist-rank", "--setting", "theorem", "--data-dir", str(tmp_path / "data"),
                 "--out", str(out)] + argv)
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert pytest.importorskip("re").search(match, err)
    assert not out.exists()


def test_mnist_rank_missing_data(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CNNRANK_DATA", raising=False)
    out = tmp_path / "out"
    assert main(["reproduce", "mnist-rank", "--out", str(out)]) == 2
    assert "CNNRANK_DATA" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["reproduce", "mnist-rank", "--data-dir", str(tmp_path / "empty"), "--out", str(out)]) == 2
    assert "t10k-images-idx3-ubyte" in capsys.readouterr().err
    assert not out.exists()


def test_cifar10_rank_command(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    data, labels = fake_cifar(60, seed=2)
    labels = [i % 3 for i in range(60)]
    (folder / "test_batch").write_bytes(py2_cifar_pickle(data, labels, b"testing batch 1 of 1"))
    monkeypatch.setenv("CNNRANK_DATA", str(tmp_path))
    out = tmp_path / "out"
    code = main(["reproduce", "cifar10-rank", "--setting", "theorem", "--out", str(out), "--n-train", "20", "--n-test", "10",
                 "--m", "3", "--steps", "10", "--noise", "0,0.5", "--split", "test"])
    assert code == 0
    rec = json.loads((out / "cifar10_rank.json").read_text())
    assert rec["data"]["d"] == 8 * 8 * 3 and rec["data"]["P"] == 36 and rec["data"]["image_side"] == 48
    code = main(["reproduce", "cifar10-rank", "--setting", "theorem", "--out", str(tmp_path / "g"), "--n-train", "20", "--n-test", "10",
                 "--m", "3", "--steps", "5", "--noise", "0", "--split", "test", "--grayscale"])
    assert code == 0
    assert json.loads((tmp_path / "g" / "cifar10_rank.json").read_text())["data"]["d"] == 8 * 8
    assert rec["data"]["class_names"] == ["airplane", "automobile"]
    assert (out / "cifar10_rank.png").is_file()
    assert "airplane (+1) vs automobile (-1)" in capsys.readouterr().out


# --------------------------------------------------------------------------- the real MNIST test set


def test_real_mnist_short_training(mnist_dir):
    """A short run on 0 vs 1 without noise: > 95% held-out accuracy (it reaches ~99-100%)."""
    mnist = ds.load_mnist(mnist_dir, split="test")
    r = run_real_rank(RealRankConfig(n_train=100, n_test=500, m=10, steps=100, noise_std=(0.0,)), images=mnist)
    assert r.test_acc[0] > 0.95
    assert r.train_acc[0] == 1.0
    assert r.data_stable_rank[0] < 4     # standardized clean 0-vs-1 images: stable rank about 3
    raw = run_real_rank(RealRankConfig(n_train=100, n_test=500, m=10, steps=1, noise_std=(0.0,),
                                       preprocess="none"), images=mnist)
    assert raw.data_stable_rank[0] < r.data_stable_rank[0]   # raw pixels: the mean digit dominates more


@pytest.mark.slow
def test_real_mnist_rank_claim(mnist_dir):
    """The default configuration (about 30 s): the claim holds up to σ = 2 (data stable rank ×4.2, learned
    part 2.0-2.1, clean energy fraction >= 0.90) and fails from σ = 3 (clean energy fraction 0.80)."""
    r = run_real_rank(RealRankConfig(), images=ds.load_mnist(mnist_dir, split="test"))
    s = r.summary()
    assert s["data_growth"] > 10 and r.train_acc[0] == 1.0 and r.test_acc[0] > 0.98
    assert s["holds_up_to"] == 2.0 and s["fails_from"] == 3.0
    assert s["data_growth_where_holds"] > 4 and s["learned_max_where_holds"] < 1.1 * s["learned_min_where_holds"]
    assert r.clean_energy_fraction[-1] < 0.5 and r.learned_dimension[-1] <= 1


def test_real_images_module_reexports_its_configuration_and_preprocessing():
    """The configuration (``real_config``) and the preprocessing (``preprocess``) live apart from the run;
    every name imported from ``cnnrank.experiments.real_images`` or ``cnnrank.experiments`` stays
    importable there as the same object, and a pickled configuration still loads."""
    import pickle

    import cnnrank.experiments as ex
    from cnnrank.experiments import preprocess, real_config, real_images

    for name in real_images.__all__:
        assert hasattr(real_images, name), name
    assert real_images.PREPROCESSING is real_config.PREPROCESSING
    for name in ("RealRankConfig", "DEFAULT_TRAINING", "REAL_FLAT_FIELDS"):
        assert getattr(real_images, name) is getattr(real_config, name)
    for name in ("preprocess_images", "noisy_images", "check_task_sizes"):
        assert getattr(real_images, name) is getattr(preprocess, name) is getattr(ex, name)
    assert ex.RealRankConfig is real_config.RealRankConfig and ex.RealRankResult is real_images.RealRankResult
    config = RealRankConfig(**FAST)
    assert pickle.loads(pickle.dumps(config)) == config
