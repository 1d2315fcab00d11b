"""NSL-style neighbour packing: each example is a node plus its neighbours.

A packed example holds the centre node's features under `feature_name`, its id
under `node_id`, and for each of up to `max_neighbors` neighbours
`NL_nbr_<i>_<feature_name>`, `NL_nbr_<i>_node_id` and `NL_nbr_<i>_weight`
(names from NSL's `GraphNeighborConfig`). Missing neighbours are zero
features with weight 0 and id -1, so every example has the same shapes;
`pad_remainder` pads the last batch with examples of id -1 (zero features,
no neighbours, sample weight 0), so every batch has the same shapes too, as
TPUs and XLA want, without changing a loss or a metric.

Only the neighbour table (`[nodes, max_neighbors]` ids and weights) is built
up front; features are gathered per batch inside the `tf.data` pipeline, so
the tensors a training step sees grow with the batch, not with the graph.

The whole-graph format (`whole_graph_dataset`) is the alternative for
full-batch models: one element holding all nodes and edges plus the ids of
the nodes whose outputs are wanted.
"""

from __future__ import annotations

import weakref
from typing import (Any, Callable, Dict, List, Optional, Sequence, Tuple,
                    Union)

import numpy as np
import scipy.sparse as sp
import tensorflow as tf

from graph_models import nsl
from graph_models.graph import Graph
from graph_models.label_table import labeled_rows

# Whole-graph inputs keep sparse features sparse up to this share of
# non-zero entries (Cora's bag of words: 1.3%): below it a sparse first layer
# and dropout over the non-zeros only are several times faster than dense
# ones (Cora, 128 units: 5 ms against 41 ms a step).
SPARSE_FEATURE_DENSITY = 0.1

NODE_ID = "node_id"
NODE_IDS = "node_ids"
FEATURES = "features"
SENDERS = "senders"
RECEIVERS = "receivers"
EDGE_WEIGHTS = "edge_weights"

# Above this many bytes as a dense float32 table, features are gathered row
# by row on the host (from a memory map, say) instead of being copied into
# a TensorFlow constant.
_DENSE_FEATURE_BUDGET = 1 << 30

# Rows of the neighbour table built at a time.
_TABLE_ROWS = 1 << 18

# Per graph, the tables its packers read, built once and shared by every
# packer of that graph (a GAM round builds three or four: training,
# validation, prediction, the agreement term); dropped with the graph.
_SHARED: "weakref.WeakKeyDictionary[Graph, Dict[Any, Any]]" = (
    weakref.WeakKeyDictionary())


def _shared(graph: Graph, key: Tuple[Any, ...], build: Callable[[], Any]):
  """`build()`, once per `graph` and `key` where tensors can outlive a
  call (eagerly: a traced function's tensors belong to its graph)."""
  if not tf.executing_eagerly():
    return build()
  tables = _SHARED.setdefault(graph, {})
  if key not in tables:
    tables[key] = build()
  return tables[key]


def checked_nodes(graph: Graph, nodes: Sequence[int]) -> np.ndarray:
  nodes = np.asarray(nodes, dtype=np.int64).ravel()
  if nodes.size == 0:
    raise ValueError(f"{graph.name}: no nodes given")
  bad = np.flatnonzero((nodes < 0) | (nodes >= graph.num_nodes))
  if bad.size:
    raise ValueError(f"{graph.name}: node ids outside [0, {graph.num_nodes}): "
                     f"{nodes[bad][:10].tolist()}")
  return nodes


def labels_of(graph: Graph, nodes: np.ndarray,
               labels: Optional[np.ndarray]) -> np.ndarray:
  """The label table to train on, checked to label every one of `nodes`.

  It has the shape of `graph.labels`: class ids, or multi-hot rows.
  """
  labels = graph.labels if labels is None else np.asarray(labels)
  if labels.shape != graph.labels.shape:
    raise ValueError(f"{graph.name}: labels have shape {labels.shape}, "
                     f"expected {graph.labels.shape}")
  missing = nodes[~labeled_rows(labels)[nodes]]
  if missing.size:
    raise ValueError(f"{graph.name}: nodes without a label cannot be "
                     f"training or evaluation examples: {missing[:10].tolist()}")
  return labels


def label_values(labels: np.ndarray) -> np.ndarray:
  """Labels as Keras' losses take them: int64 class ids, float32 multi-hot."""
  return labels.astype(np.float32 if labels.ndim == 2 else np.int64)


def neighbor_table(graph: Graph, max_neighbors: int) -> Tuple[np.ndarray,
                                                              np.ndarray]:
  """The `max_neighbors` heaviest neighbours of every node.

  Returns `(ids, weights)`, both `[num_nodes, max_neighbors]`; empty slots have
  id -1 and weight 0. Ties in weight keep the lower node id first, so the
  table is deterministic. Built `_TABLE_ROWS` rows at a time, so that its
  scratch arrays grow with a slice of the graph, not with all its edges.
  """
  if max_neighbors < 0:
    raise ValueError(f"max_neighbors must be >= 0, got {max_neighbors}")
  n = graph.num_nodes
  ids = np.full((n, max_neighbors), -1, dtype=np.int64)
  weights = np.zeros((n, max_neighbors), dtype=np.float32)
  if max_neighbors == 0 or graph.num_edges == 0:
    return ids, weights
  for start in range(0, n, _TABLE_ROWS):
    _fill_neighbor_rows(graph.adjacency, start, min(n, start + _TABLE_ROWS),
                        ids, weights)
  return ids, weights


def _fill_neighbor_rows(adjacency: sp.csr_matrix, start: int, stop: int,
                        ids: np.ndarray, weights: np.ndarray) -> None:
  """Rows `[start, stop)` of `neighbor_table`'s `ids` and `weights`."""
  indptr = np.asarray(adjacency.indptr[start:stop + 1], dtype=np.int64)
  senders = np.asarray(adjacency.indices[indptr[0]:indptr[-1]], np.int64)
  edge_weights = np.asarray(adjacency.data[indptr[0]:indptr[-1]])
  receivers = np.repeat(np.arange(start, stop), np.diff(indptr))
  # One int64 key per edge, (row, weight descending), sorted stably: the
  # CSR rows list senders by id, so ties keep the lower id first. Weights
  # are >= 0, whose float32 bits order as the weights do (+ 0.0: -0.0 to
  # 0.0). Three times faster than a lexsort of three keys.
  bits = (edge_weights.astype(np.float32) + np.float32(0.0)).view(np.uint32)
  key = (receivers - start) << 32
  key |= ~bits
  order = np.argsort(key, kind="stable")
  rank = np.arange(receivers.size) - (indptr[receivers - start] - indptr[0])
  slot = rank < ids.shape[1]
  keep, rank = order[slot], rank[slot]
  ids[receivers[keep], rank] = senders[keep]
  weights[receivers[keep], rank] = edge_weights[keep]


def keeps_features_sparse(graph: Graph) -> bool:
  """Whether `graph`'s features are stored sparse with at most
  `SPARSE_FEATURE_DENSITY` of their entries non-zero."""
  features = graph.features
  return (sp.issparse(features) and features.nnz
          <= SPARSE_FEATURE_DENSITY * features.shape[0] * features.shape[1])


def _canonical_csr(features: sp.spmatrix) -> sp.csr_matrix:
  """`features` as CSR with each row's columns sorted and summed once: a
  CSR matrix may hold them unsorted or repeated (Planetoid's do), and the
  model's products skip a sort when they are in canonical order."""
  csr = features.tocsr(copy=True)
  csr.sum_duplicates()
  return csr


def _sparse_row_gatherer(features: sp.spmatrix):
  """A function mapping a batch of node ids to their feature rows as a
  `tf.SparseTensor` in canonical order (an empty row for the id -1).

  Plain gathers over the CSR arrays and one ragged range, rather than
  gathers of `tf.RaggedTensor` rows: `tf.data` instantiates the packing
  function for every iterator (every epoch under `fit`), and each ragged
  gather adds a dozen ops to it.
  """
  csr = _canonical_csr(features)
  num_nodes, num_features = csr.shape
  # Row `num_nodes`, added empty, is what the id -1 reads.
  row_starts = tf.constant(np.append(csr.indptr, csr.indptr[-1]), tf.int64)
  columns = tf.constant(csr.indices, tf.int64)
  values = tf.constant(csr.data, tf.float32)

  def gather(ids):
    rows = tf.where(ids < 0, tf.constant(num_nodes, ids.dtype), ids)
    entries = tf.ragged.range(tf.gather(row_starts, rows),
                              tf.gather(row_starts, rows + 1))
    sparse = tf.SparseTensor(
        tf.stack([entries.value_rowids(),
                  tf.gather(columns, entries.flat_values)], axis=1),
        tf.gather(values, entries.flat_values),
        tf.stack([tf.size(ids, out_type=tf.int64), num_features]))
    sparse.set_shape([None, num_features])
    return sparse
  return gather


def _feature_gatherer(features, sparse: bool = False):
  """A function mapping a batch of node ids to their feature rows (zeros
  for the id -1): a `tf.SparseTensor` if `sparse`, else dense."""
  if sparse:
    return _sparse_row_gatherer(features)
  num_features = features.shape[1]
  if features.shape[0] * num_features * 4 <= _DENSE_FEATURE_BUDGET:
    table = tf.constant(features.toarray() if sp.issparse(features) else
                        features, dtype=tf.float32)
    return lambda ids: tf.where((ids >= 0)[:, None],
                                tf.gather(table, tf.maximum(ids, 0)), 0.0)
  if sp.issparse(features):
    features = features.tocsr()

  def gather_rows(ids):
    rows = features[np.maximum(ids, 0)]
    rows = np.asarray(rows.toarray() if sp.issparse(rows) else rows,
                      dtype=np.float32)
    rows[ids < 0] = 0.0
    return rows

  def gather(ids):
    rows = tf.numpy_function(gather_rows, [ids], tf.float32, stateful=False)
    return tf.ensure_shape(rows, [None, num_features])
  return gather


def rows_of(tensor, start, stop=None):
  """`tensor[start:stop]` along axis 0, for a `tf.SparseTensor` of packed
  features too (which has no slicing operator); `stop` None: to the end."""
  if not isinstance(tensor, tf.SparseTensor):
    return tensor[start:stop]
  stop = tensor.dense_shape[0] if stop is None else tf.cast(stop, tf.int64)
  start = tf.cast(start, tf.int64)
  rows = tf.sparse.slice(tensor, tf.stack([start, 0]),
                         tf.stack([stop - start, tensor.dense_shape[1]]))
  rows.set_shape([None, tensor.shape[1]])
  return rows


def _split_rows(rows, count: int) -> List[Any]:
  """`rows` cut along axis 0 into `count` equal parts (sparse ones too)."""
  if not isinstance(rows, tf.SparseTensor):
    return tf.split(rows, count, axis=0)
  size = rows.dense_shape[0] // count
  return [rows_of(rows, i * size, (i + 1) * size) for i in range(count)]


def neighbor_packer(graph: Graph, max_neighbors: int,
                    feature_name: str = FEATURES,
                    sparse_features: bool = False
                    ) -> Callable[[tf.Tensor], Dict[str, tf.Tensor]]:
  """A `tf.data`-friendly function: a `[B]` batch of node ids -> packed batch.

  The packed batch holds `node_id`, the nodes' features under `feature_name`
  and, for each of `max_neighbors` slots, the `NL_nbr_<i>_*` tensors. The id
  -1 (padding) packs zero features and no neighbours. With
  `sparse_features`, sparse enough features (`keeps_features_sparse`) are
  packed as `tf.SparseTensor`s, for models whose `accepts_sparse_features`
  is true.
  """
  ids_table, weight_table = _shared(
      graph, ("neighbors", max_neighbors),
      lambda: tuple(map(tf.constant, neighbor_table(graph, max_neighbors))))
  sparse = sparse_features and keeps_features_sparse(graph)
  gather = _shared(graph, ("features", sparse),
                   lambda: _feature_gatherer(graph.features, sparse))

  def pack(ids):
    real = (ids >= 0)[:, None]
    nbr_ids = tf.where(real, tf.gather(ids_table, tf.maximum(ids, 0)), -1)
    nbr_weights = tf.where(real, tf.gather(weight_table, tf.maximum(ids, 0)),
                           0.0)
    # One gather for the centres and every slot: fewer ops for `tf.data`
    # to instantiate per iterator.
    rows = _split_rows(gather(tf.reshape(tf.transpose(tf.concat(
        [ids[:, None], nbr_ids], axis=1)), [-1])), max_neighbors + 1)
    example = {NODE_ID: ids, feature_name: rows[0]}
    for i in range(max_neighbors):
      example[nsl.neighbor_feature_name(i, NODE_ID)] = nbr_ids[:, i]
      example[nsl.neighbor_feature_name(i, feature_name)] = rows[i + 1]
      example[nsl.neighbor_weight_name(i)] = nbr_weights[:, i:i + 1]
    return example
  return pack


def node_id_batches(nodes: np.ndarray, batch_size: int, shuffle: bool,
                    seed: int, repeat: bool, drop_remainder: bool,
                    pad_remainder: bool = False) -> tf.data.Dataset:
  """Batches of node ids, optionally reshuffled every epoch and repeated;
  `pad_remainder` fills the last batch up with the id -1."""
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  if drop_remainder and pad_remainder:
    raise ValueError("drop_remainder and pad_remainder exclude each other")
  dataset = tf.data.Dataset.from_tensor_slices(nodes)
  if shuffle:
    dataset = dataset.shuffle(nodes.size, seed=seed,
                              reshuffle_each_iteration=True)
  if repeat:
    dataset = dataset.repeat()
  dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
  if pad_remainder:
    dataset = dataset.map(lambda ids: tf.ensure_shape(tf.pad(
        ids, [[0, batch_size - tf.shape(ids)[0]]], constant_values=-1),
                                                      [batch_size]))
  return dataset


def packed_dataset(graph: Graph,
                   nodes: Sequence[int],
                   max_neighbors: int,
                   batch_size: int,
                   labels: Optional[np.ndarray] = None,
                   shuffle: bool = False,
                   seed: int = 0,
                   repeat: bool = False,
                   feature_name: str = FEATURES,
                   drop_remainder: bool = False,
                   pad_remainder: bool = False,
                   sparse_features: bool = False) -> tf.data.Dataset:
  """Batches of packed neighbourhoods of `nodes`, with their labels.

  Args:
    graph: the graph to read features and edges from.
    nodes: ids of the centre nodes, one example each.
    max_neighbors: neighbours packed per node (heaviest edges first).
    batch_size: examples per batch.
    labels: per-node label table to pair with the examples (defaults to
      `graph.labels`; self-training passes its grown label set).
    shuffle: reshuffle the nodes every epoch (seeded).
    seed: shuffling seed.
    repeat: repeat forever (for `steps_per_epoch` training).
    feature_name: the name of the node feature in the packed example.
    drop_remainder: drop the last partial batch (static batch shapes).
    pad_remainder: pad the last batch with empty examples of sample weight 0
      instead (static batch shapes, every node kept).
    sparse_features: pack sparse enough features as `tf.SparseTensor`s
      (see `neighbor_packer`).

  Returns:
    A `tf.data.Dataset` of `(features_dict, labels)`, or of
    `(features_dict, labels, sample_weights)` with `pad_remainder`: 0 for
    the padding and `batch_size / nodes in the batch` for the nodes, so
    that a loss averaged over the padded batch (Keras' default reduction,
    also per replica under `tf.distribute`) is the mean over its nodes.
    Keras applies sample weights to `weighted_metrics` only: compile
    metrics there, or the padding counts in them.

  Example:
    >>> ds = packed_dataset(graph, graph.split_nodes("train"), max_neighbors=2,
    ...                     batch_size=32, shuffle=True)
  """
  nodes = checked_nodes(graph, nodes)
  labels = labels_of(graph, nodes, labels)
  label_table = tf.constant(label_values(labels))
  pack = neighbor_packer(graph, max_neighbors, feature_name, sparse_features)
  dataset = node_id_batches(nodes, batch_size, shuffle, seed, repeat,
                            drop_remainder, pad_remainder)

  def example(ids):
    labels = tf.gather(label_table, tf.maximum(ids, 0))
    if not pad_remainder:
      return pack(ids), labels
    real = tf.cast(ids >= 0, tf.float32)
    return pack(ids), labels, real * (batch_size / tf.reduce_sum(real))
  dataset = dataset.map(example, num_parallel_calls=tf.data.AUTOTUNE,
                        deterministic=True)
  return dataset.prefetch(tf.data.AUTOTUNE)


def feature_tensor(graph: Graph, sparse: bool = False
                   ) -> Union[tf.Tensor, tf.SparseTensor]:
  """All node features, float32: a `tf.SparseTensor` (canonical order: by row, then column) if
  `sparse` and `keeps_features_sparse(graph)`, else a dense tensor."""
  if not (sparse and keeps_features_sparse(graph)):
    return tf.constant(graph.dense_features(), dtype=tf.float32)
  coo = _canonical_csr(graph.features).tocoo()  # by row, then column
  return tf.SparseTensor(
      np.stack([coo.row, coo.col], axis=1).astype(np.int64),
      coo.data.astype(np.float32), coo.shape)


def whole_graph_inputs(graph: Graph, nodes: Sequence[int],
                       sparse_features: bool = False
                       ) -> Dict[str, Union[tf.Tensor, tf.SparseTensor]]:
  """The whole-graph input dict: all features and edges, outputs for `nodes`.

  With `sparse_features`, sparse enough features enter as a
  `tf.SparseTensor` (`feature_tensor`); only models whose
  `accepts_sparse_features` is true take them.
  """
  nodes = checked_nodes(graph, nodes)
  senders, receivers, weights = graph.edges()
  return {
      NODE_IDS: tf.constant(nodes),
      FEATURES: feature_tensor(graph, sparse_features),
      SENDERS: tf.constant(senders),
      RECEIVERS: tf.constant(receivers),
      EDGE_WEIGHTS: tf.constant(weights),
  }


def whole_graph_dataset(graph: Graph, nodes: Sequence[int],
                        labels: Optional[np.ndarray] = None,
                        sparse_features: bool = False) -> tf.data.Dataset:
  """A one-element dataset for full-batch training or evaluation on `nodes`
  (`sparse_features` as in `whole_graph_inputs`)."""
  nodes = checked_nodes(graph, nodes)
  labels = labels_of(graph, nodes, labels)
  return tf.data.Dataset.from_tensors(
      (whole_graph_inputs(graph, nodes, sparse_features),
       tf.constant(label_values(labels[nodes]))))
