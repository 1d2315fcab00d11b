"""Reads graphs stored in the GraphSAINT file format, such as Flickr.

GraphSAINT (Zeng et al., "GraphSAINT: Graph Sampling Based Inductive Learning
Method", ICLR 2020) ships each dataset as a directory of four files:

  adj_full.npz    the whole graph: a symmetric N x N scipy CSR matrix written
                  by `scipy.sparse.save_npz`.
  feats.npy       node features, a float N x F array.
  class_map.json  `{"<node id>": class}`: one integer class per node (the
                  multi-label datasets give a list of 0/1 instead).
  role.json       `{"tr": [ids], "va": [ids], "te": [ids]}`: the training,
                  validation and test nodes.

Flickr has 89,250 images as nodes, 899,756 entries in `adj_full.npz` (each
undirected edge is stored in both directions), 500 features and 7 classes.
The paper's test F1-micro on Flickr: GCN 0.492, GraphSAGE 0.501, ClusterGCN
0.481, GraphSAINT 0.511. With one predicted class per node F1-micro equals
accuracy.

Every file is read without unpickling (`gam_datasets.safe_pickle`), and any
inconsistency raises an error naming the file and the first offending ids.

Example:
  >>> graph = read_graphsaint("manual/graphsaint", name="flickr")
  ... # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import re
from typing import Dict, List, Sequence, Union

import numpy as np

from graph_models.graph import Graph, format_ids
from gam_datasets.safe_pickle import (CorruptFileError, DataFileError,
                                      load_npy, load_npz)

PathLike = Union[str, "os.PathLike[str]"]

GRAPHSAINT_FILES = ("adj_full.npz", "feats.npy", "class_map.json", "role.json")

# Keys of role.json and the split each one names.
ROLES = {"tr": "training", "va": "validation", "te": "test"}

# The files of the `flickr` folder of GraphSAINT's Google Drive, by the ids
# that PyTorch Geometric's `Flickr` dataset downloads.
FLICKR_GOOGLE_DRIVE_IDS = {
    "adj_full.npz": "1crmsTbd1-2sEXsGwa2IKnIB7Zd3TmUsy",
    "feats.npy": "1join-XdvX3anJU_MLVtick7MgeAQiWIZ",
    "class_map.json": "1uxIkbtg5drHTsKt-PAsZZ4_yJmgFmle9",
    "role.json": "1htXCtuktuCW8TR8KiKfrFDAxUgekQoV7",
}

# The folder of the manual download directory that holds the four files.
MANUAL_SUBDIRECTORY = "graphsaint"

GRAPHSAINT_REPOSITORY = "https://github.com/GraphSAINT/GraphSAINT"


def graphsaint_download_urls() -> Dict[str, str]:
  """Direct Google Drive download URLs of the Flickr files, by file name."""
  return {name: f"https://drive.google.com/uc?export=download&id={file_id}"
          for name, file_id in FLICKR_GOOGLE_DRIVE_IDS.items()}


MANUAL_DOWNLOAD_INSTRUCTIONS = (
    "Download the four GraphSAINT Flickr files "
    f"{', '.join(GRAPHSAINT_FILES)} from the `flickr` folder of the "
    f"GraphSAINT Google Drive (linked from {GRAPHSAINT_REPOSITORY}) and put "
    f"them into `<manual_dir>/{MANUAL_SUBDIRECTORY}/` (by default "
    f"~/tensorflow_datasets/downloads/manual/{MANUAL_SUBDIRECTORY}/). Direct "
    "links: " + ", ".join(f"{name}: {url}" for name, url in
                         graphsaint_download_urls().items()) + ".")


class GraphSAINTFilesNotFoundError(FileNotFoundError):
  """The data directory or some of the GraphSAINT files are missing."""


class GraphSAINTFileError(DataFileError):
  """A GraphSAINT file is malformed or disagrees with the others.

  The message names the file and the first offending node ids.
  """


def _first_keys(keys: Sequence[str], limit: int = 10) -> str:
  """Like `format_ids`, for keys that are not integers."""
  shown = ", ".join(repr(key) for key in keys[:limit])
  more = f" (and {len(keys) - limit} more)" if len(keys) > limit else ""
  return f"[{shown}]{more}"


def _check_files(directory: str) -> None:
  if not os.path.isdir(directory):
    raise GraphSAINTFilesNotFoundError(
        f"GraphSAINT data directory {directory} does not exist (expected the "
        f"files {', '.join(GRAPHSAINT_FILES)} in it). "
        f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")
  missing = [name for name in GRAPHSAINT_FILES
             if not os.path.isfile(os.path.join(directory, name))]
  if missing:
    raise GraphSAINTFilesNotFoundError(
        f"{directory} lacks the GraphSAINT file(s) {', '.join(missing)}. "
        f"{MANUAL_DOWNLOAD_INSTRUCTIONS}")


# adj_full.npz -----------------------------------------------------------------


def _require_arrays(arrays: Dict[str, np.ndarray], names: Sequence[str],
                    source: str) -> None:
  missing = [name for name in names if name not in arrays]
  if missing:
    raise GraphSAINTFileError(
        f"{source}: lacks the array(s) {', '.join(missing)}; expected a CSR "
        "matrix written by scipy.sparse.save_npz")


def _matrix_format(value: np.ndarray) -> str:
  # scipy writes the format as bytes; a str is what older writers left.
  value = value.item() if value.shape == () else value
  return value.decode("ascii", "replace") if isinstance(value, bytes) else (
      str(value))


def _num_nodes(shape: np.ndarray, source: str) -> int:
  if shape.shape != (2,) or shape.dtype.kind not in "iu":
    raise GraphSAINTFileError(f"{source}: the matrix shape is "
                              f"{shape.tolist()}; expected two integers")
  rows, columns = (int(size) for size in shape)
  if rows != columns or rows < 0:
    raise GraphSAINTFileError(
        f"{source}: the adjacency matrix is {rows} x {columns}; expected a "
        "square N x N matrix (one row and one column per node)")
  return rows


def _check_csr_structure(data: np.ndarray, indices: np.ndarray,
                         indptr: np.ndarray, num_nodes: int,
                         source: str) -> None:
  for name, array in (("data", data), ("indices", indices),
                      ("indptr", indptr)):
    if array.ndim != 1:
      raise GraphSAINTFileError(f"{source}: `{name}` has shape {array.shape}; "
                                "expected a 1-D array")
  if indices.dtype.kind not in "iu" or indptr.dtype.kind not in "iu":
    raise GraphSAINTFileError(
        f"{source}: `indices` and `indptr` must be integers, got dtypes "
        f"{indices.dtype} and {indptr.dtype}")
  if data.dtype.kind not in "biuf":
    raise GraphSAINTFileError(f"{source}: edge weights (`data`) must be "
                              f"numeric, got dtype {data.dtype}")
  if (indptr.size != num_nodes + 1 or indptr[0] != 0
      or (np.diff(indptr) < 0).any() or indptr[-1] != indices.size
      or data.size != indices.size):
    raise GraphSAINTFileError(
        f"{source}: corrupt CSR structure: `indptr` must hold {num_nodes + 1} "
        f"non-decreasing offsets from 0 to the {indices.size} entries of "
        f"`indices` (it holds {indptr.size}) and `data` one weight per entry "
        f"(it holds {data.size})")


def _check_entries(data: np.ndarray, indices: np.ndarray, rows: np.ndarray,
                   num_nodes: int, source: str) -> None:
  outside = (indices < 0) | (indices >= num_nodes)
  if outside.any():
    raise GraphSAINTFileError(
        f"{source}: rows {format_ids(np.unique(rows[outside]))} name columns "
        f"outside [0, {num_nodes}): {format_ids(indices[outside])}")
  bad = ~np.isfinite(data) | (data < 0)
  if bad.any():
    raise GraphSAINTFileError(
        f"{source}: edge weights must be finite and >= 0; rows "
        f"{format_ids(np.unique(rows[bad]))} hold {data[bad][:10].tolist()}")


def _read_adjacency(path: str):
  """Returns (num_nodes, receivers, senders, weights) of `adj_full.npz`."""
  arrays = load_npz(path)
  _require_arrays(arrays, ("format", "shape"), path)
  matrix_format = _matrix_format(arrays["format"])
  if matrix_format != "csr":
    raise GraphSAINTFileError(
        f"{path}: holds a {matrix_format!r} sparse matrix; expected CSR, as "
        "GraphSAINT writes adj_full.npz")
  _require_arrays(arrays, ("data", "indices", "indptr"), path)
  num_nodes = _num_nodes(arrays["shape"], path)
  data, indices, indptr = arrays["data"], arrays["indices"], arrays["indptr"]
  _check_csr_structure(data, indices, indptr, num_nodes, path)
  rows = np.repeat(np.arange(num_nodes, dtype=np.int64), np.diff(indptr))
  _check_entries(data, indices, rows, num_nodes, path)
  # A stored zero is no edge.
  edge = data != 0
  return num_nodes, rows[edge], indices[edge].astype(np.int64), data[edge]


# feats.npy --------------------------------------------------------------------


def _read_features(path: str, num_nodes: int) -> np.ndarray:
  features = load_npy(path)
  if features.ndim != 2:
    raise GraphSAINTFileError(f"{path}: has shape {features.shape}; expected "
                              "a 2-D [nodes, features] array")
  if features.shape[0] != num_nodes:
    raise GraphSAINTFileError(
        f"{path}: has {features.shape[0]} rows but adj_full.npz has "
        f"{num_nodes} nodes; expected one row per node")
  if features.dtype.kind not in "biuf":
    raise GraphSAINTFileError(f"{path}: features must be numeric, got dtype "
                              f"{features.dtype}")
  bad_rows = np.flatnonzero(~np.isfinite(features).all(axis=1))
  if bad_rows.size:
    raise GraphSAINTFileError(f"{path}: NaN or inf features in rows "
                              f"{format_ids(bad_rows)}")
  return features.astype(np.float32)


# JSON files -------------------------------------------------------------------


def _read_json(path: str) -> object:
  try:
    with open(path, encoding="utf-8") as file:
      return json.load(file)
  except (ValueError, RecursionError) as error:
    # JSONDecodeError and UnicodeDecodeError are both ValueErrors.
    raise CorruptFileError(f"{path}: not valid JSON ({error})") from error


def _require_dict(value: object, path: str, expected: str) -> dict:
  if not isinstance(value, dict):
    raise GraphSAINTFileError(f"{path}: holds a JSON {type(value).__name__}; "
                              f"expected an object {expected}")
  return value


def _check_node_ids(ids: List[int], num_nodes: int, path: str,
                    what: str) -> None:
  # Checked on Python ints: an id past int64 must not overflow numpy first.
  outside = [node for node in ids if not 0 <= node < num_nodes]
  if outside:
    raise GraphSAINTFileError(
        f"{path}: {what} name nodes outside the graph (ids must be in [0, "
        f"{num_nodes}), the nodes of adj_full.npz): {format_ids(outside)}")


# class_map.json ---------------------------------------------------------------

_NODE_KEY = re.compile(r"-?[0-9]+")


def _class_map_ids(keys: List[str], num_nodes: int, path: str) -> np.ndarray:
  not_ids = [key for key in keys if not _NODE_KEY.fullmatch(key)]
  if not_ids:
    raise GraphSAINTFileError(f"{path}: keys must be integer node ids, got "
                              f"{_first_keys(not_ids)}")
  ids = [int(key) for key in keys]
  _check_node_ids(ids, num_nodes, path, "keys")
  nodes, counts = np.unique(np.asarray(ids, dtype=np.int64),
                            return_counts=True)
  if (counts > 1).any():
    # "7" and "07" name the same node.
    raise GraphSAINTFileError(f"{path}: nodes listed more than once: "
                              f"{format_ids(nodes[counts > 1])}")
  missing = np.setdiff1d(np.arange(num_nodes), nodes)
  if missing.size:
    raise GraphSAINTFileError(f"{path}: no class for nodes "
                              f"{format_ids(missing)}; every node needs one")
  return np.asarray(ids, dtype=np.int64)


def _class_map_labels(ids: np.ndarray, classes: list, path: str) -> np.ndarray:
  multi_label = [i for i, c in zip(ids, classes) if isinstance(c, list)]
  if multi_label:
    raise GraphSAINTFileError(
        f"{path}: nodes {format_ids(multi_label)} have a list of labels; "
        "multi-label class maps are not supported by this config (it reads "
        "single-label datasets such as Flickr, with one integer class per "
        "node)")
  # bool is an int subclass, but `true` is no class.
  not_int = [i for i, c in zip(ids, classes) if type(c) is not int]
  if not_int:
    raise GraphSAINTFileError(f"{path}: the classes of nodes "
                              f"{format_ids(not_int)} are not integers")
  negative = [i for i, c in zip(ids, classes) if c < 0]
  if negative:
    raise GraphSAINTFileError(f"{path}: negative classes at nodes "
                              f"{format_ids(negative)}")
  labels = np.empty(ids.size, dtype=np.int64)
  labels[ids] = classes
  return labels


def _read_labels(path: str, num_nodes: int) -> np.ndarray:
  class_map = _require_dict(_read_json(path), path,
                            '{"<node id>": class, ...}')
  ids = _class_map_ids(list(class_map), num_nodes, path)
  return _class_map_labels(ids, list(class_map.values()), path)


# role.json --------------------------------------------------------------------


def _split_ids(role: dict, key: str, num_nodes: int, path: str) -> List[int]:
  ids = role[key]
  if not isinstance(ids, list):
    raise GraphSAINTFileError(f"{path}: {key!r} holds a JSON "
                              f"{type(ids).__name__}; expected a list of "
                              "node ids")
  not_int = [i for i in ids if type(i) is not int]
  if not_int:
    raise GraphSAINTFileError(f"{path}: {key!r} holds values that are not "
                              f"integer node ids: {not_int[:10]}")
  _check_node_ids(ids, num_nodes, path, f"the {ROLES[key]} ids ({key!r})")
  return ids


def _read_masks(path: str, num_nodes: int) -> Dict[str, np.ndarray]:
  """Returns a boolean node mask per key of `ROLES`."""
  role = _require_dict(_read_json(path), path,
                       '{"tr": [ids], "va": [ids], "te": [ids]}')
  missing = [key for key in ROLES if key not in role]
  if missing:
    raise GraphSAINTFileError(
        f"{path}: lacks the key(s) {', '.join(map(repr, missing))}; expected "
        "'tr', 'va' and 'te' listing the training, validation and test nodes")
  masks = {}
  for key in ROLES:
    masks[key] = np.zeros(num_nodes, dtype=bool)
    masks[key][_split_ids(role, key, num_nodes, path)] = True
  for first, second in (("tr", "va"), ("tr", "te"), ("va", "te")):
    both = np.flatnonzero(masks[first] & masks[second])
    if both.size:
      raise GraphSAINTFileError(
          f"{path}: nodes are in both {first!r} ({ROLES[first]}) and "
          f"{second!r} ({ROLES[second]}): {format_ids(both)}")
  return masks


def read_graphsaint(directory: PathLike, name: str = "graphsaint") -> Graph:
  """Reads the four GraphSAINT files of `directory` into a `Graph`.

  Edges keep the weights of `adj_full.npz`. GraphSAINT's matrix is
  symmetric; one that is not is made symmetric (a pair stored both ways
  keeps the larger weight), since GraphSAINT's graphs are undirected.
  Self-loops are dropped: the models add their own
  (`Graph.with_self_loops`). Every node is labelled; `num_classes` is the
  largest class + 1.

  Args:
    directory: holds `GRAPHSAINT_FILES`.
    name: the graph's name, e.g. "flickr".

  Raises:
    GraphSAINTFilesNotFoundError: the directory or some files are missing.
    GraphSAINTFileError: a file is malformed or disagrees with the others.
    safe_pickle.CorruptFileError: a file is truncated or not in its format.
    safe_pickle.DataFileError: a `.npy` array holds pickled Python objects.
  """
  directory = os.fspath(directory)
  _check_files(directory)
  adj_path, feats_path, class_map_path, role_path = (
      os.path.join(directory, file_name) for file_name in GRAPHSAINT_FILES)
  num_nodes, receivers, senders, weights = _read_adjacency(adj_path)
  features = _read_features(feats_path, num_nodes)
  labels = _read_labels(class_map_path, num_nodes)
  masks = _read_masks(role_path, num_nodes)
  return Graph.from_edges(
      features=features, senders=senders, receivers=receivers,
      weights=weights, labels=labels,
      num_classes=int(labels.max(initial=0)) + 1, train_mask=masks["tr"],
      val_mask=masks["va"], test_mask=masks["te"],
      name=name).symmetrized().without_self_loops()


__all__ = ["FLICKR_GOOGLE_DRIVE_IDS", "GRAPHSAINT_FILES",
           "GRAPHSAINT_REPOSITORY", "GraphSAINTFileError",
           "GraphSAINTFilesNotFoundError", "MANUAL_DOWNLOAD_INSTRUCTIONS",
           "MANUAL_SUBDIRECTORY", "ROLES", "graphsaint_download_urls",
           "read_graphsaint"]
