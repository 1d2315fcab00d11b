"""`GraphConvolutionalNodeClassifier`: the Graph Nets CommNet GCN of the
Neural Structured Learning talk.

Features are encoded per node (`GraphIndependent`), then two `CommNet` blocks
(Sukhbaatar et al. 2016, eq. 2 as in Graph Nets): each node's new state is
`node_model([mean_{j -> i} edge_model(h_j), node_encoder_model(h_i)])`. The
edge, node-encoder and node models are Keras layers owned by this model, so
Keras tracks, trains and saves their weights while Graph Nets wires them.
Edge weights select neighbours (a zero-weight slot sends nothing to its
centre) but do not scale messages, as in CommNet. Sparse features stay
sparse through the input dropout and the encoder's product (`sparse_ops`).
"""

from __future__ import annotations

from typing import Sequence

import graph_nets
import keras
import tensorflow as tf
from graph_nets import graphs

from graph_models.classifiers.node_classifier import NodeClassifier, first_layer_l2
from graph_models.classifiers.sparse_ops import dense, dropout


@keras.saving.register_keras_serializable(package="graph_models")
class GraphConvolutionalNodeClassifier(NodeClassifier):
  """Classifies nodes with a CommNet graph network (a drop-in node classifier).

  Example:
    >>> model = GraphConvolutionalNodeClassifier(num_classes=7,
    ...                                          hidden_units=(64,))
    >>> model.compile(keras.optimizers.Adam(),
    ...               keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(packed_dataset(graph, graph.split_nodes("train"),
    ...                          max_neighbors=5, batch_size=64), epochs=30)
  """

  accepts_sparse_features = True

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (64,),
               **kwargs):
    super().__init__(num_classes, hidden_units=hidden_units, **kwargs)
    if len(self.hidden_units) != 1:
      raise ValueError("GraphConvolutionalNodeClassifier has one hidden width "
                       f"(two CommNet blocks), got {list(self.hidden_units)}")
    width = self.hidden_units[0]
    activation = self.activation
    dense = keras.layers.Dense
    self._input_dropout = keras.layers.Dropout(self.dropout)
    self._dense_features = dense(
        width, activation=activation,
        kernel_regularizer=first_layer_l2(self.weight_decay),
        name="dense_features")
    self._hidden_dropout = keras.layers.Dropout(self.dropout)
    self._edge_model1 = dense(width, activation=activation, name="edge_model1")
    self._node_encoder_model1 = dense(width, activation=activation,
                                      name="node_encoder_model1")
    self._node_model1 = dense(width, activation=activation, name="node_model1")
    self._edge_model2 = dense(width, activation=activation, name="edge_model2")
    self._node_encoder_model2 = dense(width, activation=activation,
                                      name="node_encoder_model2")
    self._node_model2 = dense(num_classes, name="node_model2")

  def graph_call(self, graph: graphs.GraphsTuple,
                 training: bool = False) -> graphs.GraphsTuple:
    graph = graph.replace(
        nodes=dropout(self._input_dropout, graph.nodes, training))
    # Encode features.
    graph = graph_nets.modules.GraphIndependent(
        node_model_fn=lambda: lambda nodes: dense(self._dense_features,
                                                  nodes))(graph)
    graph = graph.replace(
        nodes=self._hidden_dropout(graph.nodes, training=training))
    # Graph convolutions.
    graph = graph_nets.modules.CommNet(
        edge_model_fn=lambda: self._edge_model1,
        node_encoder_model_fn=lambda: self._node_encoder_model1,
        node_model_fn=lambda: self._node_model1,
        reducer=tf.math.unsorted_segment_mean)(graph)
    return graph_nets.modules.CommNet(
        edge_model_fn=lambda: self._edge_model2,
        node_encoder_model_fn=lambda: self._node_encoder_model2,
        node_model_fn=lambda: self._node_model2,
        reducer=tf.math.unsorted_segment_mean)(graph)
