"""`NeighborhoodMaxPoolingClassifier`: the image-neighbourhood model of
Johnson, Ballan & Fei-Fei, "Love Thy Neighbors: Image Annotation by
Exploiting Image Metadata" (ICCV 2015).

For an image x and a neighbourhood z = {z_1, ..., z_m} of m of its M nearest
neighbours (eqs. 4-6 of the paper):

  v_x = act(W_x x + b_x)                          (4)
  v_z = max_{i=1..m} act(W_z z_i + b_z)           (5, element-wise)
  f(x, z) = W_y [v_x || v_z] + b_y                (6)

and the scores of x average f over its candidate neighbourhoods, all m-subsets
of the M nearest neighbours (eq. 3), estimated by sampling: one subset per
example in each training step, `num_test_samples` subsets averaged at
inference (the paper uses 10).

Here the M nearest neighbours are the packed neighbours (`packed_dataset`
with `max_neighbors=M`, heaviest edges first) and m is `num_sampled`. An
example with fewer than m real neighbours uses all of them; one with none
pools zeros. Empty slots (weight 0) are never drawn. Subsets are drawn
inside the model, vectorised: uniform random scores on the real slots, the
m highest kept. Training draws come from a Keras `SeedGenerator` (seeded by
`seed`, else by `keras.utils.set_random_seed`), so a seeded run repeats.
Inference draws are stateless, from a fixed seed, so that `predict` gives
the same outputs on every call and after `save`/`load`; they depend on an
example's position in its batch, not on its node. With `num_sampled >= M`
nothing is sampled: every real neighbour is pooled, in training and at
inference alike.

Dropout is applied to v_x and v_z (the paper's p = 0.5).
"""

from __future__ import annotations

from typing import Optional, Sequence

import keras
import tensorflow as tf

from graph_models.classifiers.neighborhood_tensors import stacked_neighborhood
from graph_models.classifiers.node_classifier import NodeClassifier, first_layer_l2


def sample_neighbors(real: tf.Tensor, num_sampled: int, num_samples: int,
                     seed) -> tf.Tensor:
  """`[num_samples, B, K]` booleans: in each sample, `num_sampled` of the
  real slots of each example, uniformly at random (all of them if it has
  fewer).

  Args:
    real: `[B, K]` booleans, True for the slots that hold a neighbour.
    num_sampled: slots drawn per example and sample.
    num_samples: independent draws.
    seed: a `keras.random.SeedGenerator` or an integer (stateless draws).

  Returns:
    `real[None]` (one sample) when `num_sampled >= K`: there is nothing to
    draw.
  """
  k = real.shape[-1]
  if num_sampled >= k:
    return real[None]
  shape = tf.concat([[num_samples], tf.shape(real)], axis=0)
  # Random scores in [0, 1) for real slots and -1 for empty ones: the top
  # num_sampled are a uniform subset of the real slots, padded with empty
  # slots when there are too few, which the final `& real` drops.
  scores = tf.where(real[None], keras.random.uniform(shape, seed=seed), -1.0)
  _, top = tf.math.top_k(scores, k=num_sampled)
  drawn = tf.reduce_max(tf.one_hot(top, k), axis=-2) > 0
  return drawn & real[None]


@keras.saving.register_keras_serializable(package="graph_models")
class NeighborhoodMaxPoolingClassifier(NodeClassifier):
  """Max-pooling over a sampled neighbourhood (Johnson et al. 2015).

  Takes packed neighbourhood batches only (a whole graph raises a
  `ValueError`). Weight decay is on W_x and W_z, the first-layer kernels.

  Args:
    num_classes: output logits per node.
    hidden_units: `(h,)`, the width of v_x and v_z (the paper's h = 500).
    num_sampled: m, the neighbours pooled per sample (the paper's best: 3).
    num_test_samples: neighbourhoods averaged at inference (the paper: 10).
    seed: seeds the training draws; None defers to Keras' global seed.
      Inference draws use `seed` (0 if None) as a stateless seed.
    **kwargs: `NodeClassifier`'s `dropout`, `weight_decay`, `activation`,
      `feature_name`.

  Example:
    >>> model = NeighborhoodMaxPoolingClassifier(num_classes=7, num_sampled=3)
    >>> model.compile(keras.optimizers.Adam(0.01),
    ...               keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(packed_dataset(graph, graph.split_nodes("train"),
    ...                          max_neighbors=6, batch_size=50), epochs=10)
  """

  def __init__(self, num_classes: int, hidden_units: Sequence[int] = (500,),
               num_sampled: int = 3, num_test_samples: int = 10,
               seed: Optional[int] = None, **kwargs):
    super().__init__(num_classes, hidden_units=hidden_units, **kwargs)
    name = type(self).__name__
    if len(self.hidden_units) != 1:
      raise ValueError(f"{name} has one hidden width (v_x and v_z), got "
                       f"{list(self.hidden_units)}")
    for field, value in (("num_sampled", num_sampled),
                         ("num_test_samples", num_test_samples)):
      if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{field} must be an integer >= 1, got {value!r}")
    if seed is not None and (isinstance(seed, bool)
                             or not isinstance(seed, int) or seed < 0):
      raise ValueError(f"seed must be None or an integer >= 0, got {seed!r}")
    self.num_sampled = num_sampled
    self.num_test_samples = num_test_samples
    self.seed = seed
    width = self.hidden_units[0]
    self._image_dense = keras.layers.Dense(
        width, activation=self.activation,
        kernel_regularizer=first_layer_l2(self.weight_decay),
        name="image_hidden")
    self._neighbor_dense = keras.layers.Dense(
        width, activation=self.activation,
        kernel_regularizer=first_layer_l2(self.weight_decay),
        name="neighbor_hidden")
    self._image_dropout = keras.layers.Dropout(self.dropout)
    self._pooled_dropout = keras.layers.Dropout(self.dropout)
    self._output_dense = keras.layers.Dense(num_classes, name="output")
    self._sampling_seed = keras.random.SeedGenerator(seed)

  def call(self, inputs, training=False):
    nodes, real = stacked_neighborhood(inputs, self.feature_name,
                                       type(self).__name__)
    image = self._image_dropout(self._image_dense(nodes[:, 0]),
                                training=training)
    neighbors = self._neighbor_dense(nodes[:, 1:])
    if training:
      chosen = sample_neighbors(real, self.num_sampled, 1,
                                self._sampling_seed)
    else:
      chosen = sample_neighbors(real, self.num_sampled,
                                self.num_test_samples, self.seed or 0)
    # [S, B, K, h]; unchosen slots hold the lowest float so that they never
    # win the max whatever the activation's range.
    candidates = tf.where(chosen[..., None], neighbors[None],
                          neighbors.dtype.min)
    pooled = tf.where(tf.reduce_any(chosen, axis=-1)[..., None],
                      tf.reduce_max(candidates, axis=-2), 0.0)
    pooled = self._pooled_dropout(pooled, training=training)
    image = tf.broadcast_to(image[None], tf.shape(pooled))
    logits = self._output_dense(tf.concat([image, pooled], axis=-1))
    return tf.reduce_mean(logits, axis=0)

  def get_config(self):
    config = super().get_config()
    config.update(num_sampled=self.num_sampled,
                  num_test_samples=self.num_test_samples, seed=self.seed)
    return config
