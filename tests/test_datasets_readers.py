"""MNIST IDX and CIFAR-10 readers on small files written here in the exact formats, and on the real
MNIST test set when it is present."""

from __future__ import annotations

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from cnnrank import datasets as ds
from cnnrank.datasets import DatasetError
from cnnrank.datasets.cifar10 import RestrictedUnpickler

MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# --------------------------------------------------------------------------- writers (exact formats)


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    """An IDX file: big-endian magic, dimensions, then the raw bytes."""
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def write(path: Path, data: bytes, gz: bool = False) -> Path:
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


def fake_mnist(n: int, seed: int = 0, rows: int = 28, cols: int = 28):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, rows, cols), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    return images, labels


def write_mnist(folder: Path, images: np.ndarray, labels: np.ndarray, prefix: str = "t10k",
                gz: bool = False) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    img = write(folder / f"{prefix}-images-idx3-ubyte", idx_bytes(0x803, images.shape, images.tobytes()), gz)
    lab = write(folder / f"{prefix}-labels-idx1-ubyte", idx_bytes(0x801, labels.shape, labels.tobytes()), gz)
    return img, lab


def _str2(s: bytes) -> bytes:
    """A Python 2 ``str`` as cPickle writes it: SHORT_BINSTRING or BINSTRING."""
    if len(s) < 256:
        return b"U" + bytes([len(s)]) + s
    return b"T" + struct.pack("<i", len(s)) + s


def _int2(v: int) -> bytes:
    if 0 <= v < 256:
        return b"K" + bytes([v])
    if 0 <= v < 65536:
        return b"M" + struct.pack("<H", v)
    return b"J" + struct.pack("<i", v)


def py2_cifar_pickle(data: np.ndarray, labels: list[int], batch_label: bytes = b"training batch 1 of 5",
                     filenames: list[bytes] | None = None) -> bytes:
    """A CIFAR-10 batch byte for byte in the layout of the official files (Python 2 cPickle,
    protocol 2, numpy 1.x array reduction through ``numpy.core.multiarray._reconstruct``)."""
    n, width = data.shape
    filenames = filenames if filenames is not None else [b"img_%d.png" % i for i in range(n)]
    dtype = (b"cnumpy\ndtype\n" + _str2(b"u1") + b"K\x00K\x01\x87R"
             + b"(K\x03" + _str2(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + b"K\x00\x85"
             + _str2(b"b") + b"\x87R"
             + b"(K\x01" + _int2(n) + _int2(width) + b"\x86" + dtype + b"\x89"
             + _str2(data.tobytes()) + b"tb")
    out = b"\x80\x02}("
    out += _str2(b"data") + array
    out += _str2(b"labels") + b"](" + b"".join(_int2(v) for v in labels) + b"e"
    out += _str2(b"batch_label") + _str2(batch_label)
    out += _str2(b"filenames") + b"](" + b"".join(_str2(f) for f in filenames) + b"e"
    return out + b"u."


def fake_cifar(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), rng.integers(0, 10, size=n).tolist()


def write_cifar(folder: Path, sizes=(3, 2, 4, 1, 2), test_size=3, seed=0) -> dict[str, tuple]:
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for i, n in enumerate(sizes, start=1):
        data, labels = fake_cifar(n, seed + i)
        (folder / f"data_batch_{i}").write_bytes(py2_cifar_pickle(data, labels))
        batches[f"data_batch_{i}"] = (data, labels)
    data, labels = fake_cifar(test_size, seed + 99)
    (folder / "test_batch").write_bytes(py2_cifar_pickle(data, labels, b"testing batch 1 of 1"))
    batches["test_batch"] = (data, labels)
    return batches


def cifar_to_hwc(data: np.ndarray) -> np.ndarray:
    """Reference conversion, pixel by pixel: row r of the file is R plane, G plane, B plane."""
    n = data.shape[0]
    out = np.empty((n, 32, 32, 3), dtype=np.uint8)
    for c in range(3):
        for h in range(32):
            out[:, h, :, c] = data[:, c * 1024 + h * 32: c * 1024 + h * 32 + 32]
    return out


# --------------------------------------------------------------------------- MNIST IDX


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("split,prefix", [("test", "t10k"), ("train", "train")])
def test_mnist_roundtrip(tmp_path, gz, split, prefix):
    images, labels = fake_mnist(7, seed=3)
    write_mnist(tmp_path, images, labels, prefix=prefix, gz=gz)
    got = ds.load_mnist(tmp_path, split=split)
    assert got.images.shape == (7, 28, 28, 1) and got.images.dtype == np.uint8
    np.testing.assert_array_equal(got.images[..., 0], images)
    np.testing.assert_array_equal(got.labels, labels.astype(np.int64))
    assert got.labels.dtype == np.int64
    assert got.name == "mnist" and got.split == split and got.classes == tuple("0123456789")
    assert all(Path(f).parent == tmp_path for f in got.files)


def test_mnist_env_var_and_subfolder(tmp_path, monkeypatch):
    images, labels = fake_mnist(4)
    write_mnist(tmp_path / "mnist", images, labels, gz=True)
    monkeypatch.setenv("CNNRANK_DATA", str(tmp_path))
    got = ds.load_mnist(split="test")
    np.testing.assert_array_equal(got.images[..., 0], images)


def test_no_data_dir(monkeypatch):
    monkeypatch.delenv("CNNRANK_DATA", raising=False)
    with pytest.raises(DatasetError, match="CNNRANK_DATA"):
        ds.load_mnist(split="test")
    with pytest.raises(DatasetError, match="does not exist"):
        ds.load_mnist("/nonexistent/cnnrank-data", split="test")


def test_mnist_missing_file_named(tmp_path):
    images, labels = fake_mnist(4)
    img, lab = write_mnist(tmp_path, images, labels)
    lab.unlink()
    with pytest.raises(DatasetError, match="t10k-labels-idx1-ubyte"):
        ds.load_mnist(tmp_path, split="test")
    with pytest.raises(DatasetError, match="train-images-idx3-ubyte"):
        ds.load_mnist(tmp_path, split="train")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_bad_magic(tmp_path, gz):
    images, labels = fake_mnist(3)
    img, _ = write_mnist(tmp_path, images, labels, gz=gz)
    # an image file whose magic is that of a label file
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(0x801, images.shape, images.tobytes()), gz)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*magic number 0x00000801.*0x00000803"):
        ds.load_mnist(tmp_path, split="test")


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_truncated(tmp_path, gz):
    images, labels = fake_mnist(3)
    write_mnist(tmp_path, images, labels, gz=gz)
    data = idx_bytes(0x803, images.shape, images.tobytes())[:-5]
    write(tmp_path / "t10k-images-idx3-ubyte", data, gz)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*truncated"):
        ds.load_mnist(tmp_path, split="test")
    # shorter than the header itself
    write(tmp_path / "t10k-images-idx3-ubyte", data[:10], gz)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*truncated"):
        ds.load_mnist(tmp_path, split="test")


def test_mnist_trailing_bytes_and_bad_label(tmp_path):
    images, labels = fake_mnist(3)
    write_mnist(tmp_path, images, labels)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(0x801, labels.shape, labels.tobytes() + b"\0"))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*1 bytes after"):
        ds.load_mnist(tmp_path, split="test")
    bad = labels.copy()
    bad[1] = 10
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(0x801, bad.shape, bad.tobytes()))
    with pytest.raises(DatasetError, match=r"t10k-labels-idx1-ubyte.*label 10"):
        ds.load_mnist(tmp_path, split="test")


def test_mnist_truncated_gzip_stream(tmp_path):
    images, labels = fake_mnist(3)
    img, _ = write_mnist(tmp_path, images, labels, gz=True)
    img.write_bytes(img.read_bytes()[:-12])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.gz.*gzip"):
        ds.load_mnist(tmp_path, split="test")


def test_mnist_count_mismatch(tmp_path):
    images, labels = fake_mnist(5)
    write_mnist(tmp_path, images, labels[:4])
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*5 images.*t10k-labels-idx1-ubyte.*4 labels"):
        ds.load_mnist(tmp_path, split="test")


def test_bad_split():
    with pytest.raises(ValueError, match="split='val'"):
        ds.load_mnist("/tmp", split="val")
    with pytest.raises(ValueError, match="split='val'"):
        ds.load_cifar10("/tmp", split="val")


# --------------------------------------------------------------------------- CIFAR-10


def test_cifar_reference_layout(tmp_path):
    """The hand-written Python 2 pickle is read, and planes become channels-last pixels."""
    data, labels = fake_cifar(3, seed=5)
    path = tmp_path / "data_batch_1"
    path.write_bytes(py2_cifar_pickle(data, labels))
    images, got_labels = ds.read_cifar10_batch(path)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, cifar_to_hwc(data))
    np.testing.assert_array_equal(got_labels, labels)


@pytest.mark.parametrize("split", ["train", "test"])
def test_cifar_load_splits(tmp_path, split):
    batches = write_cifar(tmp_path / "cifar-10-batches-py")
    got = ds.load_cifar10(tmp_path, split=split)
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    data = np.concatenate([batches[k][0] for k in names])
    labels = [lab for k in names for lab in batches[k][1]]
    np.testing.assert_array_equal(got.images, cifar_to_hwc(data))
    np.testing.assert_array_equal(got.labels, labels)
    assert got.classes[0] == "airplane" and got.classes[9] == "truck" and got.name == "cifar10"
    assert [Path(f).name for f in got.files] == names


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_cifar_repickled_by_python3(tmp_path, protocol):
    """Batches re-saved by Python 3 / numpy 2 (bytes via _codecs.encode at protocol 2, numpy._core
    names, _frombuffer at protocol 5) are read too; gzip is accepted."""
    data, labels = fake_cifar(4, seed=1)
    batch = {b"batch_label": b"x", b"labels": labels, b"data": data, b"filenames": [b"a"] * 4}
    path = tmp_path / "test_batch"
    path.write_bytes(gzip.compress(pickle.dumps(batch, protocol=protocol)))
    images, got = ds.read_cifar10_batch(path)
    np.testing.assert_array_equal(images, cifar_to_hwc(data))
    np.testing.assert_array_equal(got, labels)


class _Evil:
    def __init__(self, target: str):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"echo pwned > {self.target}",))


class _EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_restricted_unpickler_refuses_os_system(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": _Evil(str(marker)), b"labels": []}, protocol=2))
    with pytest.raises(DatasetError, match=r"data_batch_1.*refused global (posix|nt|os)\.system"):
        ds.read_cifar10_batch(path)
    assert not marker.exists()
    path.write_bytes(pickle.dumps(_EvalEvil(), protocol=4))
    with pytest.raises(DatasetError, match=r"refused global builtins\.eval"):
        ds.read_cifar10_batch(path)
    with pytest.raises(pickle.UnpicklingError):
        RestrictedUnpickler(__import__("io").BytesIO(pickle.dumps(_Evil(str(marker))))).load()
    assert not marker.exists()


def test_restricted_unpickler_refuses_objects_and_codecs_abuse(tmp_path):
    path = tmp_path / "data_batch_1"
    obj = np.array([1, "a", None], dtype=object)
    path.write_bytes(pickle.dumps({b"data": obj, b"labels": [0, 1, 2]}, protocol=2))
    with pytest.raises(DatasetError, match="object arrays are not allowed"):
        ds.read_cifar10_batch(path)
    # _codecs.encode with another codec than latin1 is refused
    evil = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R."
    path.write_bytes(evil)
    with pytest.raises(DatasetError, match="only encode"):
        ds.read_cifar10_batch(path)


@pytest.mark.parametrize(
    "content, message",
    [
        (pickle.dumps([1, 2, 3], protocol=2), "holds a list, expected a dict"),
        (pickle.dumps({b"labels": [1]}, protocol=2), "no 'data' entry"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), "no 'labels' entry"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=2),
         r"'data' is a float32 array \(2, 3072\)"),
        (pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, protocol=2),
         "expected a uint8 array"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2),
         "holds 2 images but 1 labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2),
         "holds label 12"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, "x"]}, protocol=2),
         "list of ints"),
        (b"not a pickle at all", "not a CIFAR-10 batch: invalid load key"),
    ],
)
def test_cifar_malformed(tmp_path, content, message):
    path = tmp_path / "test_batch"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=r"test_batch.*" + message):
        ds.read_cifar10_batch(path)


def test_cifar_truncated_and_missing(tmp_path):
    write_cifar(tmp_path)
    path = tmp_path / "data_batch_3"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=r"data_batch_3.*truncated"):
        ds.load_cifar10(tmp_path, split="train")
    path.unlink()
    with pytest.raises(DatasetError, match=r"data_batch_3.*not found"):
        ds.load_cifar10(tmp_path, split="train")
    with pytest.raises(DatasetError, match="not found"):
        ds.read_cifar10_batch(tmp_path / "nothing")


# --------------------------------------------------------------------------- the real MNIST test set


def test_real_mnist_test_set(mnist_dir):
    mnist = ds.load_mnist(mnist_dir, split="test")
    assert mnist.images.shape == (10000, 28, 28, 1)
    assert mnist.class_counts().tolist() == MNIST_TEST_COUNTS
    assert mnist.images.min() == 0 and mnist.images.max() == 255
    # most of an MNIST image is exactly-zero background: what background noise acts on
    assert 0.75 < np.mean(mnist.images == 0) < 0.85


def test_real_mnist_through_env_var(mnist_dir, monkeypatch):
    monkeypatch.setenv("CNNRANK_DATA", str(mnist_dir.parent))  # the mnist/ sub-folder is found
    assert ds.load_mnist(split="test").n == 10000


# --------------------------------------------------------------------------- bounded readers: headers and sizes checked before allocating


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dims, message", [
    ((10, 0, 28), r"dimensions \(10, 0, 28\).*no zero dimension"),
    ((0, 28, 28), "no zero dimension"),
    ((0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), "truncated|is refused"),
])
def test_idx_zero_and_overflowed_dimensions(tmp_path, gz, dims, message):
    path = write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(0x803, dims, b"\0" * 64), gz)
    with pytest.raises(DatasetError, match=r"t10k-images-idx3-ubyte.*(" + message + ")"):
        ds.read_idx_images(path)


def test_idx_gzip_declaring_more_than_the_limits_is_refused_before_reading(tmp_path):
    # 4 GiB declared by a 40-byte gzip file: refused from the header, nothing allocated
    path = write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(0x803, (1 << 22, 32, 32), b""), gz=True)
    with pytest.raises(DatasetError, match=r"is refused: the data its header \(4194304, 32, 32\) declares"):
        ds.read_idx_images(path)
    plain = write(tmp_path / "train-images-idx3-ubyte", idx_bytes(0x803, (1 << 22, 32, 32), b"\0" * 8))
    with pytest.raises(DatasetError, match="truncated: 24 bytes, the header"):
        ds.read_idx_images(plain)


def test_idx_gzip_with_trailing_data_is_refused(tmp_path):
    images, labels = fake_mnist(3)
    data = idx_bytes(0x803, images.shape, images.tobytes()) + bytes(5)
    path = write(tmp_path / "t10k-images-idx3-ubyte", data, gz=True)
    with pytest.raises(DatasetError, match=r"has 5 bytes after the 2368"):
        ds.read_idx_images(path)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_dotted_file_names_are_found(tmp_path, gz):
    images, labels = fake_mnist(4, seed=3)
    img, lab = write_mnist(tmp_path / "MNIST" / "raw", images, labels, gz=gz)
    img.rename(img.with_name(img.name.replace("-images-", "-images.")))
    lab.rename(lab.with_name(lab.name.replace("-labels-", "-labels.")))
    s = ds.load_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(s.images[..., 0], images)
    assert "t10k-images.idx3-ubyte" in s.files[0]


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 99]), "labels holds 99: labels must lie in 0..9"),
    (np.array([-1, 0]), "labels holds -1"),
    (np.array([0.0, 1.0]), "must hold integers"),
])
def test_image_set_refuses_labels_outside_its_classes(labels, message):
    with pytest.raises(ValueError, match=message):
        ds.ImageSet(images=np.zeros((2, 4, 4, 1), np.uint8), labels=labels, classes=ds.MNIST_CLASSES,
                    name="mnist", split="test", files=())
    with pytest.raises(ValueError, match=r"labels holds 3: labels must lie in 0..2"):
        ds.ImageSet(images=np.zeros((2, 4, 4, 1), np.uint8), labels=np.array([0, 3]), classes=("a", "b", "c"),
                    name="toy", split="test", files=())


def test_cifar_ndarray_call_larger_than_the_file_is_refused(tmp_path):
    # numpy.ndarray((600000, 3072), 'u1') from a small pickle: refused before the 1.8 GiB allocation
    labels = b"U\x06labels](" + b"K\x00" * 100 + b"e"
    evil = (b"\x80\x02}(U\x04data" + b"cnumpy\nndarray\nJ" + struct.pack("<i", 600000) + b"M\x00\x0c\x86"
            + b"\x8c\x02u1\x86R" + labels + b"u.")
    path = tmp_path / "data_batch_1"
    path.write_bytes(evil)
    with pytest.raises(DatasetError, match=r"data_batch_1.*refused numpy.ndarray\(\(600000, 3072\), uint8\)"):
        ds.read_cifar10_batch(path)


def test_cifar_huge_label_and_memo_index(tmp_path):
    path = tmp_path / "test_batch"
    path.write_bytes(pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10**100]}, protocol=2))
    with pytest.raises(DatasetError, match=r"test_batch.*holds label 333-bit integer: CIFAR-10 labels are 0..9"):
        ds.read_cifar10_batch(path)
    path.write_bytes(b"\x80\x02]r\xff\xff\xff\x7f.")  # LONG_BINPUT 2**31 - 1
    with pytest.raises(DatasetError, match=r"test_batch.*refused memo index 2147483647"):
        ds.read_cifar10_batch(path)


def test_cifar_gzip_bomb_is_refused_while_streaming(tmp_path):
    member = gzip.compress(bytes(1 << 20), mtime=0)
    path = tmp_path / "test_batch"
    path.write_bytes(gzip.compress(b"\x80\x02}(", mtime=0) + member * 80)  # 80 MiB from ~80 KiB
    with pytest.raises(DatasetError, match=r"test_batch.*is refused.*gzip file may expand to"):
        ds.read_cifar10_batch(path)
