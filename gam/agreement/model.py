"""`AgreementModel`: the siamese network of GAM that scores whether two nodes
have the same label (Stretcu et al., NeurIPS 2019, sec. 3.1), and
`agreement_probabilities`, its P(same label) for node pairs.

Example:
  >>> model = AgreementModel(hidden_units=(128,), aggregation="dist")
  >>> agreement_probabilities(model, graph, [0, 1], [2, 3])
"""

from __future__ import annotations

import weakref
from typing import Dict, Sequence, Union

import keras
import numpy as np
import scipy.sparse as sp
import scipy.special
import tensorflow as tf

from graph_models.distribution import DistributedModel
from graph_models.graph import Features, Graph

AGGREGATIONS = ("dist", "add", "concat")

PairInputs = Union[Dict[str, tf.Tensor], Sequence[tf.Tensor]]


def _split_pair(inputs: PairInputs):
  if isinstance(inputs, dict):
    missing = {"left", "right"} - set(inputs)
    if missing:
      raise ValueError(f"AgreementModel inputs need the keys 'left' and "
                       f"'right'; missing {sorted(missing)}")
    return inputs["left"], inputs["right"]
  if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
    return inputs[0], inputs[1]
  raise ValueError("AgreementModel inputs must be {'left': x, 'right': y} or "
                   f"a pair (x, y); got {type(inputs).__name__}")


@keras.saving.register_keras_serializable(package="gam")
class AgreementModel(DistributedModel):
  """Predicts the logit that two nodes have the same label.

  Inputs are `{"left": x_i, "right": x_j}` (a pair `(x_i, x_j)` works too),
  each a `[batch, num_features]` float tensor; the output is a `[batch]`
  logit. Both sides go through the same encoder (`hidden_units` dense layers,
  dropout before each), then `aggregation` combines the embeddings:
  "dist" = (h_i - h_j)^2 and "add" = h_i + h_j are symmetric in i and j,
  "concat" = [h_i, h_j] is not.

  Example:
    >>> model = AgreementModel(hidden_units=(128,))
    >>> logits = model({"left": x_i, "right": x_j})  # shape [batch]
  """

  def __init__(self, hidden_units: Sequence[int] = (128,),
               aggregation: str = "dist", dropout: float = 0.0,
               activation: str = "leaky_relu", **kwargs):
    super().__init__(**kwargs)
    if isinstance(hidden_units, int):
      hidden_units = (hidden_units,)
    hidden_units = tuple(hidden_units)
    if any(isinstance(u, bool) or not isinstance(u, (int, np.integer))
           or u < 1 for u in hidden_units):
      raise ValueError(f"hidden_units must be positive integers, got "
                       f"{list(hidden_units)}")
    if aggregation not in AGGREGATIONS:
      raise ValueError(f"aggregation must be one of {list(AGGREGATIONS)}, got "
                       f"{aggregation!r}")
    if not 0.0 <= dropout < 1.0:
      raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    try:
      keras.activations.get(activation)
    except (ValueError, TypeError) as error:
      raise ValueError(f"activation {activation!r} is not a Keras "
                       f"activation: {error}") from None
    self.hidden_units = tuple(int(u) for u in hidden_units)
    self.aggregation = aggregation
    self.dropout = dropout
    self.activation = activation
    self.dropouts = [keras.layers.Dropout(dropout) for _ in self.hidden_units]
    self.encoder_layers = [
        keras.layers.Dense(units, activation=activation, name=f"encoder_{i}")
        for i, units in enumerate(self.hidden_units)]
    self.output_layer = keras.layers.Dense(1, name="agreement_logit")

  def is_unsplittable(self, inputs) -> bool:
    # A batch is small: every replica trains on all of it, as one device.
    return True

  def build(self, input_shape):
    # `load_model` rebuilds from the recorded input shape before it restores
    # the weights, so every variable must exist after `build` alone.
    if isinstance(input_shape, dict):
      left_shape = input_shape.get("left")
    elif (isinstance(input_shape, (list, tuple)) and len(input_shape) == 2
          and isinstance(input_shape[0], (list, tuple))):
      left_shape = input_shape[0]
    else:
      left_shape = input_shape
    shape = tuple(left_shape)
    for layer in self.encoder_layers:
      layer.build(shape)
      shape = shape[:-1] + (layer.units,)
    width = shape[-1] * (2 if self.aggregation == "concat" else 1)
    self.output_layer.build(shape[:-1] + (width,))
    self.built = True

  def encode(self, features: tf.Tensor, training: bool = False) -> tf.Tensor:
    hidden = features
    for dropout, dense in zip(self.dropouts, self.encoder_layers):
      hidden = dense(dropout(hidden, training=training))
    return hidden

  def call(self, inputs: PairInputs, training: bool = False) -> tf.Tensor:
    left, right = _split_pair(inputs)
    left = self.encode(left, training=training)
    right = self.encode(right, training=training)
    if self.aggregation == "dist":
      combined = keras.ops.square(left - right)
    elif self.aggregation == "add":
      combined = left + right
    else:
      combined = keras.ops.concatenate([left, right], axis=-1)
    return keras.ops.squeeze(self.output_layer(combined), axis=-1)

  def get_config(self):
    config = super().get_config()
    config.update(hidden_units=list(self.hidden_units),
                  aggregation=self.aggregation, dropout=self.dropout,
                  activation=self.activation)
    return config


def gather_features(features: Features, ids: np.ndarray) -> np.ndarray:
  if sp.issparse(features):
    return features[ids].toarray()
  return features[ids]


# One compiled logit function per model, so that repeated calls (each
# regularisation step, each evaluation) reuse a single trace.
_LOGIT_FUNCTIONS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _logit_function(model: AgreementModel, num_features: int):
  key = (num_features,)
  functions = _LOGIT_FUNCTIONS.setdefault(model, {})
  if key not in functions:
    spec = tf.TensorSpec([None, num_features], tf.float32)
    # A strong reference here would keep the model alive as its own cache key.
    model_ref = weakref.ref(model)

    @tf.function(input_signature=[spec, spec])
    def logits(left, right):
      return model_ref()({"left": left, "right": right}, training=False)

    functions[key] = logits
  return functions[key]


def pair_logits(model: AgreementModel, features: Features,
                 left_ids: np.ndarray, right_ids: np.ndarray,
                 batch_size: int) -> np.ndarray:
  function = _logit_function(model, features.shape[1])
  out = np.empty(len(left_ids), dtype=np.float32)
  for start in range(0, len(left_ids), batch_size):
    stop = start + batch_size
    out[start:stop] = function(
        gather_features(features, left_ids[start:stop]),
        gather_features(features, right_ids[start:stop])).numpy()
  return out


# Pairs scored per batch by `agreement_probabilities`: only a batch's
# features are ever gathered, never all pairs' at once.
SCORING_BATCH_SIZE = 4096


def agreement_probabilities(model: AgreementModel, graph: Graph, left_ids,
                            right_ids,
                            batch_size: int = SCORING_BATCH_SIZE
                            ) -> np.ndarray:
  """P(same label) for node pairs `(left_ids[k], right_ids[k])`, float32.

  Example:
    >>> agreement_probabilities(model, graph, [0, 5], [1, 7])
  """
  left_ids = np.asarray(left_ids, dtype=np.int64).ravel()
  right_ids = np.asarray(right_ids, dtype=np.int64).ravel()
  if left_ids.shape != right_ids.shape:
    raise ValueError(f"left_ids and right_ids must have the same length, got "
                     f"{left_ids.size} and {right_ids.size}")
  for name, ids in (("left_ids", left_ids), ("right_ids", right_ids)):
    if ids.size and (ids.min() < 0 or ids.max() >= graph.num_nodes):
      raise ValueError(f"{name} name nodes outside [0, {graph.num_nodes})")
  if batch_size < 1:
    raise ValueError(f"batch_size must be >= 1, got {batch_size}")
  if left_ids.size == 0:
    return np.zeros(0, dtype=np.float32)
  logits = pair_logits(model, graph.features, left_ids, right_ids, batch_size)
  return scipy.special.expit(logits).astype(np.float32)
