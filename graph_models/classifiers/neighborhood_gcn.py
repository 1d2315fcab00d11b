"""`NeighborhoodGraphClassifier`: the "NGCN" of Zhang, Wu, Zhang, Shen & Lu,
"Mind Your Neighbours: Image Annotation with Metadata Neighbourhood Graph
Co-Attention Networks" (CVPR 2019), the ablation of MangoNet without the
co-attention (node states are the images' holistic features).

Each image and its neighbours form a fully connected graph of m + 1 nodes
(here: the centre and its real packed neighbours). With node states Z (the
features projected to width d, Z_0 the image itself):

  s(z_k, z_l) = psi(z_k)^T psi(z_l)      (10; psi a learned linear map)
  S = row-wise softmax of s              (the learned adjacency)
  Z' = act(S Z W) + Z                    (11, with the residual unit)

Z' is mean-pooled over the nodes, concatenated with the image's own state
Z_0 (the "target global representation") and mapped to logits by a dense
layer. Empty slots (weight 0) are not nodes: they get no column of S and
are left out of the pooling. Edge weights only select neighbours; S is
learned. The whole computation is batched as `[B, K + 1, ...]` tensors.
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from graph_models.classifiers.neighborhood_tensors import stacked_neighborhood
from graph_models.classifiers.node_classifier import NodeClassifier, first_layer_l2


@keras.saving.register_keras_serializable(package="graph_models")
class NeighborhoodGraphClassifier(NodeClassifier):
  """A one-layer GCN with learned edges on each image's neighbourhood.

  Takes packed neighbourhood batches only (a whole graph raises a
  `ValueError`). Dropout precedes the projection and the output layer;
  weight decay is on the projection's kernel.

  Args:
    num_classes: output logits per node.
    hidden_units: `(d,)`, the width of the node states.
    attention_units: the width of psi (the paper: 512); None for d.
    **kwargs: `NodeClassifier`'s `dropout`, `weight_decay`, `activation`,
      `feature_name`.

  Example:
    >>> model = NeighborhoodGraphClassifier(num_classes=7, hidden_units=(64,))
    >>> model.compile(keras.optimizers.Adam(0.01),
    ...               keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(packed_dataset(graph, graph.split_nodes("train"),
    ...                          max_neighbors=3, batch_size=64), epochs=30)
  """

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (128,),
               attention_units: Optional[int] = None, **kwargs):
    super().__init__(num_classes, hidden_units=hidden_units, **kwargs)
    if len(self.hidden_units) != 1:
      raise ValueError(f"{type(self).__name__} has one hidden width (the "
                       f"node states), got {list(self.hidden_units)}")
    if attention_units is not None and (
        isinstance(attention_units, bool)
        or not isinstance(attention_units, int) or attention_units < 1):
      raise ValueError(f"attention_units must be None or an integer >= 1, "
                       f"got {attention_units!r}")
    self.attention_units = attention_units
    width = self.hidden_units[0]
    self._input_dropout = keras.layers.Dropout(self.dropout)
    self._projection = keras.layers.Dense(
        width, activation=self.activation,
        kernel_regularizer=first_layer_l2(self.weight_decay),
        name="projection")
    self._psi = keras.layers.Dense(attention_units or width, name="psi")
    # Eq. 11 has no bias: S Z W.
    self._convolution = keras.layers.Dense(width, use_bias=False,
                                           name="graph_convolution")
    self._activation = keras.activations.get(self.activation)
    self._output_dropout = keras.layers.Dropout(self.dropout)
    self._output_dense = keras.layers.Dense(num_classes, name="output")

  def call(self, inputs, training=False):
    nodes, real = stacked_neighborhood(inputs, self.feature_name,
                                       type(self).__name__)
    present = tf.concat([tf.ones_like(real[:, :1]), real], axis=1)
    mask = tf.cast(present, tf.float32)[..., None]
    # Zeroing the empty slots' states makes the output independent of
    # whatever features padding carries, not just nearly so.
    states = mask * self._projection(
        self._input_dropout(nodes, training=training))
    keys = self._psi(states)
    scores = tf.matmul(keys, keys, transpose_b=True)
    # Every row keeps at least the centre's column, so no row is all -inf.
    scores = tf.where(present[:, None, :], scores, float("-inf"))
    adjacency = tf.nn.softmax(scores, axis=-1)
    updated = self._activation(
        tf.matmul(adjacency, self._convolution(states))) + states
    pooled = (tf.reduce_sum(mask * updated, axis=1)
              / tf.reduce_sum(mask, axis=1))
    representation = tf.concat([pooled, states[:, 0]], axis=-1)
    return self._output_dense(
        self._output_dropout(representation, training=training))

  def get_config(self):
    config = super().get_config()
    config["attention_units"] = self.attention_units
    return config
