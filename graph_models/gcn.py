"""`GCNNodeClassifier`: the full-batch graph convolutional network of Kipf &
Welling (ICLR 2017).

Each layer computes H' = act(Â H W + b) with Â = D^-1/2 (A + I) D^-1/2
(eq. 2 of the paper). Â is built inside the model from the raw edge list
(self-loops added, degrees from the weighted in-degree) so that the same model
runs on a whole graph and on a batch of packed neighbourhoods; on a star the
neighbours' own degrees are unknown and count as 1. The product Â (H W) is a
`tf.sparse.sparse_dense_matmul`, the fastest of the variants measured on CPU;
under XLA (`jit_compile=True`, TPUs), which has no sparse kernels, the same
sums are a gather and a segment sum.
"""

from __future__ import annotations

from typing import Sequence

import keras
import tensorflow as tf
from graph_nets import graphs

from graph_models.distribution import compiling_with_xla
from graph_models.node_classifier import NodeClassifier, first_layer_l2


def normalized_adjacency(graph: graphs.GraphsTuple) -> tf.SparseTensor:
  """Â = D^-1/2 (A + I) D^-1/2 as a `[nodes, nodes]` sparse tensor.

  Input edges must not include self-loops (every node gets one of weight 1).
  Row = receiver, column = sender, so `Â @ H` aggregates incoming messages.
  """
  num_nodes = tf.shape(graph.nodes, out_type=tf.int64)[0]
  loops = tf.range(num_nodes, dtype=tf.int32)
  senders = tf.concat([graph.senders, loops], axis=0)
  receivers = tf.concat([graph.receivers, loops], axis=0)
  weights = tf.concat([tf.reshape(graph.edges, [-1]),
                       tf.ones_like(loops, tf.float32)], axis=0)
  degree = tf.math.unsorted_segment_sum(weights, receivers, num_nodes)
  inv_sqrt = tf.math.rsqrt(degree)
  values = weights * tf.gather(inv_sqrt, receivers) * tf.gather(inv_sqrt,
                                                                senders)
  indices = tf.cast(tf.stack([receivers, senders], axis=1), tf.int64)
  return tf.SparseTensor(indices, values, tf.stack([num_nodes, num_nodes]))


def sparse_dense_matmul(sparse: tf.SparseTensor, dense: tf.Tensor) -> tf.Tensor:
  """`sparse @ dense`, also where XLA compiles it."""
  if not compiling_with_xla():
    return tf.sparse.sparse_dense_matmul(sparse, dense)
  products = sparse.values[:, None] * tf.gather(dense, sparse.indices[:, 1])
  return tf.math.unsorted_segment_sum(products, sparse.indices[:, 0],
                                      sparse.dense_shape[0])


@keras.saving.register_keras_serializable(package="graph_models")
class GraphConvolution(keras.layers.Layer):
  """One GCN layer: `act(adjacency @ (inputs @ W) + b)`."""

  def __init__(self, units: int, activation=None, use_bias: bool = True,
               kernel_regularizer=None, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(units, int) or units < 1:
      raise ValueError(f"units must be a positive integer, got {units!r}")
    self.units = units
    self.activation = keras.activations.get(activation)
    self.use_bias = use_bias
    self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)

  def build(self, input_shape):
    self.kernel = self.add_weight(
        name="kernel", shape=(input_shape[-1], self.units),
        initializer="glorot_uniform", regularizer=self.kernel_regularizer)
    self.bias = (self.add_weight(name="bias", shape=(self.units,),
                                 initializer="zeros")
                 if self.use_bias else None)

  def call(self, inputs, adjacency: tf.SparseTensor):
    outputs = sparse_dense_matmul(adjacency, tf.matmul(inputs, self.kernel))
    if self.bias is not None:
      outputs = outputs + self.bias
    return self.activation(outputs)

  def get_config(self):
    config = super().get_config()
    config.update(units=self.units,
                  activation=keras.activations.serialize(self.activation),
                  use_bias=self.use_bias,
                  kernel_regularizer=keras.regularizers.serialize(
                      self.kernel_regularizer))
    return config


@keras.saving.register_keras_serializable(package="graph_models")
class GCNNodeClassifier(NodeClassifier):
  """Kipf & Welling's GCN: dropout, GCN layers, a GCN layer to logits.

  Defaults are the paper's Cora settings (hidden 16, dropout 0.5, weight decay
  5e-4 on the first layer; train with Adam 0.01 for 200 full-batch epochs).

  Example:
    >>> model = GCNNodeClassifier(num_classes=7)
    >>> model.compile(keras.optimizers.Adam(0.01), keras.losses.
    ...     SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    >>> model.fit(whole_graph_dataset(graph, graph.split_nodes("train")),
    ...           epochs=200)
  """

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (16,),
               **kwargs):
    super().__init__(num_classes, hidden_units=hidden_units, **kwargs)
    widths = self.hidden_units + (num_classes,)
    self.dropouts = [keras.layers.Dropout(self.dropout) for _ in widths]
    self.convolutions = [
        GraphConvolution(
            width, activation=(self.activation if i < len(self.hidden_units)
                               else None),
            kernel_regularizer=first_layer_l2(self.weight_decay) if i == 0
            else None,
            name=f"graph_convolution_{i}")
        for i, width in enumerate(widths)]

  def graph_call(self, graph: graphs.GraphsTuple,
                 training: bool = False) -> graphs.GraphsTuple:
    adjacency = normalized_adjacency(graph)
    hidden = graph.nodes
    for dropout, convolution in zip(self.dropouts, self.convolutions):
      hidden = convolution(dropout(hidden, training=training), adjacency)
    return graph.replace(nodes=hidden)
