"""Saving and loading results: one ``.npz`` file holding the arrays and a JSON metadata record.

Every result dataclass of cnnrank inherits :class:`SavableResult`. Its array fields go to the
``.npz`` archive; every other field goes to the JSON record stored in the same archive under the key
``__metadata__`` (no pickles: files are loaded with ``allow_pickle=False``). The record also holds the
result's kind, the format version and the library version, so a foreign or corrupted file is refused
with an error that names it. Arrays are stored compressed (``np.savez_compressed``).

Loading never trusts the archive: :func:`load_npz` reads each member's ``.npy`` header and the
zip's declared sizes before it allocates anything, and refuses a member whose header does not
match its declared size, whose dtype holds Python objects, that would expand more than
:data:`MAX_EXPANSION` times its compressed size (beyond :data:`EXPANSION_FLOOR`), or whose arrays
together would not fit in the memory the machine can spare. Every failure is a
:class:`ResultsFileError` naming the file.

Loading also checks the stored numbers against their documented ranges (fractions and accuracies in
``[0, 1]``, losses and counts ``>= 0``, counts integers, stable ranks ``0`` or at least 1, steps
increasing): a class lists its fields' ranges in ``_value_ranges`` (checked by :func:`check_values`),
and :class:`~cnnrank.train.Trajectory` adds the bounds that depend on its shapes. NaN is accepted where a
diverged run records it.

JSON records are read by :func:`read_json_file`: only a regular file (a FIFO or a device is refused
before it is opened, so nothing waits on it), at most :data:`MAX_JSON_BYTES`, nested at most
:data:`MAX_JSON_DEPTH` levels; every failure is one :class:`ResultsFileError` naming the file.

Files are written atomically: to a temporary file in the same folder, then renamed.

One module per idea, every name re-exported here (``cnnrank.results.load_npz``, ...):

* :mod:`cnnrank.results.atomic`: files written atomically, several as one; stale temporary files removed;
* :mod:`cnnrank.results.json_files`: :class:`ResultsFileError`, regular files only, bounded JSON records;
* :mod:`cnnrank.results.npz`: the ``.npz`` archive and its checked loading;
* :mod:`cnnrank.results.savable`: :class:`SavableResult` and :func:`check_values`.
"""

from cnnrank.results.atomic import STALE_SECONDS as STALE_SECONDS
from cnnrank.results.atomic import _pid_alive as _pid_alive
from cnnrank.results.atomic import _temp_prefix as _temp_prefix
from cnnrank.results.atomic import _write_temp as _write_temp
from cnnrank.results.atomic import atomic_write_bytes as atomic_write_bytes
from cnnrank.results.atomic import atomic_write_files as atomic_write_files
from cnnrank.results.atomic import atomic_write_text as atomic_write_text
from cnnrank.results.atomic import remove_stale_temps as remove_stale_temps
from cnnrank.results.json_files import MAX_JSON_BYTES as MAX_JSON_BYTES
from cnnrank.results.json_files import MAX_JSON_DEPTH as MAX_JSON_DEPTH
from cnnrank.results.json_files import ResultsFileError as ResultsFileError
from cnnrank.results.json_files import _json_too_deep as _json_too_deep
from cnnrank.results.json_files import check_regular_file as check_regular_file
from cnnrank.results.json_files import open_regular_file as open_regular_file
from cnnrank.results.json_files import read_json_file as read_json_file
from cnnrank.results.npz import _CHUNK as _CHUNK
from cnnrank.results.npz import _MAX_HEADER as _MAX_HEADER
from cnnrank.results.npz import _META_KEY as _META_KEY
from cnnrank.results.npz import EXPANSION_FLOOR as EXPANSION_FLOOR
from cnnrank.results.npz import FORMAT_VERSION as FORMAT_VERSION
from cnnrank.results.npz import MAX_EXPANSION as MAX_EXPANSION
from cnnrank.results.npz import _member_header as _member_header
from cnnrank.results.npz import _read_member as _read_member
from cnnrank.results.npz import _read_npz as _read_npz
from cnnrank.results.npz import _Refused as _Refused
from cnnrank.results.npz import _to_jsonable as _to_jsonable
from cnnrank.results.npz import load_npz as load_npz
from cnnrank.results.npz import npz_bytes as npz_bytes
from cnnrank.results.npz import save_npz as save_npz
from cnnrank.results.savable import _SIMPLE as _SIMPLE
from cnnrank.results.savable import RANGE_RTOL as RANGE_RTOL
from cnnrank.results.savable import SavableResult as SavableResult
from cnnrank.results.savable import T as T
from cnnrank.results.savable import _check_field_types as _check_field_types
from cnnrank.results.savable import check_values as check_values

__all__ = ['EXPANSION_FLOOR', 'FORMAT_VERSION', 'MAX_EXPANSION', 'MAX_JSON_BYTES', 'MAX_JSON_DEPTH', 'RANGE_RTOL', 'STALE_SECONDS', 'ResultsFileError', 'SavableResult', 'T', 'atomic_write_bytes', 'atomic_write_files', 'atomic_write_text', 'check_regular_file', 'check_values', 'load_npz', 'npz_bytes', 'open_regular_file', 'read_json_file', 'remove_stale_temps', 'save_npz']
