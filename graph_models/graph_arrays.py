"""A `Graph` kept as NumPy arrays in a folder, to be memory-mapped back.

For graphs too big to build again in every process (a Flickr-like graph of
10M nodes takes minutes and about twice its size in memory to generate):
`save_arrays` writes each of the graph's arrays to its own `.npy` file and
`load_arrays` maps them back with `numpy.load(mmap_mode="r")`, so the
features and the adjacency's index arrays are paged in from the files as
they are read, shared by every process on the machine, and never copied
into Python objects. The folder holds:

  graph.json                  name, num_classes, node and feature counts,
                              and whether features are sparse
  features.npy                float32 [nodes, features] (dense), or
  features_{data,indices,indptr}.npy   their CSR arrays (sparse)
  adjacency_{data,indices,indptr}.npy  the adjacency's sorted CSR arrays
  labels.npy, {train,val,test}_mask.npy

Example:
  >>> save_arrays(graph, "/data/flickr_10m")
  >>> graph = load_arrays("/data/flickr_10m")  # memory-mapped
"""

from __future__ import annotations

import json
import os
import pathlib

import numpy as np
import scipy.sparse as sp

from graph_models.errors import InputError
from graph_models.graph import Graph

_META = "graph.json"
_CSR_PARTS = ("data", "indices", "indptr")
_MASKS = ("train_mask", "val_mask", "test_mask")


def save_arrays(graph: Graph, directory: os.PathLike) -> pathlib.Path:
  """Writes `graph` to `directory` (created) as `.npy` files; returns it."""
  directory = pathlib.Path(directory)
  directory.mkdir(parents=True, exist_ok=True)
  # Removed first, written last: a folder without it is an interrupted save,
  # also when it held an earlier graph.
  (directory / _META).unlink(missing_ok=True)
  sparse = sp.issparse(graph.features)
  arrays = {"labels": graph.labels,
            **{mask: getattr(graph, mask) for mask in _MASKS},
            **_csr_arrays("adjacency", graph.adjacency)}
  if sparse:
    arrays.update(_csr_arrays("features", graph.features))
  else:
    arrays["features"] = graph.features
  for name, array in arrays.items():
    np.save(directory / f"{name}.npy", array)
  (directory / _META).write_text(json.dumps({
      "name": graph.name, "num_classes": graph.num_classes,
      "num_nodes": graph.num_nodes, "num_features": graph.num_features,
      "sparse_features": sparse}))
  return directory


def load_arrays(directory: os.PathLike, mmap_mode: str = "r") -> Graph:
  """The graph `save_arrays` wrote to `directory`, its arrays memory-mapped
  (`mmap_mode` as for `numpy.load`; None reads them into memory).

  Raises:
    InputError: naming the missing or malformed file.
  """
  directory = pathlib.Path(directory)
  meta = _read_meta(directory)
  n, num_features = meta["num_nodes"], meta["num_features"]

  def array(name):
    path = directory / f"{name}.npy"
    if not path.exists():
      raise InputError(f"{path}: missing; {directory} is not a complete "
                       "graph folder (see graph_arrays.save_arrays)")
    try:
      return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except ValueError as error:
      raise InputError(f"{path}: not a NumPy array file ({error})") from None

  def csr(prefix, shape):
    data, indices, indptr = (array(f"{prefix}_{part}") for part in _CSR_PARTS)
    if indptr.shape != (shape[0] + 1,) or indptr[-1] != data.size:
      raise InputError(f"{directory / (prefix + '_indptr.npy')}: expected "
                       f"{shape[0] + 1} row offsets ending at {data.size} "
                       f"entries, got shape {indptr.shape}")
    return sp.csr_matrix((data, indices, indptr), shape=shape, copy=False)

  features = (csr("features", (n, num_features)) if meta["sparse_features"]
              else array("features"))
  if features.shape != (n, num_features):
    raise InputError(f"{directory / 'features.npy'}: shape {features.shape}, "
                     f"expected ({n}, {num_features}) from {_META}")
  return Graph(features=features, adjacency=csr("adjacency", (n, n)),
               labels=array("labels"),
               num_classes=meta["num_classes"],
               **{mask: array(mask) for mask in _MASKS}, name=meta["name"])


def _csr_arrays(prefix: str, matrix: sp.spmatrix) -> dict:
  matrix = sp.csr_matrix(matrix)
  matrix.sort_indices()
  return {f"{prefix}_{part}": getattr(matrix, part) for part in _CSR_PARTS}


def _read_meta(directory: pathlib.Path) -> dict:
  path = directory / _META
  if not path.exists():
    raise InputError(f"{path}: missing; {directory} holds no graph saved by "
                     "graph_arrays.save_arrays (or its save was interrupted)")
  try:
    meta = json.loads(path.read_text())
    keys = ("name", "num_classes", "num_nodes", "num_features",
            "sparse_features")
    return {key: meta[key] for key in keys}
  except (ValueError, KeyError, TypeError) as error:
    raise InputError(f"{path}: malformed ({error!r})") from None
