"""Loads the Planetoid citation datasets (Cora, Citeseer, Pubmed).

The files are those of Yang, Cohen & Salakhutdinov (ICML 2016), as used by
Kipf & Welling's GCN: `ind.<name>.x/y` hold the labelled training nodes,
`allx/ally` every node before the test nodes (the training nodes first),
`tx/ty` the test nodes in the order `test.index` names them, and `graph` a
dict of adjacency lists. The split is the standard one of `gcn/utils.py
load_data`: train = the first len(y) nodes, val = the next 500, test = the
nodes of `test.index`.

Example:
  graph = load_planetoid("data/planetoid/cora", "cora")
  # Graph(name='cora', nodes=2708, edges=10556, features=1433 (sparse),
  #       classes=7, train/val/test=140/500/1000)
"""

from __future__ import annotations

import hashlib
import itertools
import operator
import os
from typing import Dict, List, Sequence, Union

import numpy as np
import scipy.sparse as sp

from graph_models.errors import InputError
from graph_models.graph import UNLABELED, Graph, format_ids
from gam_datasets.safe_pickle import (CorruptFileError, checked_sparse,
                                      load_pickle)

PathLike = Union[str, "os.PathLike[str]"]

PLANETOID_FILES = ("x", "y", "tx", "ty", "allx", "ally", "graph", "test.index")
PLANETOID_NAMES = ("cora", "citeseer", "pubmed")

# Kipf's split: the 500 nodes after the training nodes are the validation set.
NUM_VAL = 500


class PlanetoidError(InputError):
  """The Planetoid files are inconsistent; the message names the file(s)."""


class PlanetoidFilesNotFoundError(FileNotFoundError):
  """The data directory or some of its `ind.<name>.*` files are missing."""


def _file(name: str, suffix: str) -> str:
  return f"ind.{name}.{suffix}"


def _features(value, filename: str) -> sp.csr_matrix:
  if sp.issparse(value):
    try:
      matrix = checked_sparse(value, filename)
    except CorruptFileError as error:
      raise PlanetoidError(str(error)) from None
  elif isinstance(value, np.ndarray) and value.ndim == 2:
    matrix = sp.csr_matrix(value)
  else:
    raise PlanetoidError(f"{filename}: expected a 2-D feature matrix (scipy "
                         f"sparse or numpy), got {type(value).__name__} "
                         f"{getattr(value, 'shape', '')}".rstrip())
  if not np.issubdtype(matrix.dtype, np.number):
    raise PlanetoidError(f"{filename}: features must be numeric, got dtype "
                         f"{matrix.dtype}")
  if not np.isfinite(matrix.data).all():
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    bad_rows = np.unique(rows[~np.isfinite(matrix.data)])
    raise PlanetoidError(f"{filename}: NaN or inf features in rows "
                         f"{format_ids(bad_rows)}")
  # Rebuilt from its arrays: a Python 2 pickle leaves old scipy's private
  # attributes (maxprint, _cs_matrix__has_sorted_indices) on the object.
  return sp.csr_matrix((matrix.data.astype(np.float32), matrix.indices,
                        matrix.indptr), shape=matrix.shape)


def _one_hot(value, filename: str) -> np.ndarray:
  if sp.issparse(value):
    value = value.toarray()
  if not (isinstance(value, np.ndarray) and value.ndim == 2 and
          (np.issubdtype(value.dtype, np.number) or value.dtype == bool)):
    raise PlanetoidError(f"{filename}: expected a 2-D numeric array of one-hot "
                         f"labels, got {type(value).__name__} "
                         f"{getattr(value, 'shape', '')}".rstrip())
  return value


def _check_rows(first: str, first_rows: int, second: str,
                second_rows: int) -> None:
  if first_rows != second_rows:
    raise PlanetoidError(f"{first} has {first_rows} rows but {second} has "
                         f"{second_rows}; they must describe the same nodes")


def _check_columns(kind: str, shapes: Dict[str, tuple]) -> None:
  widths = {filename: shape[1] for filename, shape in shapes.items()}
  if len(set(widths.values())) > 1:
    listed = ", ".join(f"{f} has {w}" for f, w in widths.items())
    raise PlanetoidError(f"the {kind} files disagree on the number of "
                         f"columns: {listed}")


def _read_test_index(path: str, filename: str) -> np.ndarray:
  ids: List[int] = []
  with open(path, encoding="latin1") as file:
    for line_number, line in enumerate(file, start=1):
      text = line.strip()
      if not text:
        continue
      try:
        ids.append(int(text))
      except ValueError:
        raise PlanetoidError(f"{filename}: line {line_number} is {text!r}, "
                             "expected one integer node id per line") from None
  ids_array = np.asarray(ids, dtype=np.int64)
  if not ids_array.size:
    raise PlanetoidError(f"{filename}: names no test nodes")
  negative = ids_array[ids_array < 0]
  if negative.size:
    raise PlanetoidError(f"{filename}: negative node ids "
                         f"{format_ids(negative)}")
  unique, counts = np.unique(ids_array, return_counts=True)
  if (counts > 1).any():
    raise PlanetoidError(f"{filename}: node ids listed more than once: "
                         f"{format_ids(unique[counts > 1])}")
  return ids_array


def _read_adjacency_lists(value, filename: str):
  """Returns (receivers, senders): node i receives from each of graph[i]."""
  if not isinstance(value, dict):
    raise PlanetoidError(f"{filename}: expected a dict of adjacency lists, got "
                         f"{type(value).__name__}")
  keys, neighbour_lists = [], []
  for key, neighbours in value.items():
    try:
      keys.append(operator.index(key))
    except TypeError:
      raise PlanetoidError(f"{filename}: node id {key!r} is not an "
                           "integer") from None
    if isinstance(neighbours, (str, bytes)) or not hasattr(neighbours,
                                                            "__iter__"):
      raise PlanetoidError(f"{filename}: the neighbours of node {key} are "
                           f"{type(neighbours).__name__}, expected a list")
    neighbour_lists.append(list(neighbours))
  counts = np.fromiter((len(n) for n in neighbour_lists), dtype=np.int64,
                       count=len(neighbour_lists))
  try:
    receivers = np.repeat(np.asarray(keys, dtype=np.int64), counts)
  except OverflowError:
    huge = [k for k in keys if abs(k) >= 2**63][:10]
    raise PlanetoidError(f"{filename}: node ids do not fit in 64 bits: "
                         f"{huge}") from None
  # Neighbour ids past int64 become an object array, refused below.
  senders = np.asarray(list(itertools.chain.from_iterable(neighbour_lists)))
  if senders.size and senders.dtype.kind not in "iu":
    raise PlanetoidError(f"{filename}: neighbour ids must be integers, got "
                         f"values of dtype {senders.dtype}")
  return receivers, senders.astype(np.int64)


def _missing_files(data_dir: str, name: str) -> List[str]:
  return [_file(name, suffix) for suffix in PLANETOID_FILES
          if not os.path.isfile(os.path.join(data_dir, _file(name, suffix)))]


def check_planetoid_dir(data_dir: PathLike, name: str) -> None:
  """Raises unless `data_dir` holds the eight `ind.<name>.*` files.

  Raises:
    ValueError: `name` is not a plain file prefix.
    PlanetoidFilesNotFoundError: the directory or some files are missing;
      the message names them.
  """
  data_dir = os.fspath(data_dir)
  if not name or os.sep in name or (os.altsep and os.altsep in name):
    raise ValueError(f"dataset name must be a plain prefix such as 'cora', got "
                     f"{name!r}")
  if not os.path.isdir(data_dir):
    raise PlanetoidFilesNotFoundError(
        f"Planetoid data directory {data_dir} does not exist (expected the "
        f"files {_file(name, '*')} in it)")
  missing = _missing_files(data_dir, name)
  if missing:
    raise PlanetoidFilesNotFoundError(
        f"{data_dir} lacks the Planetoid file(s) {', '.join(missing)}")


def load_planetoid(data_dir: PathLike, name: str,
                   num_val: int = NUM_VAL) -> Graph:
  """Reads `ind.<name>.*` from `data_dir` into a `Graph`, as Kipf's GCN does.

  Features are the rows of `allx` followed by those of `tx`, with `tx[i]`
  going to node `test.index[i]`. When `test.index` skips ids (Citeseer has
  isolated test nodes), the skipped nodes are kept with zero features and no
  label, so node ids still match the graph file. Label rows that are all zero
  become `UNLABELED`. Edges are made undirected and self-loops are dropped:
  the models add their own (`Graph.with_self_loops`), and a loop kept from
  the file would count twice in Kipf's normalisation. As in Kipf's code, `x`
  and `y` only give the number of training nodes: their rows repeat the
  first rows of `allx` and `ally`.

  Args:
    data_dir: directory holding the eight `ind.<name>.*` files.
    name: dataset prefix, e.g. one of `PLANETOID_NAMES`.
    num_val: size of the validation set (500 in the Planetoid split).

  Raises:
    PlanetoidFilesNotFoundError: the directory or some files are missing.
    PlanetoidError: the files disagree with each other.
    safe_pickle.UnsafePickleError, safe_pickle.CorruptFileError: a pickle is
      not a plain data file or is damaged.
  """
  data_dir = os.fspath(data_dir)
  if isinstance(num_val, bool) or not isinstance(num_val, int) or num_val < 0:
    raise ValueError(f"num_val must be a non-negative integer, got {num_val!r}")
  check_planetoid_dir(data_dir, name)
  try:
    return _read_planetoid(data_dir, name, num_val)
  except PlanetoidError as error:
    # The checks name files; the directory is added once, here.
    error.args = (f"{error.args[0]} (in {data_dir})",) + error.args[1:]
    raise


def _read_planetoid(data_dir: str, name: str, num_val: int) -> Graph:
  """`load_planetoid` once the arguments and files are known to be there."""

  def path(suffix: str) -> str:
    return os.path.join(data_dir, _file(name, suffix))

  x = _features(load_pickle(path("x")), _file(name, "x"))
  allx = _features(load_pickle(path("allx")), _file(name, "allx"))
  tx = _features(load_pickle(path("tx")), _file(name, "tx"))
  y = _one_hot(load_pickle(path("y")), _file(name, "y"))
  ally = _one_hot(load_pickle(path("ally")), _file(name, "ally"))
  ty = _one_hot(load_pickle(path("ty")), _file(name, "ty"))
  test_index = _read_test_index(path("test.index"), _file(name, "test.index"))

  for x_suffix, x_rows, y_suffix, y_rows in (
      ("x", x.shape[0], "y", y.shape[0]),
      ("allx", allx.shape[0], "ally", ally.shape[0]),
      ("tx", tx.shape[0], "ty", ty.shape[0])):
    _check_rows(_file(name, x_suffix), x_rows, _file(name, y_suffix), y_rows)
  _check_rows(_file(name, "tx"), tx.shape[0], _file(name, "test.index"),
              test_index.size)
  _check_columns("feature", {_file(name, s): m.shape for s, m in
                             (("x", x), ("allx", allx), ("tx", tx))})
  _check_columns("label", {_file(name, s): m.shape for s, m in
                           (("y", y), ("ally", ally), ("ty", ty))})

  num_train, num_before_test = y.shape[0], allx.shape[0]
  first_test = int(test_index.min())
  if first_test != num_before_test:
    # Kipf's reordering only works when the test ids start right after allx.
    raise PlanetoidError(
        f"{_file(name, 'test.index')}: the first test node is {first_test} but "
        f"{_file(name, 'allx')} has {num_before_test} rows; test nodes must be "
        f"numbered from {num_before_test}")
  if num_train + num_val > num_before_test:
    raise PlanetoidError(
        f"{_file(name, 'y')} has {num_train} training nodes and {num_val} "
        f"validation nodes follow them, but {_file(name, 'allx')} has only "
        f"{num_before_test} nodes before the test nodes")
  num_nodes = int(test_index.max()) + 1

  # Row k of tx goes to node test_index[k]; ids skipped by test.index stay
  # zero rows (and all-zero label rows, hence unlabelled).
  placement = sp.csr_matrix(
      (np.ones(test_index.size, dtype=np.float32),
       (test_index - num_before_test, np.arange(test_index.size))),
      shape=(num_nodes - num_before_test, test_index.size))
  features = sp.vstack([allx, placement @ tx], format="csr", dtype=np.float32)
  one_hot = np.zeros((num_nodes, y.shape[1]),
                     dtype=np.result_type(ally.dtype, ty.dtype))
  one_hot[:num_before_test] = ally
  one_hot[test_index] = ty
  labels = np.where(one_hot.any(axis=1), one_hot.argmax(axis=1), UNLABELED)
  unlabelled_train = np.flatnonzero(labels[:num_train] == UNLABELED)
  if unlabelled_train.size:
    raise PlanetoidError(
        f"{_file(name, 'ally')}: training nodes (the first {num_train}, as in "
        f"{_file(name, 'y')}) have all-zero label rows: "
        f"{format_ids(unlabelled_train)}")

  receivers, senders = _read_adjacency_lists(load_pickle(path("graph")),
                                             _file(name, "graph"))
  ids = np.concatenate([receivers, senders])
  bad = np.unique(ids[(ids < 0) | (ids >= num_nodes)])
  if bad.size:
    raise PlanetoidError(
        f"{_file(name, 'graph')}: names nodes that do not exist (ids must be "
        f"in [0, {num_nodes}) - {num_nodes} nodes from allx and tx): "
        f"{format_ids(bad)}")

  node_ids = np.arange(num_nodes)
  return Graph.from_edges(
      features=features, senders=senders, receivers=receivers, labels=labels,
      num_classes=y.shape[1], train_mask=node_ids < num_train,
      val_mask=(node_ids >= num_train) & (node_ids < num_train + num_val),
      test_mask=np.isin(node_ids, test_index),
      name=name).symmetrized().without_self_loops()


def planetoid_paths(data_dir: PathLike, name: str) -> Sequence[str]:
  """The eight file paths `load_planetoid` reads, in `PLANETOID_FILES` order."""
  return tuple(os.path.join(os.fspath(data_dir), _file(name, suffix))
               for suffix in PLANETOID_FILES)


def planetoid_fingerprint(data_dir: PathLike, name: str) -> str:
  """SHA-256 of the eight `ind.<name>.*` files, in `PLANETOID_FILES` order:
  tells whether a dataset prepared earlier was read from these files."""
  digest = hashlib.sha256()
  for path in planetoid_paths(data_dir, name):
    with open(path, "rb") as file:
      digest.update(hashlib.sha256(file.read()).digest())
  return digest.hexdigest()


__all__ = ["NUM_VAL", "PLANETOID_FILES", "PLANETOID_NAMES", "PlanetoidError",
           "PlanetoidFilesNotFoundError", "check_planetoid_dir",
           "load_planetoid", "planetoid_fingerprint", "planetoid_paths"]
