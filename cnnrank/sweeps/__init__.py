"""Sweeps: a grid over any :class:`~cnnrank.experiments.RunConfig` fields × seeds (docs/sweeps.md).

* **Seeds.** One root seed; ``np.random.SeedSequence(root_seed).spawn(seeds)`` gives one independent
  stream per seed index. The same stream is used for every grid point of a seed index (common random
  numbers: at seed ``s`` the noise levels differ only by the noise scale), so curves over the grid are
  smooth and differences between grid points are not sampling noise. A cell's result depends only on
  its configuration and its stream: identical whatever the executor, and with grouping whatever the
  grouping (a groupable cell left alone runs as a group of one).
* **Validation first.** Every cell's configuration (engine names included), the scale of the numbers
  it would produce and the size of the whole sweep are checked before anything is written.
* **Groups.** Cells of one seed index whose configurations differ only in ``noise_std`` and ``lr``
  (Gram engine, or ``"auto"``) run as one batched run (:func:`run_cell_group`, through
  :func:`cnnrank.experiments.runs.run_group`): the same draws, each cell's numbers equal to its own run
  (:func:`run_cell`) to rounding level. ``run_sweep(..., group=False)`` runs every cell alone with
  :func:`run_cell`.
* **Executors.** ``executor=None`` runs the cells (or groups) one by one in this process; any
  :class:`concurrent.futures.Executor` (``ProcessPoolExecutor``, :class:`cnnrank._parallel.WorkerPool`,
  a Dask ``Client.get_executor()``) runs them in parallel. Each finished cell is stored as it arrives;
  on a failing cell or an interrupt the queued cells are cancelled (a ``WorkerPool`` is stopped at
  once) and the error names the failing cell's coordinates.
* **Store.** With ``store=DIR`` the sweep's definition goes to ``DIR/sweep.json`` (created
  exclusively) and every finished cell atomically to ``DIR/cells/<id>.json``, each cell carrying the
  sweep's fingerprint, its grid coordinates and its seed index (checked when read back). A sweep holds
  an exclusive lock on ``DIR/.sweep.lock`` while it runs: a second sweep on the same folder fails at
  once. Running the same sweep again computes only the missing cells (an interrupted sweep resumes); a
  store holding a different sweep is refused, naming the options that differ.

The package holds one idea per module, each layer 6 (docs/architecture.md): :mod:`~cnnrank.sweeps.spec`
(the grid, its checks, :func:`sweep_from_file`), :mod:`~cnnrank.sweeps.store` (lock, ``sweep.json``, cell
files and their checksums), :mod:`~cnnrank.sweeps.planner` (which cells run as one group),
:mod:`~cnnrank.sweeps.runner` (:func:`run_cell`, :func:`run_cell_group`, :func:`run_sweep`) and
:mod:`~cnnrank.sweeps.result` (:class:`SweepResult`, the metrics and their ranges). Every name is
re-exported here; a module-level setting is read where it is used (``cnnrank.sweeps.planner.GROUP_BYTES``).
"""

from cnnrank.experiments.runs import config_from_dict as config_from_dict
from cnnrank.sweeps.planner import GROUP_BYTES
from cnnrank.sweeps.planner import _cell_cost as _cell_cost
from cnnrank.sweeps.planner import _group_key as _group_key
from cnnrank.sweeps.planner import _plan as _plan
from cnnrank.sweeps.planner import _unit_bytes as _unit_bytes
from cnnrank.sweeps.result import COUNT_METRICS as COUNT_METRICS
from cnnrank.sweeps.result import METRIC_RANGES as METRIC_RANGES
from cnnrank.sweeps.result import METRICS, SweepResult
from cnnrank.sweeps.runner import run_cell, run_cell_group, run_sweep
from cnnrank.sweeps.spec import CONFIG_AXIS as CONFIG_AXIS
from cnnrank.sweeps.spec import ENGINE_NAMES, SweepSpec, sweep_from_file
from cnnrank.sweeps.spec import SCALE_LIMIT as SCALE_LIMIT
from cnnrank.sweeps.spec import _grid_dict as _grid_dict
from cnnrank.sweeps.store import CELL_DISK_BYTES as CELL_DISK_BYTES
from cnnrank.sweeps.store import CELL_MEMORY_BYTES as CELL_MEMORY_BYTES
from cnnrank.sweeps.store import STORE_FORMAT as STORE_FORMAT
from cnnrank.sweeps.store import _digest as _digest
from cnnrank.sweeps.store import _spec_diff as _spec_diff
from cnnrank.sweeps.store import _store_paths as _store_paths
from cnnrank.sweeps.store import _StoreLock as _StoreLock

__all__ = ["ENGINE_NAMES", "GROUP_BYTES", "METRICS", "SweepResult", "SweepSpec", "run_cell", "run_cell_group", "run_sweep",
           "sweep_from_file"]
