"""`MLPNodeClassifier`: classifies each node from its own features only."""

from __future__ import annotations

import keras
from graph_nets import graphs

from graph_models.classifiers.node_classifier import NodeClassifier
from graph_models.classifiers.sparse_ops import dense, dropout


@keras.saving.register_keras_serializable(package="graph_models")
class MLPNodeClassifier(NodeClassifier):
  """A multi-layer perceptron over node features (the graph is ignored).

  Dropout precedes every dense layer, as in the GAM reference MLP. Sparse
  features stay sparse through the first dropout and product (`sparse_ops`).

  Example:
    >>> model = MLPNodeClassifier(num_classes=7, hidden_units=(128,))
    >>> model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True), metrics=["accuracy"])
    >>> model.fit(packed_dataset(graph, graph.split_nodes("train"), 0, 32))
  """

  uses_edges = False
  accepts_sparse_features = True

  def __init__(self, num_classes: int, **kwargs):
    super().__init__(num_classes, **kwargs)
    self.dropouts, self.dense_layers = self.dense_stack("dense")

  def graph_call(self, graph: graphs.GraphsTuple,
                 training: bool = False) -> graphs.GraphsTuple:
    hidden = graph.nodes
    for dropout_layer, dense_layer in zip(self.dropouts, self.dense_layers):
      hidden = dense(dense_layer, dropout(dropout_layer, hidden, training))
    return graph.replace(nodes=hidden)
