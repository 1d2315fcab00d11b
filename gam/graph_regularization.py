"""`GraphRegularizationModel`: NSL graph regularisation as a Keras 3 model,
optionally weighted by a Graph Agreement Model.

The loss on a packed neighbourhood batch is (NSL, Bui et al. 2018, eq. 2)

  L = sum_i loss(y_i, f(x_i))
      + multiplier * sum_i sum_{j in N(i)} w_ij * d(f(x_i), f(x_j))

with `d` and its reduction given by the NSL `DistanceConfig` and the
neighbours limited to `max_neighbors`. A config without `sum_over_axis`
sums the distance over the last (class) axis, giving one distance per pair.
The distance is NSL's own `pairwise_distance_wrapper`. `f(x_j)` is the
wrapped node model applied to the neighbour's own features.

With an agreement model (`agreement_model_fn`) each neighbour's term is
GAM's instead (Stretcu et al. 2019, "Graph Agreement Models for
Semi-Supervised Learning", eq. 3, as the reference code computes it for a
labelled node and its neighbour):

  multiplier * 1/(B K) * sum_i sum_{j in N(i)}
      w_ij * g(x_i, x_j) * || y_i - p(x_j) ||^2

where `y_i` is the centre's one-hot (multi-hot) label, `p(x_j)` the
softmax (sigmoid) of the neighbour's prediction and `g` the frozen agreement
model's P(same label); `B K` counts the packed slots. It is
`agreement_regularization.agreement_regularization_loss`, the term
`GraphAgreementModel` adds over its sampled edge pairs. `fit` first trains
the agreement model (`fit_agreement`) on pairs of the labelled centres of
the training data, unless it has been trained already.

The graph term is added in `compute_loss`, so Keras' `train_step` (and its
loss scaling under `tf.distribute`) applies to it like to the supervised
loss; it is reported as the `graph_loss` metric. Prediction, evaluation and
saving need only the node's own features.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from gam.agreement.pairs import example_pair_graph
from gam.agreement.training import (AgreementTrainingOptions,
                                    AgreementTrainingResult,
                                    train_agreement_model)
from gam.agreement_regularization import agreement_regularization_loss
from graph_models import nsl
from graph_models.label_table import labeled_rows
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
    agreement_model_fn: zero-argument factory of a GAM agreement model
      (e.g. `AgreementModel`): each neighbour's term becomes GAM's
      agreement-weighted one (module docstring). None: NSL's term.
    agreement_options: how `fit_agreement` trains the agreement model.

  Example:
    >>> model = GraphRegularizationModel(
    ...     config=nsl.make_graph_reg_config(max_neighbors=5, multiplier=0.1),
    ...     node_model_fn=lambda: MLPNodeClassifier(num_classes=7),
    ...     agreement_model_fn=AgreementModel)  # leave out for plain NSL
    >>> model.compile(optimizer=keras.optimizers.Adam(),
    ...               loss=keras.losses.SparseCategoricalCrossentropy(
    ...                   from_logits=True), metrics=["accuracy"])
    >>> model.fit(train_dataset, epochs=30, validation_data=eval_dataset)
  """

  GRAPH_LOSS = "graph_loss"  # the name the graph term is reported under

  def __init__(self, config: Optional[nsl.GraphRegConfig] = None,
               node_model_fn: Optional[Callable[[], keras.Model]] = None,
               feature_name: str = FEATURES,
               agreement_model_fn: Optional[Callable[[], keras.Model]] = None,
               agreement_options: Optional[AgreementTrainingOptions] = None,
               **kwargs):
    super().__init__(**kwargs)
    config = nsl.make_graph_reg_config() if config is None else config
    if not isinstance(config, nsl.GraphRegConfig):
      raise ValueError(f"config must be an NSL GraphRegConfig, got "
                       f"{type(config).__name__}")
    if config.neighbor_config.max_neighbors < 0 or config.multiplier < 0:
      raise ValueError("config.neighbor_config.max_neighbors and "
                       "config.multiplier must be >= 0")
    agreement_options = agreement_options or AgreementTrainingOptions()
    if not isinstance(agreement_options, AgreementTrainingOptions):
      raise ValueError(f"agreement_options must be AgreementTrainingOptions, "
                       f"got {type(agreement_options).__name__}")
    self.graph_reg_config = config
    self.feature_name = feature_name
    self.agreement_options = agreement_options
    self.node_model_fn = node_model_fn
    self.agreement_model_fn = agreement_model_fn
    self.node_model = _made("node_model_fn", node_model_fn)
    self.agreement_model = None
    if agreement_model_fn is not None:
      self.agreement_model = _made("agreement_model_fn", agreement_model_fn)
      # Optimiser steps of the agreement model's last training (0: never).
      self.agreement_steps = keras.Variable(
          0, dtype="int64", trainable=False, name="agreement_steps")
    self.graph_loss_tracker = keras.metrics.Mean(name=self.GRAPH_LOSS)

  # The agreement model is frozen while the classifier trains (whatever
  # `trainable` says): `fit_agreement` trains it, with its own optimizer.
  @property
  def trainable_weights(self):
    return [v for v in super().trainable_weights if not self._frozen(v)]

  @property
  def non_trainable_weights(self):
    return super().non_trainable_weights + [
        v for v in super().trainable_weights if self._frozen(v)]

  trainable_variables = trainable_weights
  non_trainable_variables = non_trainable_weights

  def _frozen(self, variable) -> bool:
    return self.agreement_model is not None and any(
        variable is v for v in self.agreement_model.weights)

  def is_unsplittable(self, inputs: Dict[str, Any]) -> bool:
    return is_whole_graph(inputs)

  def call(self, inputs, training=False):
    return self.node_model(inputs, training=training)

  def build(self, input_shape):
    self.node_model.build(input_shape)
    if self.agreement_model is not None and not self.agreement_model.built:
      pair_shape = (None, input_shape[self.feature_name][-1])
      self.agreement_model.build({"left": pair_shape, "right": pair_shape})
    self.built = True

  def fit(self, x=None, y=None, **kwargs):
    """Keras `fit`; with an agreement model that has not been trained yet,
    `fit_agreement(x, y)` runs first."""
    if self._trains_agreement_first():
      self.fit_agreement(x, y)
    return super().fit(x, y, **kwargs)

  def _trains_agreement_first(self) -> bool:
    return self.agreement_model is not None and not int(
        self.agreement_steps.numpy())

  def fit_agreement(self, x, y=None, max_examples: int = 50_000
                    ) -> AgreementTrainingResult:
    """Trains the agreement model on pairs of the labelled examples of `x`.

    `x` is a dataset of `(inputs, labels)` batches (e.g. `packed_dataset`),
    or input arrays with labels `y`. It is read until it ends, holds
    `max_examples` labelled centres, or a batch brings none not seen before
    (a repeated dataset has come round). The pairs, balanced batches and
    held-out early stopping are `train_agreement_model`'s on
    `example_pair_graph` of those centres; training continues from the
    agreement model's current weights.
    """
    if self.agreement_model is None:
      raise ValueError("this model has no agreement model "
                       "(agreement_model_fn=None)")
    features, labels = self._labelled_examples(x, y, max_examples)
    num_classes = getattr(self.node_model, "num_classes", None) or (
        labels.shape[1] if labels.ndim == 2 else int(labels.max()) + 1)
    graph = example_pair_graph(features, labels, num_classes,
                               seed=self.agreement_options.seed)
    result = train_agreement_model(self.agreement_model, graph, graph.labels,
                                   self.agreement_options)
    self.agreement_steps.assign(result.steps)
    return result

  def _labelled_examples(self, x, y, max_examples: int
                         ) -> Tuple[np.ndarray, np.ndarray]:
    """The distinct labelled centres of a training input (see
    `fit_agreement`), as dense features and a label table."""
    if not isinstance(x, tf.data.Dataset):
      x = tf.data.Dataset.from_tensor_slices((x, y)).batch(1024)
    features, labels, seen = [], [], set()
    for element in x:
      inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(element)
      if not isinstance(inputs, dict) or self.feature_name not in inputs:
        raise ValueError(f"fit_agreement needs inputs with the node feature "
                         f"{self.feature_name!r}")
      if targets is None:
        raise ValueError("fit_agreement needs labelled examples: (inputs, "
                         "labels) batches")
      centres = np.asarray(_dense(inputs[self.feature_name]), np.float32)
      batch_labels = _label_table(np.asarray(targets))
      known = labeled_rows(batch_labels)
      new = 0
      for row, label in zip(centres[known], batch_labels[known]):
        key = row.tobytes() + label.tobytes()
        if key in seen:
          continue
        seen.add(key)
        features.append(row)
        labels.append(label)
        new += 1
      if new == 0 or len(labels) >= max_examples:
        break
    if len(labels) < 2:
      raise ValueError(f"the agreement model needs at least 2 labelled "
                       f"examples to form a pair; the training data has "
                       f"{len(labels)}")
    return np.stack(features[:max_examples]), np.stack(labels[:max_examples])

  def _neighbors(self, inputs, num_neighbors: int):
    """Every packed neighbour's features, `[batch * K, ...]` (slot by slot;
    a `tf.SparseTensor` if the batch packs them sparse), and the edge
    weights `[batch * K]`."""
    slots = [inputs[nsl.neighbor_feature_name(i, self.feature_name)]
             for i in range(num_neighbors)]
    features = (tf.sparse.concat(0, slots)
                if isinstance(slots[0], tf.SparseTensor) else
                tf.concat(slots, axis=0))
    weights = tf.concat([tf.reshape(inputs[nsl.neighbor_weight_name(i)], [-1])
                         for i in range(num_neighbors)], axis=0)
    return features, weights

  @property
  def _distance_config(self) -> nsl.DistanceConfig:
    distance = self.graph_reg_config.distance_config
    if distance.sum_over_axis is not None:
      return distance
    return nsl.DistanceConfig(
        distance_type=distance.distance_type, reduction=distance.reduction,
        sum_over_axis=-1, transform_fn=distance.transform_fn)

  def graph_loss(self, inputs, predictions, training=False,
                 labels=None) -> tf.Tensor:
    """The unscaled graph term for a packed batch (0 without neighbours).

    With an agreement model it is GAM's term, which needs the centres'
    `labels`."""
    config = self.graph_reg_config
    num_neighbors = min(num_packed_neighbors(inputs),
                        config.neighbor_config.max_neighbors)
    if num_neighbors == 0:
      return tf.zeros((), predictions.dtype)
    neighbor_features, weights = self._neighbors(inputs, num_neighbors)
    neighbor_predictions = self.node_model(
        {self.feature_name: neighbor_features}, training=training)
    weights = tf.cast(weights, neighbor_predictions.dtype)
    tile = [num_neighbors] + [1] * (len(predictions.shape) - 1)
    if self.agreement_model is None:
      # Neighbours were concatenated slot by slot, so the centre batch is
      # tiled.
      return nsl.lib.pairwise_distance_wrapper(
          tf.tile(predictions, tile), neighbor_predictions,
          tf.reshape(weights, [-1, 1]), self._distance_config)
    if labels is None:
      raise ValueError("the agreement-weighted graph loss needs the centres' "
                       "labels")
    agreement = tf.stop_gradient(tf.sigmoid(self.agreement_model(
        {"left": tf.tile(_dense(inputs[self.feature_name]),
                         [num_neighbors, 1]),
         "right": _dense(neighbor_features)}, training=False)))
    left_labels = _left_labels(labels)
    left_labels = tf.tile(left_labels, [num_neighbors] + [1] * (
        len(left_labels.shape) - 1))
    return agreement_regularization_loss(
        neighbor_predictions, left_labels,
        weights * tf.cast(agreement, weights.dtype))

  def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                   training=True):
    loss = super().compute_loss(x=x, y=y, y_pred=y_pred,
                                sample_weight=sample_weight, training=training)
    if self.graph_reg_config.multiplier == 0:
      return loss  # nothing to add; skipping keeps dropout draws unchanged
    graph_loss = self.graph_loss(x, y_pred, training=training, labels=y)
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
        feature_name=self.feature_name,
        agreement_options=dataclasses.asdict(self.agreement_options))
    if self.agreement_model is not None:
      config["agreement_model"] = keras.saving.serialize_keras_object(
          self.agreement_model)
    return config

  @classmethod
  def from_config(cls, config):
    config = dict(config)
    node_model = keras.saving.deserialize_keras_object(config.pop("node_model"))
    agreement = config.pop("agreement_model", None)
    if agreement is not None:
      agreement = keras.saving.deserialize_keras_object(agreement)
    options = config.pop("agreement_options", None)
    reg_config = graph_reg_config_from_dict(config.pop("graph_reg_config"))
    return cls(config=reg_config, node_model_fn=lambda: node_model,
               agreement_model_fn=(None if agreement is None
                                   else lambda: agreement),
               agreement_options=(None if options is None else
                                  AgreementTrainingOptions(**options)),
               **config)


def _made(name: str, factory) -> keras.Model:
  """The model a `*_model_fn` factory returns, checked."""
  if factory is None or not callable(factory):
    raise ValueError(f"{name} must be a zero-argument callable that returns a "
                     f"keras.Model, got {factory!r}")
  model = factory()
  if not isinstance(model, keras.Model):
    raise ValueError(f"{name} returned {type(model).__name__}, not a "
                     "keras.Model")
  return model


def _dense(features):
  """Node features as a dense tensor (packed batches may hold them sparse)."""
  if isinstance(features, tf.SparseTensor):
    return tf.sparse.to_dense(features)
  return features


def _label_table(targets: np.ndarray) -> np.ndarray:
  """A batch's labels as a label table: class ids, or multi-hot rows."""
  if targets.ndim == 2 and targets.shape[1] > 1:
    return targets.astype(np.int64)
  return targets.reshape(-1).astype(np.int64)


def _left_labels(labels: tf.Tensor) -> tf.Tensor:
  """`agreement_regularization_loss`'s left labels from a batch's targets."""
  if labels.shape.rank == 2 and labels.shape[-1] != 1:
    return tf.cast(labels, tf.float32)
  return tf.cast(tf.reshape(labels, [-1]), tf.int64)
