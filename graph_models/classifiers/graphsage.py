"""`GraphSAGENodeClassifier`: GraphSAGE with the mean aggregator (Hamilton,
Ying & Leskovec, NeurIPS 2017), the "GraphSage" model of the Flickr
missing-feature study.

Each layer k computes Algorithm 1 of the paper (lines 4-5, 7) with the MEAN
aggregator:

  h_v^k = act(W^k [h_v^{k-1} || mean_{u in N(v)} h_u^{k-1}]),
  h_v^k = h_v^k / ||h_v^k||_2  (hidden layers, `normalize=True`),

and the last layer, without activation or normalisation, gives the logits.
Sparse features stay sparse through the first dropout and product
(`sparse_ops`): W [x_v || mean x_u] = W_self x_v + mean W_neigh x_u, so
the first layer multiplies the sparse rows by both halves of W at once and
averages the neighbour half afterwards.

N(v) is the set of v's in-neighbours over edges of positive weight; the
weight selects a neighbour but does not scale its state (an unweighted mean
as in the paper), and a node without neighbours aggregates zeros.

The means are segment means of the senders' states over the receivers of a
Graph Nets `GraphsTuple`, so the same code runs on a whole graph
(`whole_graph_inputs`: every node's full neighbourhood, the full-batch
variant) and on a packed batch (`packed_dataset`: star graphs). On a packed
batch the sampled neighbourhood of the paper is the K packed neighbours
(heaviest edges first, not uniformly sampled), and neighbours have no
neighbours of their own: their hidden states come from their own features
only, so however many layers, a centre sees its 1-hop neighbourhood (with 2
layers, h_u^1 = W^1 [x_u || 0] for its neighbours u).
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from graph_nets import graphs

from graph_models.classifiers.node_classifier import NodeClassifier
from graph_models.classifiers.sparse_ops import dropout, sparse_product


def neighbor_means(graph: graphs.GraphsTuple, states: tf.Tensor) -> tf.Tensor:
  """`[nodes, D]`: each node's mean of `states` over its in-neighbours
  (positive-weight edges into it), 0 for a node without any."""
  real = tf.cast(tf.reshape(graph.edges, [-1]) > 0, states.dtype)
  num_nodes = tf.shape(states)[0]
  counts = tf.math.unsorted_segment_sum(real, graph.receivers, num_nodes)
  # Zero-weight edges (packed empty slots) get a zero share, so they neither
  # add to the sum nor count in the mean.
  shares = real / tf.maximum(tf.gather(counts, graph.receivers), 1.0)
  return tf.math.unsorted_segment_sum(
      shares[:, None] * tf.gather(states, graph.senders), graph.receivers,
      num_nodes)


def sage_layer(layer: keras.layers.Dense, graph: graphs.GraphsTuple,
               states) -> tf.Tensor:
  """`layer([h_v || mean_u h_u])`; a `tf.SparseTensor` of states goes
  through one sparse product with the kernel's two halves side by side."""
  if not isinstance(states, tf.SparseTensor):
    return layer(tf.concat([states, neighbor_means(graph, states)], axis=-1))
  if not layer.built:
    layer.build((None, 2 * states.shape[1]))
  own_kernel, neighbor_kernel = tf.split(layer.kernel, 2, axis=0)
  own, neighbors = tf.split(sparse_product(
      states, tf.concat([own_kernel, neighbor_kernel], axis=1)), 2, axis=1)
  outputs = own + neighbor_means(graph, neighbors)
  if layer.use_bias:
    outputs += layer.bias
  return layer.activation(outputs)


@keras.saving.register_keras_serializable(package="graph_models")
class GraphSAGENodeClassifier(NodeClassifier):
  """GraphSAGE-mean: one concatenation layer per hidden width, then one to
  logits. Dropout precedes every layer; weight decay is on the first
  layer's kernel.

  Args:
    num_classes: output logits per node.
    hidden_units: width of each hidden layer; `()` is a single layer from
      features to logits.
    normalize: L2-normalise every hidden state (Algorithm 1, line 7).
    **kwargs: `NodeClassifier`'s `dropout`, `weight_decay`, `activation`,
      `feature_name`.

  Example:
    >>> model = GraphSAGENodeClassifier(num_classes=7, hidden_units=(128,))
    >>> model.compile(keras.optimizers.Adam(0.01),
    ...               keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(packed_dataset(graph, graph.split_nodes("train"),
    ...                          max_neighbors=10, batch_size=64), epochs=30)
    >>> model.predict(whole_graph_dataset(graph, graph.split_nodes("test")))
  """

  accepts_sparse_features = True

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (128,),
               normalize: bool = True, **kwargs):
    super().__init__(num_classes, hidden_units=hidden_units, **kwargs)
    if not isinstance(normalize, bool):
      raise ValueError(f"normalize must be True or False, got {normalize!r}")
    self.normalize = normalize
    self.dropouts, self.dense_layers = self.dense_stack("sage")

  def graph_call(self, graph: graphs.GraphsTuple,
                 training: bool = False) -> graphs.GraphsTuple:
    hidden = graph.nodes
    for i, (dropout_layer, dense_layer) in enumerate(zip(self.dropouts,
                                                         self.dense_layers)):
      hidden = sage_layer(dense_layer, graph,
                          dropout(dropout_layer, hidden, training))
      if self.normalize and i < len(self.hidden_units):
        hidden = tf.math.l2_normalize(hidden, axis=-1)
    return graph.replace(nodes=hidden)

  def get_config(self):
    config = super().get_config()
    config["normalize"] = self.normalize
    return config
