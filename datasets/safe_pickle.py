"""Reading downloaded data files without running code from them.

Planetoid's `ind.*` files are Python 2 pickles, and `pickle.load` will call
any importable function a file names (`os.system` included). `load_pickle`
resolves only an allow-list of numpy / scipy.sparse / builtin data types and
refuses every other global before it can be called. `load_npy` and `load_npz`
read numpy's own formats with pickling switched off.

Example:
  >>> features = load_pickle("data/ind.cora.x")  # doctest: +SKIP
"""

from __future__ import annotations

import collections
import copyreg
import importlib
import io
import os
import pickle
import zipfile
from typing import BinaryIO, Dict, Tuple, Union

import numpy as np
import scipy.sparse as sp

from graph_models.errors import InputError, format_ids

PathLike = Union[str, "os.PathLike[str]"]


class DataFileError(InputError):
  """A data file cannot be read; the message names the file and why."""


class CorruptFileError(DataFileError):
  """The file is truncated or is not in the format it claims to be."""


class UnsafePickleError(DataFileError):
  """The pickle names something other than the allowed data types."""


class _Refused(Exception):
  """Internal: raised mid-load, turned into `UnsafePickleError` by `_load`."""


def _numpy_core(module: str):
  # numpy 2 moved numpy.core to numpy._core; importing the old name warns.
  try:
    return importlib.import_module(f"numpy._core.{module}")
  except ImportError:
    return importlib.import_module(f"numpy.core.{module}")


def _latin1_encode(text, encoding: str = "utf-8", errors: str = "strict"):
  # Python 3 writes bytes into protocol-2 pickles as
  # `_codecs.encode(text, "latin1")`. Other codecs (zlib, base64, ...) can be
  # looked up by name, so only the one that pickle itself uses is let through.
  if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
    raise _Refused(f"to call _codecs.encode(..., {encoding!r})")
  return text.encode("latin1", errors)


_BUILTIN_DATA_TYPES = (bool, int, float, complex, str, bytes, bytearray, list,
                       tuple, dict, set, frozenset, object)


def _checked_reconstructor(cls, base, state):
  # copyreg._reconstructor calls base.__new__(cls, state) and
  # base.__init__(obj, state), so both must be allowed data types.
  for arg in (cls, base):
    if not (isinstance(arg, type) and arg in _ALLOWED_TYPES):
      raise _Refused(f"to call copyreg._reconstructor on {arg!r}")
  return copyreg._reconstructor(cls, base, state)


def _allowed_globals() -> Dict[Tuple[str, str], object]:
  multiarray = _numpy_core("multiarray")
  numeric = _numpy_core("numeric")
  allowed: Dict[Tuple[str, str], object] = {
      ("numpy", "ndarray"): np.ndarray,
      ("numpy", "dtype"): np.dtype,
      ("collections", "defaultdict"): collections.defaultdict,
      ("_codecs", "encode"): _latin1_encode,
      # Python 2 names that pickle's fix_imports would otherwise translate.
      ("__builtin__", "unicode"): str,
      ("__builtin__", "long"): int,
  }
  for prefix in ("numpy.core", "numpy._core"):
    allowed[(f"{prefix}.multiarray", "_reconstruct")] = multiarray._reconstruct
    allowed[(f"{prefix}.multiarray", "scalar")] = multiarray.scalar
    # Protocol 5 pickles of arrays (frombuffer never makes object arrays).
    allowed[(f"{prefix}.numeric", "_frombuffer")] = numeric._frombuffer
  for fmt in ("csr", "csc", "coo", "lil"):
    matrix = getattr(sp, f"{fmt}_matrix")
    # Old scipy wrote scipy.sparse.csr, new scipy scipy.sparse._csr; both are
    # mapped to the public class so no deprecated module is imported.
    for module in ("scipy.sparse", f"scipy.sparse.{fmt}",
                   f"scipy.sparse._{fmt}"):
      allowed[(module, matrix.__name__)] = matrix
  for module in ("builtins", "__builtin__"):
    for data_type in _BUILTIN_DATA_TYPES:
      allowed[(module, data_type.__name__)] = data_type
  for module in ("copyreg", "copy_reg"):
    allowed[(module, "_reconstructor")] = _checked_reconstructor
  return allowed


_ALLOWED = _allowed_globals()
_ALLOWED_TYPES = frozenset(v for v in _ALLOWED.values() if isinstance(v, type))
_ALLOWED_IDS = frozenset(id(v) for v in _ALLOWED.values())


# pylint: disable=protected-access
class _RestrictedUnpickler(pickle._Unpickler):
  """Unpickler that only builds allow-listed data types.

  The pure-Python unpickler is used (not the C one) because BUILD must be
  checked too: BUILD with a slot-state dict does `setattr` on whatever is on
  the stack, which for an allowed class such as `csr_matrix` would let a file
  monkeypatch scipy for the rest of the process.
  """

  dispatch = dict(pickle._Unpickler.dispatch)

  def find_class(self, module: str, name: str):
    try:
      return _ALLOWED[(module, name)]
    except KeyError:
      raise _Refused(f"to load global '{module}.{name}'") from None

  def persistent_load(self, pid):
    raise _Refused(f"to resolve persistent id {pid!r}")

  def load_build(self):
    target = self.stack[-2] if len(self.stack) >= 2 else None
    if isinstance(target, type) or id(target) in _ALLOWED_IDS:
      raise _Refused(f"to set attributes of {target!r}")
    super().load_build()

  dispatch[pickle.BUILD[0]] = load_build


# pylint: enable=protected-access


def _describe(error: Exception) -> str:
  # The pure-Python unpickler raises a bare EOFError() at the end of input.
  return f"{type(error).__name__}: {error}" if str(error) else (
      f"{type(error).__name__}: the data ends early")


def _load(file: BinaryIO, source: str) -> object:
  try:
    return _RestrictedUnpickler(file, encoding="latin1").load()
  except _Refused as refused:
    raise UnsafePickleError(
        f"{source}: refused {refused} - this file is not a plain data "
        "pickle (only numpy arrays, scipy sparse matrices and builtin "
        "containers are allowed)") from None
  except RecursionError as error:
    raise CorruptFileError(f"{source}: pickle nests too deeply to be a data "
                           "file") from error
  except Exception as error:  # pylint: disable=broad-except
    # EOFError, UnpicklingError, struct.error, or a TypeError / ValueError
    # from numpy or scipy rebuilding an object out of garbage: all mean the
    # bytes are not a whole, valid data pickle.
    raise CorruptFileError(f"{source}: truncated or corrupt pickle "
                           f"({_describe(error)})") from error


def load_pickle(path: PathLike) -> object:
  """Unpickles an untrusted file, allowing only plain data types.

  Raises:
    FileNotFoundError: `path` does not exist.
    UnsafePickleError: the file names a global outside the allow-list.
    CorruptFileError: the file is truncated or not a pickle.
  """
  source = os.fspath(path)
  with open(source, "rb") as file:
    return _load(file, source)


def loads(data: bytes, source: str = "<bytes>") -> object:
  """Like `load_pickle`, for bytes; `source` names them in error messages."""
  return _load(io.BytesIO(data), source)


# numpy formats ----------------------------------------------------------------


def _read_npy(file: BinaryIO, source: str) -> np.ndarray:
  fmt = np.lib.format
  try:
    version = fmt.read_magic(file)
    if version == (1, 0):
      shape, _, dtype = fmt.read_array_header_1_0(file)
    else:
      shape, _, dtype = fmt.read_array_header_2_0(file)
  except Exception as error:  # pylint: disable=broad-except
    raise CorruptFileError(f"{source}: not a .npy array or its header is "
                           f"corrupt ({error})") from error
  if dtype.hasobject:
    # Object arrays are stored as a pickle: reading them would run code.
    raise DataFileError(f"{source}: holds an array of dtype {dtype} (Python "
                        "objects), which can only be read by unpickling; "
                        "refusing to load it")
  file.seek(0)  # read_array parses the header again itself.
  try:
    return fmt.read_array(file, allow_pickle=False)
  except Exception as error:  # pylint: disable=broad-except
    raise CorruptFileError(
        f"{source}: truncated or corrupt .npy data for an array of shape "
        f"{shape} and dtype {dtype} ({error})") from error


def load_npy(path: PathLike) -> np.ndarray:
  """Reads a `.npy` file with pickling disabled.

  Raises:
    FileNotFoundError: `path` does not exist.
    DataFileError: the file holds an object array.
    CorruptFileError: the file is truncated or not a `.npy` file.
  """
  source = os.fspath(path)
  with open(source, "rb") as file:
    return _read_npy(file, source)


def load_npz(path: PathLike) -> Dict[str, np.ndarray]:
  """Reads every array of a `.npz` archive, with pickling disabled.

  Returns a dict from array name (without `.npy`) to array; all members are
  read at once so errors surface here and the archive is closed afterwards.

  Raises:
    FileNotFoundError: `path` does not exist.
    DataFileError: a member holds an object array.
    CorruptFileError: the archive or a member is truncated or corrupt.
  """
  source = os.fspath(path)
  if not os.path.exists(source):
    raise FileNotFoundError(f"{source}: no such file")
  arrays: Dict[str, np.ndarray] = {}
  try:
    with zipfile.ZipFile(source) as archive:
      for member in archive.namelist():
        where = f"{source} (member {member!r})"
        if not member.endswith(".npy"):
          raise CorruptFileError(f"{where}: not a .npy array; an .npz archive "
                                 "holds only .npy members")
        # _read_npy rewinds to the start, which a zip member does cheaply
        # only once it is in memory.
        data = io.BytesIO(archive.read(member))
        arrays[member[:-len(".npy")]] = _read_npy(data, where)
  except DataFileError:
    raise
  except Exception as error:  # pylint: disable=broad-except
    # BadZipFile, zlib.error, CRC mismatch (BadZipFile), EOFError ...
    raise CorruptFileError(f"{source}: truncated or corrupt .npz archive "
                           f"({_describe(error)})") from error
  return arrays


# sparse matrices --------------------------------------------------------------


def checked_sparse(matrix: sp.spmatrix, source: str) -> sp.csr_matrix:
  """An unpickled sparse matrix as CSR, its index arrays checked first.

  Unpickling sets a matrix's arrays without scipy's checks, and scipy's C
  routines use its indices as memory offsets: one flipped bit in a Planetoid
  file crashed the interpreter (segmentation fault) in the first product.
  The shape and the index arrays are checked here, with numpy only, before
  any scipy routine reads them.

  Raises:
    CorruptFileError: the shape, `indptr`, `indices` or `row` / `col` do
      not describe a matrix; the message names `source` and what is wrong.
  """
  fields = vars(matrix)
  shape = fields.get("_shape")
  if (not isinstance(shape, tuple) or len(shape) != 2 or not all(
      isinstance(n, (int, np.integer)) and n >= 0 for n in shape)):
    raise CorruptFileError(f"{source}: corrupt sparse matrix: shape "
                           f"{shape!r} is not two non-negative integers")
  if matrix.format in ("csr", "csc"):
    major, minor = shape if matrix.format == "csr" else shape[::-1]
    _check_compressed(fields, major, minor, source)
  elif matrix.format == "coo":
    _check_coordinates(fields, shape, source)
  else:
    # lil / dok hold Python lists and dicts, which scipy's conversion
    # checks; the CSR they convert to is checked like a pickled one.
    matrix = matrix.tocsr()
    _check_compressed(vars(matrix), *shape, source)
  return matrix.tocsr()


def _index_array(fields: dict, name: str, source: str) -> np.ndarray:
  array = fields.get(name)
  if (not isinstance(array, np.ndarray) or array.ndim != 1
      or array.dtype.kind not in "iu"):
    raise CorruptFileError(f"{source}: corrupt sparse matrix: `{name}` is "
                           "not a 1-D integer array")
  return array


def _check_compressed(fields: dict, major: int, minor: int,
                      source: str) -> None:
  indptr = _index_array(fields, "indptr", source)
  indices = _index_array(fields, "indices", source)
  data = fields.get("data")
  if (indptr.size != major + 1 or indptr[0] != 0
      or (np.diff(indptr) < 0).any() or indptr[-1] != indices.size
      or not isinstance(data, np.ndarray) or data.shape != indices.shape):
    raise CorruptFileError(
        f"{source}: corrupt sparse matrix: `indptr` must hold {major + 1} "
        f"non-decreasing offsets from 0 to the {indices.size} entries of "
        "`indices`, and `data` one value per entry")
  outside = np.flatnonzero((indices < 0) | (indices >= minor))
  if outside.size:
    raise CorruptFileError(
        f"{source}: corrupt sparse matrix: indices "
        f"{format_ids(indices[outside])} at entries {format_ids(outside)} "
        f"are outside [0, {minor})")


def _check_coordinates(fields: dict, shape: Tuple[int, int],
                       source: str) -> None:
  data = fields.get("data")
  # scipy >= 1.13 keeps `coords = (row, col)`, older scipy `row` and `col`.
  coords = fields.get("coords")
  if isinstance(coords, tuple) and len(coords) == 2:
    fields = dict(fields, row=coords[0], col=coords[1])
  for name, size in zip(("row", "col"), shape):
    index = _index_array(fields, name, source)
    if not isinstance(data, np.ndarray) or index.shape != data.shape:
      raise CorruptFileError(f"{source}: corrupt sparse matrix: `{name}` "
                             "and `data` differ in length")
    outside = np.flatnonzero((index < 0) | (index >= size))
    if outside.size:
      raise CorruptFileError(
          f"{source}: corrupt sparse matrix: `{name}` values "
          f"{format_ids(index[outside])} are outside [0, {size})")


__all__ = ["CorruptFileError", "DataFileError", "UnsafePickleError",
           "checked_sparse", "load_npy", "load_npz", "load_pickle", "loads"]
