"""``python -m cnnrank plot FILE``: redraw a figure from saved results, with the command's own figure.

Every result a command writes can be redrawn; the kind of record decides the figure:

============================================  ===========================================================
results file                                  figure
============================================  ===========================================================
``rank_vs_noise.json``                        the headline figure (``reproduce rank-vs-noise``)
``intrinsic_dimension.json``                  the learned dimension across K
``calibration.json``                          the calibration scorecard (``reproduce calibration``)
``mnist_rank.json`` / ``.npz``, ``cifar10_*``  the real-image figure (``reproduce mnist-rank``)
``linear-cnn.json`` (with its ``.npz`` runs)  the linear-CNN figure; one ``saxe``/``fcnn``/``cnn.npz``:
                                              its mode strengths; one ``sweep_*.npz``: its sweep
``neural-collapse.json`` (with its ``.npz``)  both neural-collapse figures (``FIG.png``, ``FIG-probes.png``);
                                              ``ufm.npz``/``mixture.npz``: the dynamics; ``probe_*.npz``: it
a trajectory ``.npz`` or ``summary.json``     the ``simulate`` figure
a sweep ``results.npz`` / ``results.json``    the sweep figure
============================================  ===========================================================

A file that is not a cnnrank result, is damaged or holds wrong types is refused in one line naming it,
and so is a record whose numbers are impossible (accuracies or energy fractions outside ``[0, 1]``,
negative noise levels, losses or dimensions, the phase diagram's axes not
increasing): nothing is drawn. The results path must be a regular file (a FIFO is refused, not read);
JSON records are read with the limits of :func:`cnnrank.results.read_json_file`. A record and the
``.npz`` beside it that it names must be of the same kind (a sweep's ``results.json`` needs a sweep's
``results.npz`` holding the same sweep, a ``summary.json`` a trajectory ``.npz``).

``--out`` names an image file, or a folder when it ends with ``/`` or is an existing folder: the
figure is then written in it as ``FOLDER/<results name>.png`` (the folder is created).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

DESCRIPTION = ("Redraw the figure of any saved result (rank_vs_noise.json, intrinsic_dimension.json, "
               "mnist_rank.json/.npz, linear-cnn.json, neural-collapse.json, a trajectory .npz, a sweep "
               "results.npz, ...) with the figure of the command that wrote it.")

#: image formats ``--out`` may name (matplotlib's)
FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="results file (.json or .npz) written by a cnnrank command")
    parser.add_argument("--out", type=str, default=None,
                        help="image path, or a folder when it ends with '/' or exists (the figure is then "
                             "FOLDER/FILE.png; the folder is created); default: beside the results, FILE.png; "
                             "a path without an extension gets .png")


def _fail(path: Path, why: str) -> Exception:
    from cnnrank.results import ResultsFileError

    return ResultsFileError(f"results file {str(path)!r} {why}")


def _out_path(path: Path, out: str | os.PathLike | None) -> Path:
    """The image path: ``out`` itself, or ``out/<results name>.png`` when ``out`` names a folder (an
    existing folder, or a path ending with a separator; ``Path`` would drop the separator)."""
    if out is None:
        return path.with_suffix(".png")
    text = os.fspath(out)
    folder = Path(text)
    if text.endswith(("/", os.sep)) or folder.is_dir():
        return folder / (path.stem + ".png")
    if not folder.suffix:
        return folder.with_name(folder.name + ".png")
    if folder.suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"--out {text!r} is invalid: the extension must be one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return folder


def _read_json(path: Path) -> Any:
    from cnnrank.results import read_json_file

    return read_json_file(path, "results file")


#: documented ranges of the numbers of the JSON records (keyword arguments of
#: :func:`cnnrank.results.check_values`), checked where the key is present; ``None`` entries pass
_RECORD_RANGES: dict[str, dict[str, Any]] = {
    "noise_std": {"lo": 0.0}, "n": {"lo": 1, "integer": True},
    "test_acc": {"lo": 0.0, "hi": 1.0}, "train_acc": {"lo": 0.0, "hi": 1.0},
    "train_loss": {"lo": 0.0}, "test_loss": {"lo": 0.0},
    "signal_energy_fraction": {"lo": 0.0, "hi": 1.0}, "clean_energy_fraction": {"lo": 0.0, "hi": 1.0},
    "learned_dimension": {"lo": 0.0}, "memorization_edge": {"lo": 0.0},
    # means over seeds: a zero matrix's 0 may be averaged with ranks >= 1, so only >= 0 here
    **{k: {"lo": 0.0} for k in ("data_stable_rank", "clean_data_stable_rank", "patch_stable_rank",
                                "clean_patch_stable_rank", "filter_stable_rank", "learned_stable_rank",
                                "predicted_data_stable_rank", "expected_filter_stable_rank")},
    "theory_boundary": {"lo": 0.0}, "measured_boundary": {"lo": 0.0}, "noise_takeoff": {"lo": 0.0},
    "clean_rank": {"lo": 1, "integer": True}, "reference_dimension": {"lo": 1, "integer": True},
    "accuracy_level": {"lo": 0.0, "hi": 1.0},
}


def _numbers(value: Any) -> np.ndarray | None:
    """``value`` (a number or nested lists of numbers, ``None`` as NaN) as an array of numbers; ``None``
    when it is not numbers (the figure code reports a wrong type)."""
    def conv(v: Any) -> Any:
        if isinstance(v, list):
            return [conv(x) for x in v]
        if v is None:
            return np.nan
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise TypeError
        return v

    try:
        a = np.array(conv(value))
    except (TypeError, ValueError, OverflowError):
        return None
    return a if a.dtype.kind in "iuf" else None  # ragged lists or huge integers: the figure code reports them


def _check_record(path: Path, record: Any, kind: str) -> None:
    """Refuse a record whose numbers are impossible (one line naming the file and the field)."""
    from cnnrank.results import check_values

    if not isinstance(record, dict):
        return
    try:
        for key, rng in _RECORD_RANGES.items():
            a = _numbers(record.get(key)) if key in record else None
            if a is not None:
                check_values(key, a, **rng)
        if kind == "calibration":
            n = len(record["configs"]) if isinstance(record["configs"], list) else -1
            for part in ("measured", "predicted"):
                if not isinstance(record[part], dict) or any(
                        not isinstance(v, list) or len(v) != n for v in record[part].values()):
                    raise ValueError(f"{part} is invalid: must hold one list of {n} values per quantity")
            for name, sc in (record["predictions"] or {}).items():
                if not isinstance(sc, dict):
                    raise ValueError(f"predictions[{name!r}] is invalid: must be a table")
                if sc.get("fraction") is not None:
                    check_values(f"predictions[{name!r}].fraction", np.array([sc["fraction"]], dtype=float),
                                 lo=0.0, hi=1.0)
        if kind == "phase-diagram":
            for key in ("n", "noise_std"):
                a = _numbers(record.get(key))
                if a is None or a.ndim != 1 or a.size == 0 or np.isnan(a).any():
                    raise ValueError(f"{key} is invalid: must be a non-empty list of numbers")
                check_values(key, a, lo=1 if key == "n" else 0.0, integer=key == "n", increasing=True,
                             rule="the axis of the diagram")
                if key == "noise_std" and not np.all(a > 0):
                    raise ValueError("noise_std is invalid: must be > 0 (the axis is logarithmic)")
            rank = _numbers(record.get("clean_rank", 2 * record["K"] if isinstance(record.get("K"), int) else None))
            ld = _numbers(record.get("learned_dimension"))
            if rank is not None and ld is not None and rank.ndim == 0:
                check_values("learned_dimension", ld, lo=0.0, hi=float(rank), rule="the clean rank 2K")
    except ValueError as exc:
        raise _fail(path, f"holds impossible values, nothing drawn: {exc}") from None


def _sibling(path: Path, name: str, what: str) -> Path:
    p = path.parent / name
    if not p.is_file():
        raise _fail(path, f"is a {what} record; redrawing it needs {name} beside it, which is missing")
    return p


def _json_kind(record: Any) -> str:
    if not isinstance(record, dict):
        return "unknown"
    keys = set(record)
    if {"configs", "measured", "predicted", "predictions"} <= keys:
        return "calibration"
    if {"K", "learned_dimension", "expected_filter_stable_rank"} <= keys:
        return "intrinsic-dimension"
    if {"noise_std", "reference_dimension", "clean_energy_fraction", "patch_stable_rank"} <= keys:
        return "real-rank"
    if {"noise_std", "data_stable_rank", "filter_stable_rank", "test_acc"} <= keys:
        return "rank-vs-noise"
    if {"a_saxe"} <= keys:
        return "linear-cnn"
    if {"ufm", "mixture", "frames"} <= keys:
        return "neural-collapse"
    if {"config", "final", "data_ranks"} <= keys:
        return "simulate"
    if {"spec", "values"} <= keys:
        return "sweep"
    return "unknown"


def _real_title(record: Any) -> str:
    data = record["data"] if isinstance(record, dict) else record.data
    config = record["config"] if isinstance(record, dict) else record.config
    name = {"mnist": "MNIST", "cifar10": "CIFAR-10"}.get(str(data.get("name", "")).lower(), data.get("name", ""))
    pos, neg = data.get("class_names", ("+1", "-1"))
    return f"{name} {pos} vs {neg}, {config.get('noise_mode', 'background')} noise"


def _linear_figures(path: Path) -> list[tuple[str, Any]]:
    from cnnrank.linear.experiments import ModeRun, Sweep
    from cnnrank.linear.plotting import linear_cnn_figure

    runs = [ModeRun.load(_sibling(path, f"{n}.npz", "linear-cnn")) for n in ("saxe", "fcnn", "cnn")]
    order = {"share": 0, "kernel_size": 1, "channels": 2}
    sweeps = sorted((Sweep.load(p) for p in path.parent.glob("sweep_*.npz")),
                    key=lambda sw: order.get(sw.parameter, 9))
    saxe, fcnn, cnn = runs
    return [("", linear_cnn_figure(saxe, fcnn, cnn, sweeps))]


def _collapse_figures(path: Path, record: dict | None) -> list[tuple[str, Any]]:
    from cnnrank.collapse.plotting import collapse_figure, probes_figure
    from cnnrank.collapse.probes import ProbeResult
    from cnnrank.collapse.simulate import CollapseRun

    what = "neural-collapse"
    ufm = CollapseRun.load(_sibling(path, "ufm.npz", what))
    mixture = CollapseRun.load(_sibling(path, "mixture.npz", what))
    figs: list[tuple[str, Any]] = [("", collapse_figure(ufm, mixture))]
    if record is not None:
        probes = [ProbeResult.load(p) for p in sorted(path.parent.glob("probe_*.npz"))]
        etf = [p for p in probes if p.kind.lower().startswith("etf")]
        frame = [p for p in probes if not p.kind.lower().startswith("etf")]
        frames = [SimpleNamespace(vectors=SimpleNamespace(shape=(int(f["N"]), int(f["d"]))), signed=bool(f["signed"]),
                                  coherence=float(f["coherence"]), bound=float(f["bound"]),
                                  bound_name=str(f["bound_name"]), gap=float(f["gap"])) for f in record["frames"]]
        if etf and frame and frames:
            figs.append(("-probes", probes_figure(etf, frame, frames)))
    return figs


def _plain(value: Any) -> Any:
    """``value`` in JSON types (tuples as lists, numpy scalars as numbers)."""
    return json.loads(json.dumps(value, default=lambda v: v.item() if hasattr(v, "item") else str(v)))


def _same_sweep(record: dict, meta: dict) -> bool:
    """Whether a sweep's ``results.json`` describes the sweep stored in the archive with metadata ``meta``."""
    from cnnrank.sweeps import _grid_dict

    def spec(s: Any) -> Any:  # the grid as [name, values] pairs in axis order
        return _plain({**s, "grid": [[k, list(v)] for k, v in _grid_dict(s["grid"]).items()]})

    try:
        return spec(record["spec"]) == spec(meta["fields"]["spec"])
    except (TypeError, ValueError, KeyError, AttributeError):
        return False


def _same_run(record: dict, meta: dict) -> bool:
    """Whether a ``summary.json`` describes the run stored in the trajectory archive with metadata ``meta``
    (the same configuration, when the archive records it)."""
    try:
        stored = meta["fields"]["metadata"].get("config")
    except (TypeError, KeyError, AttributeError):
        return True  # an archive without a recorded configuration: the kind check is all there is
    return stored is None or _plain(stored) == _plain(record.get("config"))


def _json_figures(path: Path) -> list[tuple[str, Any]]:
    record = _read_json(path)
    kind = _json_kind(record)
    phase = isinstance(record, dict) and "theory_boundary" in record
    _check_record(path, record, "phase-diagram" if phase else kind)
    if phase:  # before rank-vs-noise: it has those keys too
        from cnnrank.plotting import phase_diagram_figure

        return [("", phase_diagram_figure(record))]
    if kind == "calibration":
        from cnnrank.plotting import calibration_figure

        return [("", calibration_figure(record))]
    if kind == "intrinsic-dimension":
        from cnnrank.plotting import intrinsic_dimension_figure

        return [("", intrinsic_dimension_figure(record))]
    if kind == "real-rank":
        from cnnrank.plotting.real_images import real_rank_figure

        return [("", real_rank_figure(record, title=_real_title(record)))]
    if kind == "rank-vs-noise":
        from cnnrank.plotting import rank_vs_noise_figure

        predicted = None
        if "predicted_data_stable_rank" in record:  # the theory curve at the measured levels
            predicted = (record["noise_std"], record["predicted_data_stable_rank"])
        return [("", rank_vs_noise_figure(record, predicted))]
    if kind == "linear-cnn":
        return _linear_figures(path)
    if kind == "neural-collapse":
        return _collapse_figures(path, record)
    if kind == "simulate":
        return _npz_figures(_sibling(path, "trajectory.npz", "simulate"), expect=("Trajectory", path, record, _same_run))
    if kind == "sweep":
        return _npz_figures(_sibling(path, path.stem + ".npz", "sweep"), expect=("SweepResult", path, record, _same_sweep))
    raise _fail(path, "is not a cnnrank record that can be plotted (rank_vs_noise.json, intrinsic_dimension.json, "
                      "mnist_rank.json, linear-cnn.json, neural-collapse.json, summary.json or a sweep's results.json)")


def _npz_figures(path: Path, expect: tuple[str, Path, dict, Any] | None = None) -> list[tuple[str, Any]]:
    """The figures of a results ``.npz``. ``expect`` = (kind, record path, record, agree): the archive
    beside a JSON record must hold that kind of result, and ``agree(record, metadata)`` must hold (the
    same sweep, the same run): else both files were not written together and nothing is drawn."""
    from cnnrank.results import load_npz

    _, meta = load_npz(path)
    kind = meta.get("kind")
    if expect is not None:
        want, record_path, record, agree = expect
        if kind != want:
            raise _fail(record_path, f"is a {want} record but {str(path)!r} beside it holds a {kind!r} result: "
                                     "the two files were not written together; nothing drawn")
        if not agree(record, meta):
            raise _fail(record_path, f"describes a different {'sweep' if want == 'SweepResult' else 'run'} than "
                                     f"{str(path)!r} beside it: the two files were not written together; nothing drawn")
    if kind == "Trajectory":
        from cnnrank.plotting import training_figure
        from cnnrank.train import Trajectory

        return [("", training_figure(Trajectory.load(path)))]
    if kind == "SweepResult":
        from cnnrank.plotting import sweep_figure
        from cnnrank.sweeps import SweepResult

        return [("", sweep_figure(SweepResult.load(path)))]
    if kind == "RealRankResult":
        from cnnrank.experiments.real_images import RealRankResult
        from cnnrank.plotting.real_images import real_rank_figure

        res = RealRankResult.load(path)
        return [("", real_rank_figure(res, title=_real_title(res)))]
    if kind == "linear-mode-run":
        from cnnrank.linear.experiments import ModeRun
        from cnnrank.linear.plotting import plot_mode_strengths

        return [("", plot_mode_strengths(ModeRun.load(path), title=f"{path.stem}: mode strengths"))]
    if kind == "linear-sweep":
        from cnnrank.linear.experiments import Sweep
        from cnnrank.linear.plotting import plot_sweep

        sw = Sweep.load(path)
        return [("", plot_sweep(sw, title=f"half-time vs {sw.parameter.replace('_', ' ')}"))]
    if kind == "CollapseRun":
        if (path.parent / "ufm.npz").is_file() and (path.parent / "mixture.npz").is_file():
            return _collapse_figures(path, None)
        from cnnrank.collapse.plotting import plot_nc_history
        from cnnrank.collapse.simulate import CollapseRun

        return [("", plot_nc_history(CollapseRun.load(path)))]
    if kind == "ProbeResult":
        from cnnrank.collapse.plotting import plot_probe
        from cnnrank.collapse.probes import ProbeResult

        return [("", plot_probe([ProbeResult.load(path)]))]
    raise _fail(path, f"holds a {kind!r} result, which has no plot")


def run(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnrank.reproduce._output import check_output_folder, written
    from cnnrank.reproduce.simulate import _save_figure
    from cnnrank.results import ResultsFileError, check_regular_file

    path: Path = args.results
    if path.is_dir():
        raise ValueError(f"results file {str(path)!r} is a folder: give one of the files a command wrote in it "
                         "(e.g. rank_vs_noise.json, trajectory.npz, results.npz)")
    if path.suffix not in (".json", ".npz"):
        if not path.exists():
            raise ValueError(f"results file {str(path)!r} does not exist")
        raise ValueError(f"results file {str(path)!r} is invalid: plot reads the .json or .npz files that cnnrank "
                         f"commands write, not {path.suffix or 'a file without an extension'}")
    check_regular_file(path)  # a FIFO or a device is refused before it is read (nothing waits on it)
    out = _out_path(path, args.out)
    try:
        figs = _json_figures(path) if path.suffix == ".json" else _npz_figures(path)
    except ResultsFileError:
        raise
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
        # a record of the right kind whose fields have the wrong types or shapes
        plt.close("all")
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise _fail(path, f"cannot be drawn: a field is missing or has the wrong type or shape ({detail})") from None
    check_output_folder(out.parent, "--out")
    paths = []
    for suffix, fig in figs:
        target = out.with_name(out.stem + suffix + out.suffix)
        _save_figure(fig, target, dpi=130)
        paths.append(target)
    print(written(paths))
    return 0
