"""How a whole graph is stored in TFDS: one example per node.

Every builder of this package writes the same per-node record:

  node_id           int64 scalar, 0 .. num_nodes - 1
  features          float32 [num_features], the node's own features
  label             int64 scalar, the class or -1 (`UNLABELED`)
  neighbors         int64 [num_neighbors], ids of the nodes this node
                    aggregates from (row `node_id` of the adjacency matrix)
  neighbor_weights  float32 [num_neighbors], the weights of those edges

plus optional per-node fields a builder adds (e.g. `concepts`, the multi-hot
ground truth of the tag datasets). Each node is in exactly one split:
`train`, `validation`, `test` (the labelled splits of the benchmark) or
`unlabeled` (every other node, which transductive learning still needs; its
`label` is kept where the source knows it, for analysis only), so splits
never overlap and their union is the graph. Per-node records keep
`tfds.load(name, split="train")` natural, shard like any TFDS dataset and
let a graph of millions of nodes be written by Apache Beam workers; one
example holding a whole graph would hit the 2 GB record limit instead.

`graph_from_splits` turns the loaded splits back into a `Graph` (vectorised:
ragged batches, not a Python loop over nodes), and `load_node_table` does
`tfds.builder` + `download_and_prepare` + the reading in one call
(`gam_datasets.load_graph` is the way in that returns a `Graph`):

  >>> graph = gam_datasets.load_graph("planetoid/cora",
  ...                                 manual_dir="~/data/planetoid")
  >>> datasets = graph_models.training.node_datasets(graph, model, options)
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Dict, Iterator, Mapping, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp
import tensorflow as tf
import tensorflow_datasets as tfds

from graph_models.graph import UNLABELED, Graph, GraphError, format_ids

SPLITS = ("train", "validation", "test", "unlabeled")
# The Graph mask of each labelled split.
SPLIT_MASKS = {"train": "train_mask", "validation": "val_mask",
               "test": "test_mask"}
CORE_KEYS = ("node_id", "features", "label", "neighbors", "neighbor_weights")


def node_features(num_features: int,
                  extra: Optional[Mapping[str, tfds.features.FeatureConnector]]
                  = None) -> tfds.features.FeaturesDict:
  """The per-node `FeaturesDict`, with a builder's `extra` fields."""
  fields = {
      "node_id": tfds.features.Scalar(np.int64, doc="node index"),
      "features": tfds.features.Tensor(shape=(num_features,),
                                       dtype=np.float32),
      "label": tfds.features.Scalar(
          np.int64, doc=f"class index, {UNLABELED} when unknown"),
      "neighbors": tfds.features.Tensor(shape=(None,), dtype=np.int64),
      "neighbor_weights": tfds.features.Tensor(shape=(None,),
                                               dtype=np.float32),
  }
  clash = sorted(set(fields) & set(extra or {}))
  if clash:
    raise ValueError(f"extra fields {clash} clash with the core fields")
  fields.update(extra or {})
  return tfds.features.FeaturesDict(fields)


def split_nodes(graph: Graph) -> Dict[str, np.ndarray]:
  """Node ids of each split; `unlabeled` holds the nodes of no mask."""
  nodes = {split: np.flatnonzero(getattr(graph, mask))
           for split, mask in SPLIT_MASKS.items()}
  nodes["unlabeled"] = np.flatnonzero(
      ~(graph.train_mask | graph.val_mask | graph.test_mask))
  return nodes


def node_examples(graph: Graph, nodes: np.ndarray,
                  extra: Optional[Mapping[str, np.ndarray]] = None
                  ) -> Iterator[Tuple[int, Dict[str, Any]]]:
  """`(key, example)` for each of `nodes`, as `_generate_examples` yields.

  `extra` maps field names to per-node arrays (first axis = nodes).
  """
  adjacency = graph.adjacency
  features = graph.features
  for node in np.asarray(nodes, dtype=np.int64):
    start, stop = adjacency.indptr[node], adjacency.indptr[node + 1]
    row = features[node]
    example = {
        "node_id": node,
        "features": (row.toarray()[0] if sp.issparse(row) else row),
        "label": graph.labels[node],
        "neighbors": adjacency.indices[start:stop].astype(np.int64),
        "neighbor_weights": adjacency.data[start:stop],
    }
    for key, values in (extra or {}).items():
      example[key] = values[node]
    yield int(node), example


@dataclasses.dataclass(frozen=True)
class NodeTable:
  """The per-node records of all splits, in node-id order."""
  features: np.ndarray
  labels: np.ndarray
  adjacency: sp.csr_matrix
  split: np.ndarray  # index into SPLITS, per node
  extra: Dict[str, np.ndarray]

  def to_graph(self, num_classes: int, name: str = "graph") -> Graph:
    masks = {mask: self.split == SPLITS.index(split)
             for split, mask in SPLIT_MASKS.items()}
    return Graph(features=self.features, adjacency=self.adjacency,
                 labels=self.labels, num_classes=num_classes, name=name,
                 **masks)


def _read_split(dataset: tf.data.Dataset, split: str, keys: Sequence[str],
                batch_size: int) -> Dict[str, list]:
  columns: Dict[str, list] = {key: [] for key in (*CORE_KEYS, *keys)}
  columns["neighbor_counts"] = []
  missing = sorted(set(columns) - {"neighbor_counts"}
                   - set(dataset.element_spec))
  if missing:
    raise GraphError(f"split {split!r} has no field(s) {missing}; fields: "
                     f"{sorted(dataset.element_spec)}")
  selected = dataset.map(lambda example: {k: example[k] for k in columns
                                          if k != "neighbor_counts"})
  for batch in selected.ragged_batch(batch_size):
    for key in ("neighbors", "neighbor_weights"):
      ragged = batch.pop(key)
      if not isinstance(ragged, tf.RaggedTensor):  # rows of equal length
        ragged = tf.RaggedTensor.from_tensor(ragged)
      columns[key].append(ragged.flat_values.numpy())
      if key == "neighbors":
        columns["neighbor_counts"].append(ragged.row_lengths().numpy())
    for key, values in batch.items():
      columns[key].append(values.numpy())
  return columns


def read_node_table(splits: Mapping[str, tf.data.Dataset],
                    extra_keys: Sequence[str] = (),
                    batch_size: int = 4096) -> NodeTable:
  """Gathers per-node examples of every split into node-id order.

  Raises:
    GraphError: an unknown split name, a node id in two splits or twice,
      node ids that do not cover `0 .. N-1`, records of different widths.
  """
  unknown = sorted(set(splits) - set(SPLITS))
  if unknown:
    raise GraphError(f"unknown split(s) {unknown}; a graph's splits are "
                     f"{list(SPLITS)}")
  parts = {split: _read_split(dataset, split, extra_keys, batch_size)
           for split, dataset in splits.items()}

  def gather(key, split=None):
    chosen = [parts[split]] if split else parts.values()
    arrays = [a for columns in chosen for a in columns[key]]
    return np.concatenate(arrays) if arrays else np.zeros(0)

  node_ids = gather("node_id").astype(np.int64)
  split_of = np.concatenate([
      np.full(sum(len(a) for a in parts[s]["node_id"]), SPLITS.index(s))
      for s in parts]).astype(np.int64) if parts else np.zeros(0, np.int64)
  num_nodes = node_ids.size
  order = np.argsort(node_ids, kind="stable")
  sorted_ids = node_ids[order]
  repeated = np.unique(sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]])
  if repeated.size:
    where = sorted({SPLITS[s] for s in split_of[np.isin(node_ids, repeated)]})
    raise GraphError(f"node ids appear more than once (splits {where}): "
                     f"{format_ids(repeated)}")
  if num_nodes and (sorted_ids[0] != 0 or sorted_ids[-1] != num_nodes - 1):
    missing = np.setdiff1d(np.arange(max(int(sorted_ids[-1]) + 1, num_nodes)),
                           sorted_ids)
    raise GraphError(f"node ids must be 0 .. {num_nodes - 1} across the "
                     f"splits {sorted(parts)}; missing ids "
                     f"{format_ids(missing)}")

  features = gather("features")
  features = features.reshape(num_nodes, -1).astype(np.float32)[order]
  labels = gather("label").astype(np.int64)[order]
  counts = gather("neighbor_counts").astype(np.int64)
  neighbors = gather("neighbors").astype(np.int64)
  weights = gather("neighbor_weights").astype(np.float32)
  bad = np.flatnonzero((neighbors < 0) | (neighbors >= num_nodes))
  if bad.size:
    owners = np.repeat(node_ids, counts)[bad]
    raise GraphError(f"nodes {format_ids(np.unique(owners))} list neighbours "
                     f"that do not exist (ids outside [0, {num_nodes})): "
                     f"{format_ids(np.unique(neighbors[bad]))}")
  adjacency = sp.csr_matrix(
      (weights, (np.repeat(node_ids, counts), neighbors)),
      shape=(num_nodes, num_nodes), dtype=np.float32)
  extra = {key: gather(key)[order] for key in extra_keys}
  return NodeTable(features=features, labels=labels, adjacency=adjacency,
                   split=split_of[order], extra=extra)


def graph_from_splits(splits: Mapping[str, tf.data.Dataset], num_classes: int,
                      name: str = "graph") -> Graph:
  """The `Graph` held by per-node examples (e.g. what `tfds.load` returns).

  Example:
    >>> splits = tfds.load("flickr_cooccurrence/synthetic_small")
    >>> graph = graph_from_splits(splits, num_classes=7)
  """
  return read_node_table(splits).to_graph(num_classes, name)


def prepared_builder(name: str, data_dir: Optional[os.PathLike] = None,
                     manual_dir: Optional[os.PathLike] = None,
                     download: bool = True,
                     mode: Optional[tfds.download.GenerateMode] = None
                     ) -> tfds.core.DatasetBuilder:
  """`tfds.builder(name)`, prepared (built or read from `data_dir`).

  `download=False` reads what is there; a `mode` (e.g. `REUSE_CACHE_IF_EXISTS`
  to rebuild from changed manual files) prepares in any case.
  """
  import gam_datasets  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  builder = tfds.builder(name, data_dir=data_dir)
  if download or mode is not None:
    mode = mode or tfds.download.GenerateMode.REUSE_DATASET_IF_EXISTS
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(
        manual_dir=os.fspath(manual_dir) if manual_dir else None,
        download_mode=mode))
  return builder


def load_node_table(name: str, data_dir: Optional[os.PathLike] = None,
                    manual_dir: Optional[os.PathLike] = None,
                    download: bool = True,
                    extra_keys: Sequence[str] = (),
                    mode: Optional[tfds.download.GenerateMode] = None
                    ) -> Tuple[NodeTable, tfds.core.DatasetInfo]:
  """All per-node records of a registered graph dataset, and its info."""
  builder = prepared_builder(name, data_dir, manual_dir, download, mode)
  splits = {split: builder.as_dataset(split=split)
            for split in builder.info.splits}
  return read_node_table(splits, extra_keys), builder.info
