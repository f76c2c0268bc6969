"""``python -m cnnrank plot FILE``: redraw a figure from saved results, with the command's own figure.

Every result a command writes can be redrawn; the kind of record decides the figure:

============================================  ===========================================================
results file                                  figure
============================================  ===========================================================
``rank_vs_noise.json``                        the headline figure (``reproduce rank-vs-noise``)
``intrinsic_dimension.json``                  the learned dimension across K
``mnist_rank.json`` / ``.npz``, ``cifar10_*``  the real-image figure (``reproduce mnist-rank``)
``linear-cnn.json`` (with its ``.npz`` runs)  the linear-CNN figure; one ``saxe``/``fcnn``/``cnn.npz``:
                                              its mode strengths; one ``sweep_*.npz``: its sweep
``neural-collapse.json`` (with its ``.npz``)  both neural-collapse figures (``FIG.png``, ``FIG-probes.png``);
                                              ``ufm.npz``/``mixture.npz``: the dynamics; ``probe_*.npz``: it
a trajectory ``.npz`` or ``summary.json``     the ``simulate`` figure
a sweep ``results.npz`` / ``results.json``    the sweep figure
============================================  ===========================================================

A file that is not a cnnrank result, is damaged or holds wrong types is refused in one line naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

DESCRIPTION = ("Redraw the figure of any saved result (rank_vs_noise.json, intrinsic_dimension.json, "
               "mnist_rank.json/.npz, linear-cnn.json, neural-collapse.json, a trajectory .npz, a sweep "
               "results.npz, ...) with the figure of the command that wrote it.")

#: image formats ``--out`` may name (matplotlib's)
FORMATS = ("png", "pdf", "svg", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", type=Path, help="results file (.json or .npz) written by a cnnrank command")
    parser.add_argument("--out", type=Path, default=None,
                        help="image path, or a folder (default: beside the results, FILE.png); "
                             "a path without an extension gets .png")


def _fail(path: Path, why: str) -> Exception:
    from cnnrank.results import ResultsFileError

    return ResultsFileError(f"results file {str(path)!r} {why}")


def _out_path(path: Path, out: Path | None) -> Path:
    if out is None:
        return path.with_suffix(".png")
    if out.is_dir():
        return out / (path.stem + ".png")
    if not out.suffix:
        return out.with_name(out.name + ".png")
    if out.suffix.lower().lstrip(".") not in FORMATS:
        raise ValueError(f"--out {str(out)!r} is invalid: the extension must be one of "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return out


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise _fail(path, f"is not valid JSON ({exc})") from None


def _sibling(path: Path, name: str, what: str) -> Path:
    p = path.parent / name
    if not p.is_file():
        raise _fail(path, f"is a {what} record; redrawing it needs {name} beside it, which is missing")
    return p


def _json_kind(record: Any) -> str:
    if not isinstance(record, dict):
        return "unknown"
    keys = set(record)
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


def _json_figures(path: Path) -> list[tuple[str, Any]]:
    record = _read_json(path)
    kind = _json_kind(record)
    if isinstance(record, dict) and "theory_boundary" in record:  # before rank-vs-noise: it has those keys too
        from cnnrank.plotting import phase_diagram_figure

        return [("", phase_diagram_figure(record))]
    if kind == "intrinsic-dimension":
        from cnnrank.plotting import intrinsic_dimension_figure

        return [("", intrinsic_dimension_figure(record))]
    if kind == "real-rank":
        from cnnrank.datasets.plotting import real_rank_figure

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
        return _npz_figures(_sibling(path, "trajectory.npz", "simulate"))
    if kind == "sweep":
        return _npz_figures(_sibling(path, path.stem + ".npz", "sweep"))
    raise _fail(path, "is not a cnnrank record that can be plotted (rank_vs_noise.json, intrinsic_dimension.json, "
                      "mnist_rank.json, linear-cnn.json, neural-collapse.json, summary.json or a sweep's results.json)")


def _npz_figures(path: Path) -> list[tuple[str, Any]]:
    from cnnrank.results import load_npz

    _, meta = load_npz(path)
    kind = meta.get("kind")
    if kind == "Trajectory":
        from cnnrank.plotting import training_figure
        from cnnrank.train import Trajectory

        return [("", training_figure(Trajectory.load(path)))]
    if kind == "SweepResult":
        from cnnrank.plotting import sweep_figure
        from cnnrank.sweeps import SweepResult

        return [("", sweep_figure(SweepResult.load(path)))]
    if kind == "RealRankResult":
        from cnnrank.datasets.plotting import real_rank_figure
        from cnnrank.experiments.real_images import RealRankResult

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
    from cnnrank.results import ResultsFileError

    path: Path = args.results
    if path.is_dir():
        raise ValueError(f"results file {str(path)!r} is a folder: give one of the files a command wrote in it "
                         "(e.g. rank_vs_noise.json, trajectory.npz, results.npz)")
    if not path.exists():
        raise ValueError(f"results file {str(path)!r} does not exist")
    if path.suffix not in (".json", ".npz"):
        raise ValueError(f"results file {str(path)!r} is invalid: plot reads the .json or .npz files that cnnrank "
                         f"commands write, not {path.suffix or 'a file without an extension'}")
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
