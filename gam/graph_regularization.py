"""`GraphRegularizationModel`: NSL graph regularisation as a Keras 3 model.

The loss on a packed neighbourhood batch is (NSL, Bui et al. 2018, eq. 2)

  L = sum_i loss(y_i, f(x_i))
      + multiplier * sum_i sum_{j in N(i)} w_ij * d(f(x_i), f(x_j))

with `d` and its reduction given by the NSL `DistanceConfig` and the
neighbours limited to `max_neighbors`. A config without `sum_over_axis`
sums the distance over the last (class) axis, giving one distance per pair.
The distance is NSL's own `pairwise_distance_wrapper`. `f(x_j)` is the
wrapped node model applied to the neighbour's own features. The graph term
is added in `compute_loss`, so Keras' `train_step` (and its loss scaling
under `tf.distribute`) applies to it like to the supervised loss; it is
reported as the `graph_loss` metric. Prediction, evaluation and saving need
only the node's own features.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import keras
import tensorflow as tf

from graph_models import nsl
from graph_models.distribution import DistributedModel
from graph_models.neighbor_packing import FEATURES
from graph_models.classifiers.node_graph_model import is_whole_graph, num_packed_neighbors


def graph_reg_config_to_dict(config: nsl.GraphRegConfig) -> Dict[str, Any]:
  """A JSON-able form of an NSL `GraphRegConfig` (for `get_config`)."""
  distance = config.distance_config
  return {
      "max_neighbors": config.neighbor_config.max_neighbors,
      "prefix": config.neighbor_config.prefix,
      "weight_suffix": config.neighbor_config.weight_suffix,
      "multiplier": config.multiplier,
      "distance_type": nsl.DistanceType(distance.distance_type).value,
      "reduction": distance.reduction,
      "sum_over_axis": distance.sum_over_axis,
      "transform_fn": nsl.TransformType(distance.transform_fn).value,
  }


def graph_reg_config_from_dict(values: Dict[str, Any]) -> nsl.GraphRegConfig:
  return nsl.GraphRegConfig(
      neighbor_config=nsl.GraphNeighborConfig(
          prefix=values["prefix"], weight_suffix=values["weight_suffix"],
          max_neighbors=values["max_neighbors"]),
      multiplier=values["multiplier"],
      distance_config=nsl.DistanceConfig(
          distance_type=nsl.DistanceType(values["distance_type"]),
          reduction=values["reduction"], sum_over_axis=values["sum_over_axis"],
          transform_fn=nsl.TransformType(values["transform_fn"])))


@keras.saving.register_keras_serializable(package="gam")
class GraphRegularizationModel(DistributedModel):
  """Wraps a node classifier and adds NSL's graph loss while training.

  Args:
    config: an NSL `GraphRegConfig` (`nsl.make_graph_reg_config(...)`):
      multiplier, distance, `max_neighbors` used from each packed example.
    node_model_fn: zero-argument factory of the node classifier (any Keras
      model taking the packed feature dict), e.g. `lambda:
      GraphConvolutionalNodeClassifier(num_classes=7)`.
    feature_name: the packed node feature.

  Example:
    >>> model = GraphRegularizationModel(
    ...     config=nsl.make_graph_reg_config(max_neighbors=5, multiplier=0.1),
    ...     node_model_fn=lambda: MLPNodeClassifier(num_classes=7))
    >>> model.compile(optimizer=keras.optimizers.Adam(),
    ...               loss=keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(train_dataset, epochs=30, validation_data=eval_dataset)
  """

  def __init__(self, config: Optional[nsl.GraphRegConfig] = None,
               node_model_fn: Optional[Callable[[], keras.Model]] = None,
               feature_name: str = FEATURES, **kwargs):
    super().__init__(**kwargs)
    if node_model_fn is None or not callable(node_model_fn):
      raise ValueError("node_model_fn must be a zero-argument callable that "
                       f"returns the node classifier, got {node_model_fn!r}")
    config = nsl.make_graph_reg_config() if config is None else config
    if not isinstance(config, nsl.GraphRegConfig):
      raise ValueError(f"config must be an NSL GraphRegConfig, got "
                       f"{type(config).__name__}")
    if config.neighbor_config.max_neighbors < 0 or config.multiplier < 0:
      raise ValueError("config.neighbor_config.max_neighbors and "
                       "config.multiplier must be >= 0")
    self.graph_reg_config = config
    self.feature_name = feature_name
    self.node_model = node_model_fn()
    if not isinstance(self.node_model, keras.Model):
      raise ValueError(f"node_model_fn returned {type(self.node_model).__name__}"
                       ", not a keras.Model")
    self.graph_loss_tracker = keras.metrics.Mean(name="graph_loss")

  def is_unsplittable(self, inputs: Dict[str, Any]) -> bool:
    return is_whole_graph(inputs)

  def call(self, inputs, training=False):
    return self.node_model(inputs, training=training)

  def build(self, input_shape):
    self.node_model.build(input_shape)
    self.built = True

  def _neighbor_predictions(self, inputs, num_neighbors: int, training):
    """`f(x_j)` for every packed neighbour, `[batch * K, ...]`, with weights."""
    neighbor_features = tf.concat(
        [inputs[nsl.neighbor_feature_name(i, self.feature_name)]
         for i in range(num_neighbors)], axis=0)
    weights = tf.concat([tf.reshape(inputs[nsl.neighbor_weight_name(i)],
                                    [-1, 1]) for i in range(num_neighbors)],
                        axis=0)
    predictions = self.node_model({self.feature_name: neighbor_features},
                                  training=training)
    return predictions, tf.cast(weights, predictions.dtype)

  @property
  def _distance_config(self) -> nsl.DistanceConfig:
    distance = self.graph_reg_config.distance_config
    if distance.sum_over_axis is not None:
      return distance
    return nsl.DistanceConfig(
        distance_type=distance.distance_type, reduction=distance.reduction,
        sum_over_axis=-1, transform_fn=distance.transform_fn)

  def graph_loss(self, inputs, predictions, training=False) -> tf.Tensor:
    """The unscaled graph term for a packed batch (0 without neighbours)."""
    config = self.graph_reg_config
    num_neighbors = min(num_packed_neighbors(inputs),
                        config.neighbor_config.max_neighbors)
    if num_neighbors == 0:
      return tf.zeros((), predictions.dtype)
    neighbor_predictions, weights = self._neighbor_predictions(
        inputs, num_neighbors, training)
    # Neighbours were concatenated slot by slot, so the centre batch is tiled.
    sources = tf.tile(predictions, [num_neighbors] +
                      [1] * (len(predictions.shape) - 1))
    return nsl.lib.pairwise_distance_wrapper(
        sources, neighbor_predictions, weights, self._distance_config)

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    loss = super().compute_loss(x=x, y=y, y_pred=y_pred,
                                sample_weight=sample_weight, training=training)
    if self.graph_reg_config.multiplier == 0:
      return loss  # nothing to add; skipping keeps dropout draws unchanged
    graph_loss = self.graph_loss(x, y_pred, training=training)
    self.graph_loss_tracker.update_state(graph_loss)
    # Keras divides the compiled loss by the replica count; this term is
    # computed by hand, so it must be too.
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss + (self.graph_reg_config.multiplier / replicas) * tf.cast(
        graph_loss, loss.dtype)

  def get_config(self):
    config = super().get_config()
    config.update(
        graph_reg_config=graph_reg_config_to_dict(self.graph_reg_config),
        node_model=keras.saving.serialize_keras_object(self.node_model),
        feature_name=self.feature_name)
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    node_model = keras.saving.deserialize_keras_object(config.pop("node_model"))
    reg_config = graph_reg_config_from_dict(config.pop("graph_reg_config"))
    return cls(config=reg_config, node_model_fn=lambda: node_model, **config)
