"""Hostile files for every reader, loaded in a subprocess with bounded memory.

For MNIST IDX (plain and gzip), CIFAR-10 pickles and results ``.npz`` archives, a fixed, seeded list
of hostile and mutated files (truncated, bit-flipped, wrong magic, zero or overflowed dimensions,
huge declared sizes, ~1 MB decompression bombs expanding to hundreds of MiB or GiBs) is loaded in a
child process whose address space is capped at 1 GiB (``RLIMIT_AS``). Each file must either load
(giving arrays of the documented shape and dtype) or raise the documented error class
(:class:`DatasetError` / :class:`ResultsFileError`) -- never ``MemoryError``, ``NotImplementedError``
or another raw exception, never a crash or a hang -- and the child's peak resident memory must stay
below :data:`PEAK_BOUND` above its baseline after imports.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from cnnrank.results import save_npz

#: the child's address-space cap
ADDRESS_LIMIT = 1 << 30
#: how far the child's peak RSS may rise above its baseline after imports while loading everything
PEAK_BOUND = 200 << 20
N_FLIPS = 25  # bit-flipped copies per base file
SEED = 12


# --------------------------------------------------------------------------- building blocks


def idx(magic: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", magic) + b"".join(struct.pack(">I", d) for d in dims) + payload


def gzip_bomb(prefix: bytes, zeros_mib: int) -> bytes:
    """``prefix`` then ``zeros_mib`` MiB of zeros as a multi-member gzip file (about 1 KiB per MiB)."""
    member = gzip.compress(bytes(1 << 20), compresslevel=9, mtime=0)
    return gzip.compress(prefix, mtime=0) + member * zeros_mib


def mutations(base: bytes, rng: np.random.Generator) -> list[tuple[str, bytes]]:
    """Truncations at several points and ``N_FLIPS`` single-bit flips of ``base``."""
    out = [(f"trunc{k}", base[:k]) for k in sorted({0, 1, 7, 8, 15, 16, len(base) // 2, len(base) - 1})]
    for i in range(N_FLIPS):
        pos = int(rng.integers(0, min(len(base), 64))) if i % 2 else int(rng.integers(0, len(base)))
        flipped = bytearray(base)
        flipped[pos] ^= 1 << int(rng.integers(0, 8))
        out.append((f"flip{i}@{pos}", bytes(flipped)))
    return out


def mnist_cases(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    base = idx(0x803, (6, 28, 28), images.tobytes())
    cases = [("valid", base), ("valid.gz", gzip.compress(base, mtime=0))]
    for name, data in mutations(base, rng):
        cases.append((name, data))
        cases.append((name + ".gz", gzip.compress(data, mtime=0)))
    for name, data in mutations(gzip.compress(base, mtime=0), rng):
        cases.append(("gz-" + name, data))
    hostile = {
        "magic": idx(0x801, (6, 28, 28), images.tobytes()),
        "zero-dim": idx(0x803, (10, 0, 28), b""),
        "zero-count": idx(0x803, (0, 28, 28), b""),
        "overflow-dims": idx(0x803, (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), b"\0" * 100),
        "huge-declared": idx(0x803, (1 << 31, 28, 28), b"\0" * 1000),
        "header-only": idx(0x803, (6, 28, 28), b""),
    }
    for name, data in hostile.items():
        cases += [(name, data), (name + ".gz", gzip.compress(data, mtime=0))]
    # ~1 MB bombs: a small header and 1 GiB of trailing zeros; a header declaring 1 GiB of zeros
    cases.append(("bomb-trailing.gz", gzip_bomb(idx(0x803, (10, 28, 28), bytes(7840)), 1024)))
    n = (1 << 30) // 784
    cases.append(("bomb-declared.gz", gzip_bomb(idx(0x803, (n, 28, 28), b""), 1024)))
    cases.append(("bomb-declared-16MiB.gz", gzip_bomb(idx(0x803, (16384, 32, 32), b""), 16)))
    return cases


def cifar_pickle(n: int, protocol: int, rng: np.random.Generator) -> bytes:
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    batch = {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in rng.integers(0, 10, n)],
             b"data": data, b"filenames": [b"f%d.png" % i for i in range(n)]}
    return pickle.dumps(batch, protocol=protocol)


def cifar_cases(rng: np.random.Generator) -> list[tuple[str, bytes]]:
    base = cifar_pickle(3, 2, rng)
    cases = [("valid-p2", base), ("valid-p4", cifar_pickle(3, 4, rng)), ("valid-p5", cifar_pickle(3, 5, rng)),
             ("valid.gz", gzip.compress(base, mtime=0))]
    cases += mutations(base, rng)
    cases += [("p5-" + k, v) for k, v in mutations(cifar_pickle(2, 5, rng), rng)[::3]]
    labels = b"U\x06labels](" + b"K\x00" * 1000 + b"e"  # the reporter's file had 600000
    ndarray_call = b"cnumpy\nndarray\nJ" + struct.pack("<i", 600000) + b"M\x00\x0c\x86\x8c\x02u1\x86R"
    recon = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nJ" + struct.pack("<i", 600000)
             + b"M\x00\x0c\x86C\x01b\x87R")
    cases += [
        # numpy.ndarray((600000, 3072), 'u1'): 1.8 GiB of blank images from a 1.2 MB file
        ("ndarray-shape", b"\x80\x02}(U\x04data" + ndarray_call + labels + b"u."),
        ("reconstruct-shape", b"\x80\x02}(U\x04data" + recon + labels + b"u."),
        ("ndarray-overflow", b"\x80\x02cnumpy\nndarray\n\x8a\x09" + b"\xff" * 8 + b"\x00\x85\x8c\x02u1\x86R."),
        ("labels-10**100", pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10**100]}, 2)),
        ("labels-negative", pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [-1]}, 2)),
        ("labels-10", pickle.dumps({b"data": np.zeros((1, 3072), np.uint8), b"labels": [10]}, 2)),
        ("memo-index", b"\x80\x02]r\xff\xff\xff\x7f."),  # LONG_BINPUT 2**31-1: a 16 GiB memo table
        ("binbytes8-length", b"\x80\x04\x8e" + struct.pack("<Q", 1 << 40) + b"abc."),
        ("frame-length", b"\x80\x04\x95" + struct.pack("<Q", 1 << 40) + b"N."),
        # one 1 MB str encoded 200 times through the memo: 200 MB of bytes from a 1 MB file
        ("encode-memo", b"\x80\x02c_codecs\nencode\n\x94X" + struct.pack("<I", 1 << 20) + b"a" * (1 << 20)
         + b"\x94\x8c\x06latin1\x94\x86\x94(" + b"h\x00h\x03R" * 200 + b"l."),
        ("not-a-dict", pickle.dumps([1, 2, 3], 2)),
        ("deep-nesting", b"\x80\x02" + b"]" * 100000 + b"."),
        ("bomb.gz", gzip_bomb(b"\x80\x02}(", 256)),
    ]
    return cases


def npz_bytes(arrays: dict[str, np.ndarray], meta: dict, tmp: Path) -> bytes:
    path = save_npz(tmp / "base.npz", arrays, meta)
    return path.read_bytes()


def npz_with(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8", version: tuple[int, int] = (1, 0)) -> bytes:
    buf = io.BytesIO()
    d = {"descr": descr, "fortran_order": False, "shape": shape}
    if version == (1, 0):
        np.lib.format.write_array_header_1_0(buf, d)
    else:
        np.lib.format.write_array_header_2_0(buf, d)
    return buf.getvalue()


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def set_methods(data: bytes, method: int) -> bytes:
    """Every local and central compression-method field set to ``method``."""
    out = bytearray(data)
    for sig, off in ((b"PK\x03\x04", 8), (b"PK\x01\x02", 10)):
        pos = out.find(sig)
        while pos >= 0:
            out[pos + off: pos + off + 2] = struct.pack("<H", method)
            pos = out.find(sig, pos + 4)
    return bytes(out)


def npz_cases(rng: np.random.Generator, tmp: Path) -> list[tuple[str, bytes]]:
    meta = {"kind": "Fuzz", "fields": {"x": 1}}
    base = npz_bytes({"a": rng.normal(size=(20, 5)), "b": np.arange(7)}, meta, tmp)
    meta_member = npy_bytes(np.array(json.dumps({"format": 1, "kind": "Fuzz"})))
    cases = [("valid", base)] + mutations(base, rng)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        with zf.open("x.npy", "w") as fh:
            fh.write(npy_header(((128 << 20) // 8,)))
            for _ in range(128):
                fh.write(bytes(1 << 20))
    cases += [
        ("huge-header", npz_with({"x.npy": npy_header((10**12,)) + bytes(13000)})),
        ("huge-header-v2", npz_with({"x.npy": npy_header((10**12,), version=(2, 0)) + bytes(100)})),
        ("overflow-shape", npz_with({"x.npy": npy_header((2**62, 2**62)) + bytes(100)})),
        ("deflate-bomb", bomb.getvalue()),
        ("object-dtype", npz_with({"x.npy": npy_header((2,), "|O") + pickle.dumps([1, 2])})),
        ("not-npy", npz_with({"x.txt": b"hello", "__metadata__.npy": meta_member})),
        ("method-99", set_methods(base, 99)),
        ("method-bzip2", set_methods(base, 12)),
        ("metadata-deep", npz_with({"__metadata__.npy": npy_bytes(np.array("[" * 100000))})),
        ("empty-zip", npz_with({})),
        ("zlib-garbage", npz_with({"x.npy": npy_header((4,)) + bytes(32)}, zipfile.ZIP_DEFLATED)[:-60]),
    ]
    return cases


# --------------------------------------------------------------------------- the child process

CHILD = r"""
import json, resource, sys
import numpy as np
from cnnrank.datasets import DatasetError, read_cifar10_batch, read_idx_images
from cnnrank.results import ResultsFileError, load_npz
manifest = json.load(open(sys.argv[1]))
resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[2]), int(sys.argv[2])))
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
out = []
for kind, path in manifest:
    try:
        if kind == "mnist":
            a = read_idx_images(path)
            ok = a.dtype == np.uint8 and a.ndim == 3 and min(a.shape) > 0
        elif kind == "cifar":
            im, lab = read_cifar10_batch(path)
            ok = im.dtype == np.uint8 and im.shape[1:] == (32, 32, 3) and len(lab) == len(im) and (
                lab.size == 0 or (lab.min() >= 0 and lab.max() <= 9))
        else:
            arrays, meta = load_npz(path)
            ok = isinstance(meta, dict) and all(isinstance(v, np.ndarray) and not v.dtype.hasobject
                                                for v in arrays.values())
        out.append([kind, path, "ok" if ok else "silent", ""])
    except (DatasetError, ResultsFileError) as exc:
        msg = str(exc)
        named = path in msg
        out.append([kind, path, "clear" if named and "MemoryError" not in msg else "unclear", msg[:300]])
    except BaseException as exc:
        out.append([kind, path, "raw", f"{type(exc).__name__}: {str(exc)[:300]}"])
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"results": out, "base": base, "peak": peak}))
"""


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(SEED)
    manifest = []
    for kind, cases in (("mnist", mnist_cases(rng)), ("cifar", cifar_cases(rng)), ("npz", npz_cases(rng, tmp))):
        for i, (name, data) in enumerate(cases):
            path = tmp / f"{kind}-{i:03d}-{name.replace('/', '_')}"
            path.write_bytes(data)
            manifest.append((kind, str(path)))
    (tmp / "manifest.json").write_text(json.dumps(manifest))
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp / "manifest.json"), str(ADDRESS_LIMIT)],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"the child crashed (rc {proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(report["results"]) == len(manifest)
    return report


def test_every_hostile_file_loads_or_raises_the_documented_error(fuzz_run):
    bad = [r for r in fuzz_run["results"] if r[2] not in ("ok", "clear")]
    assert not bad, "\n".join(f"{kind} {Path(p).name}: {cls} {msg}" for kind, p, cls, msg in bad)


def test_the_hostile_loads_stay_within_the_memory_bound(fuzz_run):
    rise = fuzz_run["peak"] - fuzz_run["base"]
    assert rise < PEAK_BOUND, f"peak RSS rose by {rise / 2**20:.0f} MiB while loading hostile files"


def test_the_named_hostile_files_are_refused_and_the_valid_ones_load(fuzz_run):
    by_name = {Path(p).name.split("-", 2)[2] + "@" + kind: cls for kind, p, cls, _ in fuzz_run["results"]}
    for kind in ("mnist", "cifar", "npz"):
        assert by_name[f"valid{'-p2' if kind == 'cifar' else ''}@{kind}"] == "ok"
    for name in ("zero-dim", "zero-dim.gz", "overflow-dims", "overflow-dims.gz", "huge-declared.gz",
                 "bomb-trailing.gz", "bomb-declared.gz", "magic"):
        assert by_name[f"{name}@mnist"] == "clear", name
    assert by_name["bomb-declared-16MiB.gz@mnist"] == "ok"  # within the 64 MiB floor: a valid file
    for name in ("ndarray-shape", "reconstruct-shape", "labels-10**100", "labels-negative", "memo-index",
                 "binbytes8-length", "encode-memo", "bomb.gz"):
        assert by_name[f"{name}@cifar"] == "clear", name
    for name in ("huge-header", "deflate-bomb", "object-dtype", "method-99", "metadata-deep"):
        assert by_name[f"{name}@npz"] == "clear", name


def test_counts_per_class(fuzz_run, capsys):
    counts: dict[str, dict[str, int]] = {}
    for kind, _p, cls, _m in fuzz_run["results"]:
        counts.setdefault(kind, {}).setdefault(cls, 0)
        counts[kind][cls] += 1
    with capsys.disabled():
        print(f"\nhostile inputs per reader and outcome: {counts}; "
              f"peak RSS rise {(fuzz_run['peak'] - fuzz_run['base']) / 2**20:.0f} MiB")
    assert sum(sum(c.values()) for c in counts.values()) >= 150


def test_save_npz_compresses_and_loads_back_bit_identical(tmp_path):
    from cnnrank.results import load_npz

    rng = np.random.default_rng(0)
    arrays = {"smooth": np.cumsum(rng.normal(size=(400, 50)), axis=0).round(3), "f": np.asfortranarray(
        rng.normal(size=(6, 5))), "i": np.arange(10, dtype=np.int32), "s": np.array(2.5), "e": np.zeros((0, 3)),
        "special": np.array([np.nan, np.inf, -0.0, 5e-324]), "big_endian": rng.normal(size=4).astype(">f8")}
    path = save_npz(tmp_path / "r.npz", arrays, {"kind": "K"})
    with zipfile.ZipFile(path) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_DEFLATED}
    assert path.stat().st_size < sum(a.nbytes for a in arrays.values())
    back, meta = load_npz(path, kind="K")
    assert meta["kind"] == "K" and set(back) == set(arrays)
    for k, a in arrays.items():
        assert back[k].dtype == a.dtype and back[k].shape == a.shape and back[k].tobytes("A") == a.tobytes("A"), k


@pytest.fixture(scope="module")
def npz_named(tmp_path_factory):
    return dict(npz_cases(np.random.default_rng(0), tmp_path_factory.mktemp("npz")))


@pytest.mark.parametrize("name", ["huge-header", "deflate-bomb", "object-dtype", "method-99", "not-npy"])
def test_load_npz_refusals_name_the_file(tmp_path, npz_named, name):
    from cnnrank.results import ResultsFileError, load_npz

    data = npz_named[name]
    path = tmp_path / f"{name}.npz"
    path.write_bytes(data)
    with pytest.raises(ResultsFileError, match=f"{name}.npz"):
        load_npz(path)
