"""The package's layers (docs/architecture.md): every import, lazy ones included, goes to the same
layer or below, never upward, never in a circle; the readers use no trainer."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "cnnrank"

#: module (or package prefix) -> layer; the longest matching prefix wins. Mirrors docs/architecture.md.
LAYERS = {
    # 0 foundation: validation, BLAS, progress, results files, errors, schedules, executors, tables,
    #   and the pure array math of ranks and subspaces
    "cnnrank._validation": 0, "cnnrank._blas": 0, "cnnrank._progress": 0, "cnnrank.results": 0,
    "cnnrank.errors": 0, "cnnrank._schedule": 0, "cnnrank._parallel": 0, "cnnrank._version": 0,
    "cnnrank.tables": 0, "cnnrank.rank": 0, "cnnrank.subspace": 0, "cnnrank._memory": 0, "cnnrank._signals": 0,
    #   results and subspace are packages of one module per idea
    "cnnrank.results.atomic": 0, "cnnrank.results.json_files": 0, "cnnrank.results.npz": 0,
    "cnnrank.results.savable": 0, "cnnrank.subspace._scale": 0, "cnnrank.subspace.basis": 0,
    "cnnrank.subspace.learned": 0, "cnnrank.subspace.overlaps": 0, "cnnrank.subspace.regime": 0,
    # 1 model: data model and samples (explicit and dimension-free), activations
    "cnnrank.data": 1, "cnnrank.gram_sample": 1, "cnnrank.activations": 1,
    #   the data model and the dimension-free sample, one module per idea
    "cnnrank.patch_data": 1, "cnnrank.signal_vectors": 1, "cnnrank.gram_container": 1,
    "cnnrank.activations.base": 1, "cnnrank.activations.builtin": 1, "cnnrank.activations.contract": 1,
    "cnnrank.activations.registry": 1, "cnnrank.activations.names": 1,
    # 2 network
    "cnnrank.network": 2,
    # 3 engines
    "cnnrank.engines": 3, "cnnrank.engines.gram_problem": 3, "cnnrank.engines.gram_core": 3,
    "cnnrank.engines.gram_variants": 3,
    # 4 training
    "cnnrank.train": 4, "cnnrank.batched": 4, "cnnrank.trajectory": 4,
    #   training, one module per idea
    "cnnrank.train_checks": 4, "cnnrank.train_loop": 4, "cnnrank.adaptive_training": 4,
    "cnnrank.batched_problems": 4,
    # 5 predictions that read records; theory is a package of one module per idea
    "cnnrank.theory": 5, "cnnrank.theory._config": 5, "cnnrank.theory.regimes": 5, "cnnrank.theory.times": 5,
    "cnnrank.theory.random_matrix": 5, "cnnrank.theory.initialization": 5, "cnnrank.theory.report": 5,
    "cnnrank.race": 5, "cnnrank.criteria": 5,
    # 6 experiments
    "cnnrank.experiments": 6, "cnnrank.sweeps": 6, "cnnrank.tidy": 6,
    "cnnrank.tidy.schema": 6, "cnnrank.tidy.record_kinds": 6, "cnnrank.tidy.reading": 6, "cnnrank.tidy.frames": 6,
    "cnnrank.sweeps.spec": 6, "cnnrank.sweeps.store": 6, "cnnrank.sweeps.planner": 6, "cnnrank.sweeps.runner": 6,
    "cnnrank.sweeps.result": 6, "cnnrank.calibration": 6,
    "cnnrank.experiments.real_config": 6, "cnnrank.experiments.preprocess": 6, "cnnrank.experiments.real_images": 6,
    # 7 faces
    "cnnrank.plotting": 7, "cnnrank.plotting.style": 7, "cnnrank.plotting.training": 7,
    "cnnrank.plotting.headline": 7, "cnnrank.plotting.sweeps": 7, "cnnrank.plotting.phase": 7,
    "cnnrank.plotting.calibration": 7, "cnnrank.plotting.real_images": 7, "cnnrank.cli": 7, "cnnrank.reproduce": 7, "cnnrank.__main__": 7,
    "cnnrank.testing": 7,
    # readers: layer 0 only (numpy, the results/validation helpers); their folder holds nothing else
    "cnnrank.datasets": 0,
    # siblings: the same conventions
    "cnnrank.linear": 6, "cnnrank.linear.data": 1, "cnnrank.linear.networks": 2, "cnnrank.linear.training": 4,
    "cnnrank.linear.closed_form": 1, "cnnrank.linear.diagnostics": 5, "cnnrank.linear.experiments": 6,
    "cnnrank.linear.runs": 6, "cnnrank.linear.sweeps": 6,
    "cnnrank.linear.plotting": 7,
    "cnnrank.collapse": 6, "cnnrank.collapse.geometry": 1, "cnnrank.collapse.metrics": 1,
    "cnnrank.collapse.models": 1, "cnnrank.collapse.losses": 2,
    "cnnrank.collapse.simulate": 4, "cnnrank.collapse.probes": 6, "cnnrank.collapse.experiments": 6,
    "cnnrank.collapse.plotting": 7,
}
#: package __init__ files re-export their package and may import what it contains
FACADES = {"cnnrank", "cnnrank.linear", "cnnrank.collapse", "cnnrank.datasets", "cnnrank.engines",
           "cnnrank.experiments", "cnnrank.testing", "cnnrank.reproduce", "cnnrank.theory",
           "cnnrank.plotting", "cnnrank.activations", "cnnrank.results", "cnnrank.subspace", "cnnrank.tidy"}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PKG.rglob("*.py"):
        rel = path.relative_to(PKG.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Every ``cnnrank`` module ``name`` imports, at any depth of the file (lazy imports included)."""
    return _imports_from_tree(name, ast.parse(path.read_text()), path, known)


def _layer(name: str) -> int:
    best = max((p for p in LAYERS if name == p or name.startswith(p + ".")), key=len, default=None)
    if best is None:
        raise AssertionError(f"module {name} has no layer: add it to LAYERS and docs/architecture.md")
    return LAYERS[best]


@pytest.fixture(scope="module")
def graph():
    mods = _modules()
    return {name: _imports(name, path, set(mods)) for name, path in mods.items()}


def test_every_module_has_a_layer(graph):
    for name in graph:
        if name not in FACADES:
            _layer(name)


def test_no_import_goes_upward(graph):
    bad = []
    for name, targets in graph.items():
        if name in FACADES:
            continue
        for t in targets:
            if t in FACADES and t != "cnnrank" and _layer(t) <= _layer(name):
                continue
            if t == "cnnrank":
                bad.append(f"{name} imports the top-level package (import the module instead)")
            elif _layer(t) > _layer(name):
                bad.append(f"{name} (layer {_layer(name)}) imports {t} (layer {_layer(t)})")
    assert not bad, "\n".join(sorted(bad))


def test_readers_use_no_trainer(graph):
    readers = [n for n in graph if n == "cnnrank.datasets" or n.startswith("cnnrank.datasets.")]
    for name in readers:
        for t in graph[name]:
            assert _layer(t) == 0, f"{name} imports {t}: the readers may use layer 0 only"


def test_readers_folder_holds_readers_only(graph):
    """Folders mirror the layers: every module under ``cnnrank/datasets/`` is a reader (layer 0); a
    figure or an experiment on real images lives with the other faces or experiments. A module's layer
    is the one ``LAYERS`` gives it, or that of the highest layer it imports if that is above."""
    readers = [n for n in graph if n == "cnnrank.datasets" or n.startswith("cnnrank.datasets.")]
    assert readers
    bad = [n for n in readers if max([_layer(n)] + [_layer(t) for t in graph[n] if t != "cnnrank"]) != 0]
    bad += [p for p, layer in LAYERS.items() if p.startswith("cnnrank.datasets.") and layer != 0]
    assert not bad, f"modules in the readers' folder at a layer other than 0: {sorted(set(bad))}"


def _imports_from_tree(name: str, tree: ast.Module, path: Path, known: set[str]) -> set[str]:
    """The ``cnnrank`` modules the import statements anywhere in ``tree`` name (``from p import x``
    counts as ``p.x`` when that is a module, else ``p``)."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = (".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                   if node.level else (node.module or ""))
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        else:
            continue
        for t in targets:
            if t.startswith("cnnrank"):
                while t and t not in known:
                    t = t.rpartition(".")[0]
                if t and t != name:
                    found.add(t)
    return found


def test_no_import_cycle():
    """No circle among the imports executed at import time. Importing ``p.sub`` first runs the package
    ``p``'s ``__init__`` (unless the importer lives inside ``p``), so that counts as an edge to ``p``;
    the top-level ``cnnrank`` package, always initialized first, is left out."""
    mods = _modules()
    known = set(mods)
    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        if name == "cnnrank":
            continue
        tree = ast.parse(path.read_text())
        body = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom, ast.Try))
                or (isinstance(n, ast.If) and "TYPE_CHECKING" not in ast.unparse(n.test))]
        targets = _imports_from_tree(name, ast.Module(body=body, type_ignores=[]), path, known)
        out = set()
        for t in targets:
            parts = t.split(".")
            for i in range(2, len(parts) + 1):  # the packages on the way, then the module itself
                pkg = ".".join(parts[:i])
                if pkg != name and not name.startswith(pkg + ".") and pkg in known:
                    out.add(pkg)
        edges[name] = out - {"cnnrank"}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        stack.append(n)
        for t in sorted(edges.get(n, ())):
            if state.get(t) == 1:
                cycle = stack[stack.index(t):] + [t]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if t not in state:
                visit(t)
        stack.pop()
        state[n] = 2

    for n in sorted(edges):
        if n not in state:
            visit(n)


def test_every_module_can_be_imported_first():
    """A process pool or Dask worker imports the module of the function it runs first, before anything
    else of the package (a cycle then fails at import time): try each module that way."""
    import subprocess
    import sys

    # Importing ``cnnrank.a.b`` first always runs ``import cnnrank`` first (the package's __init__, a
    # fixed order of imports), then the rest of the chain. So: import ``cnnrank`` fresh once (which
    # covers every module it loads: importing any of them first is exactly that), then, for every other
    # module, return to that state (drop the modules it did not load) and import the module.
    names = sorted(n for n in _modules() if not n.endswith("__main__"))
    # Each module's source is compiled once and its code object kept: a fresh import executes the module
    # again (what this test is about) without compiling it again (half the time without .pyc files).
    code = ("import importlib, importlib.machinery, sys\n"
            "_codes = {}\n"
            "_get_code = importlib.machinery.SourceFileLoader.get_code\n"
            "def _compiled_once(loader, fullname):\n"
            "    path = loader.get_filename(fullname)\n"
            "    if path not in _codes:\n"
            "        _codes[path] = _get_code(loader, fullname)\n"
            "    return _codes[path]\n"
            "importlib.machinery.SourceFileLoader.get_code = _compiled_once\n"
            "import cnnrank\n"
            "base = {k for k in sys.modules if k == 'cnnrank' or k.startswith('cnnrank.')}\n"
            f"for name in {names!r}:\n"
            "    if name in base:\n"
            "        continue\n"
            "    for k in [k for k in sys.modules if (k == 'cnnrank' or k.startswith('cnnrank.')) and k not in base]:\n"
            "        del sys.modules[k]\n"
            "    importlib.import_module(name)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_theory_package_reexports_its_modules():
    """``cnnrank.theory`` is a package of one module per idea: each re-exported name is the object of
    the module that defines it (so ``cnnrank.theory.regime`` and ``cnnrank.theory.regimes.regime`` are
    one function), the names outside ``__all__`` that callers use included, and no module exceeds
    400 lines."""
    import importlib

    import cnnrank.theory as theory

    homes = {"regimes": ["snr", "criterion", "benign_indicator", "benign_limit", "regime", "noise_takeoff",
                         "signal_dominance_limit", "clean_rank"],
             "times": ["signal_learning_time", "measured_signal_learning_time", "time_to_loss", "lr_bound"],
             "random_matrix": ["expected_data_stable_rank", "expected_patch_stable_rank", "expected_max_group",
                               "_spiked_top", "expected_filter_stable_rank", "MAX_DRAWS"],
             "initialization": ["predict_from_initialization", "predict_for_run", "PREDICTED_FLOOR"],
             "report": ["compare", "verdict", "Prediction", "TOLERANCES", "format_report", "predictions",
                        "DATA_RANK_MAX_K"],
             "_config": ["RunConfigLike"]}
    for mod, names in homes.items():
        sub = importlib.import_module(f"cnnrank.theory.{mod}")
        for name in names:
            assert getattr(theory, name) is getattr(sub, name), f"cnnrank.theory.{name} is not {mod}.{name}"
    assert set(theory.__all__) <= {n for names in homes.values() for n in names}
    for path in (PKG / "theory").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} holds more than one idea"


def test_plotting_package_reexports_its_modules():
    """``cnnrank.plotting`` is a package of one module per family of figures with one shared style
    helper: each re-exported name is the object of the module that defines it (the private names
    callers use included), and no module exceeds 400 lines."""
    import importlib

    import cnnrank.plotting as plotting

    homes = {"style": ["axes", "figure", "artist_style", "log_rank_axis", "field_label", "FIELD_LABELS",
                       "_config_line"],
             "training": ["plot_gamma_rho", "plot_losses", "plot_filter_rank", "training_figure"],
             "headline": ["shade_regimes", "plot_rank_vs_noise", "plot_learning_vs_noise", "plot_spectra",
                          "plot_activation_ablation", "rank_vs_noise_figure", "intrinsic_dimension_figure"],
             "sweeps": ["sweep_figure"],
             "phase": ["phase_diagram_figure", "_log_ticks"],
             "calibration": ["calibration_figure"], "beyond": ["beyond_figure"]}
    for mod, names in homes.items():
        sub = importlib.import_module(f"cnnrank.plotting.{mod}")
        for name in names:
            assert getattr(plotting, name) is getattr(sub, name), f"cnnrank.plotting.{name} is not {mod}.{name}"
    assert set(plotting.__all__) <= {n for names in homes.values() for n in names}
    for path in (PKG / "plotting").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, f"{path.name} holds more than one family"


#: the rooms split into one module per idea: façade -> {module: names it defines that callers use}
SPLIT_ROOMS = {
    "cnnrank.activations": {
        "base": ["Activation", "Terms", "_pow"],
        "builtin": ["HuberizedReLU", "ReLU", "PolyReLU", "SHORT_NAMES", "_BUILTIN", "_SHORT"],
        "contract": ["CHECK_GRID", "FD_STEP", "FD_TOLERANCE", "_contract_error", "_read_only"],
        "registry": ["RegisteredActivation", "ActivationName", "register_activation", "unregister_activation",
                     "registered_activations", "check_activation", "activation_from_spec", "_REGISTERED",
                     "_restore_activation", "_NAME"],
        "names": ["parse_activation", "canonical_activation_name", "_parse"]},
    "cnnrank.results": {
        "atomic": ["atomic_write_bytes", "atomic_write_files", "atomic_write_text", "remove_stale_temps",
                   "STALE_SECONDS", "_write_temp"],
        "json_files": ["ResultsFileError", "open_regular_file", "check_regular_file", "read_json_file",
                       "MAX_JSON_BYTES", "MAX_JSON_DEPTH", "_json_too_deep"],
        "npz": ["npz_bytes", "save_npz", "load_npz", "FORMAT_VERSION", "MAX_EXPANSION", "EXPANSION_FLOOR",
                "_to_jsonable"],
        "savable": ["SavableResult", "check_values", "RANGE_RTOL", "_check_field_types"]},
    "cnnrank.subspace": {
        "_scale": ["_pow2", "_vector_scale"],
        "basis": ["orthonormal_basis", "principal_subspace"],
        "learned": ["learned_subspace_report", "learned_subspace_from_grams", "learned_dimension",
                    "energy_fraction", "DEFAULT_RTOL", "LEARNED_FLOOR", "_from_grams"],
        "overlaps": ["signal_overlap", "signal_overlaps", "gamma_stable_rank", "class_overlaps"],
        "regime": ["measured_regime", "BENIGN_TEST_ACC", "BENIGN_ENERGY_FRACTION"]},
    "cnnrank.tidy": {
        "schema": ["COUNTS", "KINDS", "RECORD_FILES", "MissingDependency", "Table", "TidyRecord"],
        "record_kinds": ["_from_sweep", "_trajectory"],
        "reading": ["tables", "record_file"],
        "frames": ["to_dataframe", "to_xarray"]},
    "cnnrank.linear.experiments": {
        "cnnrank.linear.runs": ["ModeRun", "run_cnn", "run_fcnn", "run_saxe", "ordering_task", "share_task",
                                "seed_streams"],
        "cnnrank.linear.sweeps": ["Sweep", "sweep", "SHARES", "KERNELS", "CHANNELS", "QUICK", "_sweep_point"],
        "cnnrank.linear.experiments": ["LinearCNNResult", "linear_cnn_experiment"]},
    "cnnrank.data": {
        "cnnrank.patch_data": ["PatchData", "_readonly"],
        "cnnrank.signal_vectors": ["make_signals", "_check_signal_norms"],
        "cnnrank.data": ["SignalNoiseModel", "MAX_SIZE"]},
    "cnnrank.gram_sample": {
        "cnnrank.gram_container": ["GramSample", "PatchLayout", "_patch_columns", "_has_signals", "_check_model"],
        "cnnrank.gram_sample": ["sample_gram", "gram_sample_from_data", "sample_meta", "wishart_bartlett",
                                "_signal_norms"]},
    "cnnrank.engines.gram": {
        "cnnrank.engines.gram_problem": ["GramProblem", "_stack", "_pad_sentinel"],
        "cnnrank.engines.gram_core": ["GramCore"],
        "cnnrank.engines.gram_variants": ["GramVariants"],
        "cnnrank.engines.patches": ["PatchRows", "distinct_patches"],
        "cnnrank.engines.gram": ["GramEngine"]},
    "cnnrank.batched": {
        "cnnrank.batched_problems": ["_broadcast", "_pad", "_family_unit", "_row_scales", "_pad_scales",
                                     "_explicit_problems", "_share_grams", "_groups"],
        "cnnrank.batched": ["train_batched", "_trajectory", "_run_groups"]},
    "cnnrank.collapse.simulate": {
        "cnnrank.collapse.models": ["UFMConfig", "MixtureConfig", "FeatureNetConfig", "MixtureData",
                                    "sample_mixture"],
        "cnnrank.collapse.losses": ["cross_entropy", "feature_net_forward", "feature_net_loss_and_grad",
                                    "ufm_loss_and_grad", "init_feature_net"],
        "cnnrank.collapse.simulate": ["CollapseRun", "CollapseDivergenceError", "HISTORY_NAMES", "train_ufm",
                                      "train_mixture"]},
}


@pytest.mark.parametrize("room", sorted(SPLIT_ROOMS))
def test_split_rooms_reexport_their_modules(room):
    """A room split into one module per idea keeps its import path: each name is the object of the module
    that defines it (the private names callers use included, so a registered activation pickled by
    reference resolves), ``__all__`` names only those, and no module of the room exceeds 400 lines."""
    import importlib
    import inspect

    face = importlib.import_module(room)
    homes = {(mod if mod.startswith("cnnrank.") else f"{room}.{mod}"): names for mod, names in SPLIT_ROOMS[room].items()}
    for full, names in homes.items():
        sub = importlib.import_module(full)
        for name in names:
            obj = getattr(sub, name)
            assert getattr(face, name) is obj, f"{room}.{name} is not {full}.{name}"
            if inspect.isclass(obj) or inspect.isfunction(obj):
                assert obj.__module__ == full, f"{full}.{name} is defined in {obj.__module__}"
    for name in face.__all__:
        obj = getattr(face, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ in homes, f"{room}.{name} comes from {obj.__module__}, outside the room"
    for full in homes:
        path = Path(importlib.import_module(full).__file__)
        assert len(path.read_text().splitlines()) <= 400, f"{path} holds more than one idea"


def test_train_reexports_its_modules():
    """``cnnrank.train`` is split into one module per idea (input checks, the record loop, sign descent and
    Adam, the two entry points): each name callers import from ``cnnrank.train`` is the object of the module
    that defines it, and no module of the room exceeds 400 lines."""
    import importlib
    import inspect

    face = importlib.import_module("cnnrank.train")
    homes = {"cnnrank.train_checks": ["check_training_inputs", "check_callback", "check_records_memory",
                                      "_check_variant", "_USE_IMPLICIT"],
             "cnnrank.train_loop": ["run_records", "_STEP0_HINT"],
             "cnnrank.adaptive_training": ["train_adaptive"],
             "cnnrank.train": ["train", "train_implicit", "_resolve_engine", "_distinct_if_needed"]}
    for full, names in homes.items():
        sub = importlib.import_module(full)
        for name in names:
            obj = getattr(sub, name)
            assert getattr(face, name) is obj, f"cnnrank.train.{name} is not {full}.{name}"
            if inspect.isfunction(obj):
                assert obj.__module__ == full, f"{full}.{name} is defined in {obj.__module__}"
        path = Path(sub.__file__)
        assert len(path.read_text().splitlines()) <= 400, f"{path} holds more than one idea"
