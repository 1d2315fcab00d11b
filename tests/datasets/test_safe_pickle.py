"""Tests for the restricted unpickler and the numpy-format readers."""

import collections
import os
import pickle
import warnings
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from gam_datasets import safe_pickle
from gam_datasets.safe_pickle import (CorruptFileError, DataFileError,
                                      UnsafePickleError, load_npy, load_npz,
                                      load_pickle, loads)

# `os.system` lives in `posix` on Linux and `nt` on Windows.
SYSTEM_GLOBAL = f"{os.system.__module__}.system"


class _RunsShell:
  """Pickles to a call of os.system, as a malicious data file would."""

  def __init__(self, command: str):
    self.command = command

  def __reduce__(self):
    return (os.system, (self.command,))


def _sample_objects():
  matrix = sp.random(4, 5, density=0.5, format="csr", dtype=np.float32,
                     random_state=0)
  graph = collections.defaultdict(list)
  graph[0].extend([1, 2])
  graph[2].append(0)
  return [np.eye(3, dtype=np.int32), matrix, matrix.tolil(), matrix.tocsc(),
          matrix.tocoo(), graph, np.float32(1.5), np.int64(3), {1, 2},
          frozenset({3}), b"ab", 2**70, "text", None, True, (1, 2.5),
          np.array(["a", "b"]), {"key": [1, 2]}]


# Real Planetoid files ---------------------------------------------------------


def test_loads_real_cora_pickles(cora_dir):
  features = load_pickle(cora_dir / "ind.cora.x")
  labels = load_pickle(cora_dir / "ind.cora.y")
  graph = load_pickle(cora_dir / "ind.cora.graph")
  assert sp.issparse(features) and features.format == "csr"
  assert features.shape == (140, 1433) and features.dtype == np.float32
  assert isinstance(labels, np.ndarray) and labels.shape == (140, 7)
  assert (labels.sum(axis=1) == 1).all()
  assert isinstance(graph, collections.defaultdict)
  assert graph.default_factory is list and len(graph) == 2708


def test_real_cora_loads_without_deprecated_scipy_modules(cora_dir):
  # The file names scipy.sparse.csr, deprecated since scipy 1.8: it must be
  # mapped to the public class, not imported.
  with warnings.catch_warnings():
    warnings.simplefilter("error")
    load_pickle(cora_dir / "ind.cora.tx")


# Allowed data round-trips ----------------------------------------------------


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_round_trips_plain_data(protocol):
  original = _sample_objects()
  loaded = loads(pickle.dumps(original, protocol=protocol))
  for before, after in zip(original, loaded):
    assert type(after) is type(before)
    if sp.issparse(before):
      assert after.shape == before.shape and (after != before).nnz == 0
    elif isinstance(before, np.ndarray):
      np.testing.assert_array_equal(after, before)
      assert after.dtype == before.dtype
    else:
      assert after == before
  assert loaded[5].default_factory is list


# Refusals ---------------------------------------------------------------------


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_refuses_os_system_without_running_it(tmp_path, protocol):
  marker = tmp_path / "executed"
  evil = tmp_path / "ind.cora.x"
  evil.write_bytes(pickle.dumps(
      [np.zeros(2), _RunsShell(f"touch {marker}")], protocol=protocol))
  with pytest.raises(UnsafePickleError) as raised:
    load_pickle(evil)
  message = str(raised.value)
  assert str(evil) in message
  assert f"'{SYSTEM_GLOBAL}'" in message
  assert not marker.exists()
  assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("module, name", [
    ("builtins", "eval"), ("builtins", "exec"), ("builtins", "getattr"),
    ("builtins", "__import__"), ("__builtin__", "eval"), ("builtins", "type"),
    ("subprocess", "Popen"), ("os", "system"), ("numpy", "load"),
    ("collections", "OrderedDict"), ("numpy", "ndarray.__new__"),
])
def test_refuses_globals_outside_the_allow_list(module, name):
  data = f"c{module}\n{name}\n(tR.".encode()  # protocol 0: module.name()
  with pytest.raises(UnsafePickleError, match=f"'{module}.{name}'"):
    loads(data, source="crafted.pkl")


def test_error_names_the_source():
  with pytest.raises(UnsafePickleError, match=r"^crafted\.pkl: refused"):
    loads(b"cbuiltins\neval\n(S'1'\ntR.", source="crafted.pkl")


def test_reconstructor_refuses_a_non_class_target():
  # copyreg._reconstructor is allowed for protocol 0/1 files, but only to
  # build allowed classes: here its cls argument is a numpy function.
  data = (b"ccopy_reg\n_reconstructor\n(cnumpy.core.multiarray\n_reconstruct\n"
          b"c__builtin__\nobject\nNtR.")
  with pytest.raises(UnsafePickleError, match="_reconstructor"):
    loads(data)


def test_reconstructor_builds_allowed_classes():
  data = (b"ccopy_reg\n_reconstructor\n(c__builtin__\nlist\n"
          b"c__builtin__\nlist\n(I1\nI2\nltR.")
  assert loads(data) == [1, 2]


def test_refuses_to_set_attributes_on_allowed_classes():
  # BUILD with slot state does setattr on its target; on a class that would
  # monkeypatch scipy for the whole process.
  original = sp.csr_matrix.tocsr
  data = (b"\x80\x02cscipy.sparse._csr\ncsr_matrix\n"
          b"N}X\x05\x00\x00\x00tocsrK\x01s\x86b.")
  with pytest.raises(UnsafePickleError, match="set attributes"):
    loads(data)
  assert sp.csr_matrix.tocsr is original


def test_codecs_encode_only_for_latin1():
  assert loads(b"c_codecs\nencode\n(Vab\nVlatin1\ntR.") == b"ab"
  with pytest.raises(UnsafePickleError, match="zlib"):
    loads(b"c_codecs\nencode\n(Vab\nVzlib\ntR.")


def test_refuses_persistent_ids():
  with pytest.raises(UnsafePickleError, match="persistent id"):
    loads(b"Pobject\n.")


# Damaged files ----------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_truncated_cora_file(tmp_path, cora_dir, keep):
  data = (cora_dir / "ind.cora.allx").read_bytes()
  truncated = tmp_path / "ind.cora.allx"
  truncated.write_bytes(data[:int(len(data) * keep)])
  with pytest.raises(CorruptFileError) as raised:
    load_pickle(truncated)
  assert str(truncated) in str(raised.value)
  assert "truncated or corrupt pickle" in str(raised.value)
  assert isinstance(raised.value, ValueError)


@pytest.mark.parametrize("data", [
    b"", b"not a pickle at all", b"\x80\x02]q\x00(K\x01K\x02e",  # no STOP
    b"\x80\x02cnumpy\ndtype\nq\x00X\x03\x00\x00\x00zz9K\x00K\x01\x87R.",
])
def test_corrupt_bytes(data):
  with pytest.raises(CorruptFileError, match=r"^blob: truncated or corrupt"):
    loads(data, source="blob")


def test_missing_pickle_names_the_file(tmp_path):
  with pytest.raises(FileNotFoundError, match="ind.cora.ty"):
    load_pickle(tmp_path / "ind.cora.ty")


# .npy / .npz ------------------------------------------------------------------


def test_load_npy_round_trip(tmp_path):
  array = np.arange(12, dtype=np.float32).reshape(3, 4)
  np.save(tmp_path / "a.npy", array)
  loaded = load_npy(tmp_path / "a.npy")
  np.testing.assert_array_equal(loaded, array)
  assert loaded.dtype == np.float32


def test_load_npy_refuses_object_arrays(tmp_path):
  marker = tmp_path / "executed"
  path = tmp_path / "objects.npy"
  array = np.empty(1, dtype=object)
  array[0] = _RunsShell(f"touch {marker}")
  np.save(path, array, allow_pickle=True)
  with pytest.raises(DataFileError, match="objects.npy.*object"):
    load_npy(path)
  assert not marker.exists()


def test_load_npy_truncated(tmp_path):
  path = tmp_path / "big.npy"
  np.save(path, np.arange(1000, dtype=np.int64))
  path.write_bytes(path.read_bytes()[:-100])
  with pytest.raises(CorruptFileError, match="big.npy.*truncated"):
    load_npy(path)


def test_load_npy_not_an_array(tmp_path):
  path = tmp_path / "text.npy"
  path.write_text("hello")
  with pytest.raises(CorruptFileError, match="text.npy"):
    load_npy(path)


def test_load_npz_round_trip(tmp_path):
  np.savez_compressed(tmp_path / "d.npz", a=np.arange(3), b=np.eye(2))
  arrays = load_npz(tmp_path / "d.npz")
  assert sorted(arrays) == ["a", "b"]
  np.testing.assert_array_equal(arrays["b"], np.eye(2))


def test_load_npz_refuses_object_members(tmp_path):
  np.savez(tmp_path / "d.npz", fine=np.arange(3),
           objects=np.array([{"a": 1}], dtype=object))
  with pytest.raises(DataFileError, match="d.npz.*'objects.npy'.*object"):
    load_npz(tmp_path / "d.npz")


def test_load_npz_truncated(tmp_path):
  path = tmp_path / "d.npz"
  np.savez(path, a=np.arange(1000))
  path.write_bytes(path.read_bytes()[:300])
  with pytest.raises(CorruptFileError, match="d.npz.*truncated or corrupt"):
    load_npz(path)


def test_load_npz_not_a_zip(tmp_path):
  path = tmp_path / "d.npz"
  path.write_bytes(b"plain text")
  with pytest.raises(CorruptFileError, match="d.npz"):
    load_npz(path)


def test_load_npz_foreign_member(tmp_path):
  path = tmp_path / "d.npz"
  with zipfile.ZipFile(path, "w") as archive:
    archive.writestr("payload.pkl", pickle.dumps([1]))
  with pytest.raises(CorruptFileError, match="payload.pkl"):
    load_npz(path)


def test_load_npz_missing(tmp_path):
  with pytest.raises(FileNotFoundError, match="absent.npz"):
    load_npz(tmp_path / "absent.npz")


def test_module_exports():
  assert set(safe_pickle.__all__) >= {"load_pickle", "loads", "load_npy",
                                      "load_npz", "UnsafePickleError"}
  assert issubclass(UnsafePickleError, ValueError)


@pytest.mark.parametrize("make", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix,
                                  sp.lil_matrix])
def test_checked_sparse_returns_csr_of_every_allowed_format(make):
  dense = np.array([[0, 2, 0], [1, 0, 3]], np.float32)
  matrix = safe_pickle.checked_sparse(make(dense), "m")
  assert matrix.format == "csr"
  np.testing.assert_array_equal(matrix.toarray(), dense)


@pytest.mark.parametrize("make, fields, match", [
    (sp.csc_matrix, dict(indices=np.array([0, 5, 1])),
     r"indices \[5\] at entries \[1\] are outside \[0, 2\)"),
    (sp.coo_matrix, dict(col=np.array([0, 1, 9])),
     r"`col` values \[9\] are outside \[0, 3\)"),
    (sp.coo_matrix, dict(row=np.array([0, 1])), "`row` and `data` differ"),
    (sp.csr_matrix, dict(data=np.ones(2)), "one value per entry"),
])
def test_checked_sparse_names_corrupt_index_arrays(make, fields, match):
  matrix = make(np.array([[0, 2, 0], [1, 0, 3]], np.float32)).copy()
  for name, value in fields.items():
    setattr(matrix, name, value)
  with pytest.raises(CorruptFileError,
                     match=r"^src: corrupt sparse matrix: .*" + match):
    safe_pickle.checked_sparse(matrix, "src")
