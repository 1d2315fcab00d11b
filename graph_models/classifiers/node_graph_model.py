"""`NodeGraphModel`: the base of the node classifiers.

A node classifier receives either

* a *packed neighbourhood batch* (see `neighbor_packing.packed_dataset`): the
  centre nodes' features plus `NL_nbr_<i>_<feature>` / `NL_nbr_<i>_weight` for
  up to K neighbours. It becomes a batch of star graphs (K+1 nodes each, one
  edge per real neighbour into the centre; zero-weight padding slots get no
  edge), or
* a *whole graph* (see `neighbor_packing.whole_graph_inputs`): all node
  features, the edge list and the ids of the nodes whose outputs are wanted.

Either way it is turned into a Graph Nets `GraphsTuple`, the subclass's
`graph_call(graph)` updates the nodes, and the outputs of the centre / target
nodes are returned. Models that ignore edges (`uses_edges = False`, e.g. the
MLP) only ever see the target nodes.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Tuple

import tensorflow as tf
from graph_nets import graphs

from graph_models import nsl
from graph_models.distribution import DistributedModel
from graph_models.neighbor_packing import (EDGE_WEIGHTS, FEATURES, NODE_IDS,
                                           RECEIVERS, SENDERS)

_WEIGHT_KEY = re.compile(
    "^" + re.escape(nsl.NEIGHBOR_PREFIX) + r"(\d+)" +
    re.escape(nsl.NEIGHBOR_WEIGHT_SUFFIX) + "$")


def num_packed_neighbors(inputs: Dict[str, Any]) -> int:
  """How many neighbour slots a packed batch carries (0 for a bare batch)."""
  slots = sorted(int(m.group(1)) for m in map(_WEIGHT_KEY.match, inputs) if m)
  if slots != list(range(len(slots))):
    raise ValueError(f"packed neighbour slots must be numbered 0..K-1, got "
                     f"{slots}")
  return len(slots)


def is_whole_graph(inputs: Dict[str, Any]) -> bool:
  return SENDERS in inputs


def _as_float(features):
  """`features` as float32; a `tf.SparseTensor` keeps its static shape,
  which `tf.cast` would drop."""
  if features.dtype == tf.float32:
    return features
  cast = tf.cast(features, tf.float32)
  if isinstance(features, tf.SparseTensor):
    cast.set_shape(features.shape)
  return cast


def _num_rows(nodes) -> tf.Tensor:
  if isinstance(nodes, tf.SparseTensor):
    return tf.cast(nodes.dense_shape[0], tf.int32)
  return tf.shape(nodes)[0]


def _interleaved(rows: List[Any]) -> Any:
  """`[B, F]` tensors `rows[0..K]` as one `[B * (K + 1), F]` tensor whose row
  `b * (K + 1) + i` is `rows[i][b]`; sparse ones stay sparse (in canonical
  order, as `tf.sparse.concat` sorts)."""
  if not isinstance(rows[0], tf.SparseTensor):
    return tf.reshape(tf.stack(rows, axis=1), [-1, tf.shape(rows[0])[1]])
  stacked = tf.sparse.concat(1, [tf.sparse.expand_dims(r, 1) for r in rows])
  return tf.sparse.reshape(stacked, [-1, rows[0].shape[1]])


def _edgeless(nodes) -> graphs.GraphsTuple:
  count = _num_rows(nodes)
  empty = tf.zeros([0], tf.int32)
  return graphs.GraphsTuple(nodes=nodes, edges=tf.zeros([0, 1]),
                            senders=empty, receivers=empty, globals=None,
                            n_node=count[None], n_edge=tf.zeros([1], tf.int32))


def whole_graph_to_graphs_tuple(inputs: Dict[str, tf.Tensor],
                                uses_edges: bool = True
                                ) -> Tuple[graphs.GraphsTuple, tf.Tensor]:
  """`(graph, target node indices into graph.nodes)` for a whole-graph input.

  Sparse features (a `tf.SparseTensor`) stay sparse in `graph.nodes`, except
  for models that ignore edges, which gather their target rows densely."""
  node_ids = tf.cast(inputs[NODE_IDS], tf.int32)
  features = _as_float(inputs[FEATURES])
  if isinstance(features, tf.SparseTensor):
    num_nodes = tf.cast(features.dense_shape[0:1], tf.int32)
    if not uses_edges:
      features = tf.sparse.to_dense(features)
  else:
    num_nodes = tf.shape(features)[0:1]
  if not uses_edges:
    nodes = tf.gather(features, node_ids)
    return _edgeless(nodes), tf.range(tf.shape(nodes)[0])
  senders = tf.cast(inputs[SENDERS], tf.int32)
  weights = tf.cast(inputs[EDGE_WEIGHTS], tf.float32)
  graph = graphs.GraphsTuple(
      nodes=features, edges=weights[:, None], senders=senders,
      receivers=tf.cast(inputs[RECEIVERS], tf.int32), globals=None,
      n_node=num_nodes, n_edge=tf.shape(senders)[0:1])
  return graph, node_ids


def packed_to_graphs_tuple(inputs: Dict[str, tf.Tensor],
                           feature_name: str = FEATURES,
                           uses_edges: bool = True
                           ) -> Tuple[graphs.GraphsTuple, tf.Tensor]:
  """`(graph, centre node indices)` for a packed neighbourhood batch.

  Example b becomes graph b with nodes `[centre, nbr_0, ..., nbr_{K-1}]`
  (a `tf.SparseTensor` if the features are, see `neighbor_packer`) and
  an edge `nbr_i -> centre` of weight `NL_nbr_i_weight` for each neighbour
  with a positive weight. An empty slot (weight 0) keeps its edge, as a
  self-loop of weight 0 on its own zero node, so that every batch of B
  examples has B * (K + 1) nodes and B * K edges (static shapes for XLA and
  TPUs) while no centre receives anything from it.
  """
  centre = _as_float(inputs[feature_name])
  k = num_packed_neighbors(inputs) if uses_edges else 0
  if k == 0:
    return _edgeless(centre), tf.range(_num_rows(centre))
  batch = _num_rows(centre)
  nodes = _interleaved(
      [centre] + [_as_float(inputs[nsl.neighbor_feature_name(i, feature_name)])
                  for i in range(k)])
  weights = tf.concat([
      tf.reshape(tf.cast(inputs[nsl.neighbor_weight_name(i)], tf.float32),
                 [batch, 1]) for i in range(k)], axis=1)
  centres = tf.range(batch) * (k + 1)
  neighbour_index = centres[:, None] + 1 + tf.range(k)[None, :]
  receivers = tf.where(weights > 0, centres[:, None], neighbour_index)
  graph = graphs.GraphsTuple(
      nodes=nodes, edges=tf.reshape(weights, [batch * k, 1]),
      senders=tf.reshape(neighbour_index, [-1]),
      receivers=tf.reshape(receivers, [-1]), globals=None,
      n_node=tf.fill([batch], k + 1), n_edge=tf.fill([batch], k))
  return graph, centres


class NodeGraphModel(DistributedModel):
  """Base class: builds a `GraphsTuple` from the inputs, calls `graph_call`.

  Subclasses implement `graph_call(graph, training)` returning a graph whose
  nodes are the per-node outputs (e.g. logits), and set `uses_edges = False`
  if they classify each node from its own features only, or
  `accepts_sparse_features = True` if `graph_call` handles sparse node
  features (`graph.nodes` a `tf.SparseTensor`, see `sparse_ops`).

  Example:
    >>> class Linear(NodeGraphModel):
    ...   uses_edges = False
    ...   def __init__(self, num_classes, **kwargs):
    ...     super().__init__(**kwargs)
    ...     self.dense = keras.layers.Dense(num_classes)
    ...   def graph_call(self, graph, training=False):
    ...     return graph.replace(nodes=self.dense(graph.nodes))
  """

  uses_edges: bool = True
  # Whether `graph_call` takes `graph.nodes` as a `tf.SparseTensor` (inputs
  # whose features are sparse enough, see `whole_graph_inputs` and
  # `neighbor_packer`).
  accepts_sparse_features: bool = False

  def __init__(self, feature_name: str = FEATURES, **kwargs):
    super().__init__(**kwargs)
    if not feature_name or not isinstance(feature_name, str):
      raise ValueError(f"feature_name must be a non-empty string, got "
                       f"{feature_name!r}")
    self.feature_name = feature_name

  def to_graphs_tuple(self, inputs: Dict[str, tf.Tensor]
                      ) -> Tuple[graphs.GraphsTuple, tf.Tensor]:
    if not isinstance(inputs, dict):
      raise TypeError(
          f"{type(self).__name__} expects a dict of tensors (a packed "
          f"neighbourhood batch or a whole graph), got {type(inputs).__name__}")
    if is_whole_graph(inputs):
      return whole_graph_to_graphs_tuple(inputs, self.uses_edges)
    if self.feature_name not in inputs:
      raise KeyError(f"{type(self).__name__}: input has no feature "
                     f"{self.feature_name!r}; keys: {sorted(inputs)}")
    return packed_to_graphs_tuple(inputs, self.feature_name, self.uses_edges)

  def is_unsplittable(self, inputs: Dict[str, Any]) -> bool:
    return is_whole_graph(inputs)

  def call(self, inputs, training=False):
    graph, targets = self.to_graphs_tuple(inputs)
    return tf.gather(self.graph_call(graph, training=training).nodes, targets)

  def graph_call(self, graph: graphs.GraphsTuple,
                 training: bool = False) -> graphs.GraphsTuple:
    raise NotImplementedError(f"{type(self).__name__} must implement "
                              "graph_call(graph, training)")

  def build(self, input_shape):
    # Sub-layers get their shapes from a run on a one-node example; this is
    # what lets a loaded `.keras` model create its variables before weights
    # are restored.
    if not isinstance(input_shape, dict):
      raise TypeError(f"{type(self).__name__} expects dict inputs, got shape "
                      f"{input_shape!r}")

    def dummy(key, shape):
      shape = [1 if d is None else d for d in shape]
      if key in (NODE_IDS, SENDERS, RECEIVERS) or key.endswith("node_id"):
        return tf.zeros(shape, tf.int64)
      return tf.zeros(shape, tf.float32)
    self.call({k: dummy(k, s) for k, s in input_shape.items()})
    self.built = True

  def get_config(self):
    config = super().get_config()
    config["feature_name"] = self.feature_name
    return config
