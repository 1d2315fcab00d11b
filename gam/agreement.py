"""The agreement model of GAM: do two nodes have the same label?

`AgreementModel` is a siamese network: one shared encoder embeds both nodes'
features, an aggregation combines the two embeddings and a linear layer turns
them into one logit of "same label". `train_agreement_model` fits it on the
graph's edges whose two ends carry a label in the given label table, as the
GAM reference trainer does (`use_graph=True, add_negative_edges=True`):
balanced batches of agreeing and disagreeing pairs. Unlike the reference,
half of each batch are random labelled pairs by default
(`random_pair_share`), and what is held out for early stopping and for
measuring the model is a share of the labelled *nodes*, not of the edges:
GAM applies the model to pairs with an end it never saw, and an edge between
two nodes trained on through other pairs reads 1.0 almost always. See
`AgreementTrainingOptions`.

Example:
  >>> labels = np.where(graph.train_mask, graph.labels, UNLABELED)
  >>> model = AgreementModel(hidden_units=(128,), aggregation="dist")
  >>> result = train_agreement_model(model, graph, labels)
  >>> agreement_probabilities(model, graph, [0, 1], [2, 3])  # P(same label)
"""

from __future__ import annotations

import dataclasses
import time
import weakref
from typing import Dict, List, Optional, Sequence, Tuple, Union

import keras
import numpy as np
import scipy.sparse as sp
import scipy.special
import tensorflow as tf

from graph_models.graph import (UNLABELED, Features, Graph, GraphError,
                                 checked_labels, keep_labels, labelled_rows)
from graph_models.label_tasks import labels_agree

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
class AgreementModel(keras.Model):
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


@dataclasses.dataclass(frozen=True)
class AgreementTrainingOptions:
  """How `train_agreement_model` trains.

  Attributes:
    learning_rate: Adam's learning rate.
    batch_size: pairs per step, half agreeing and half disagreeing.
    max_steps: most optimiser steps.
    min_steps: fewest optimiser steps before stopping early.
    eval_every: steps between held-out evaluations.
    patience: evaluations without improvement before stopping early.
    stop_at_perfect: stop at the first evaluation that classifies every
      held-out pair right, as the reference does.
    loss_reduction: "mean" or "sum" (the reference's) of the batch's
      sigmoid cross-entropies; "sum" scales the step by the batch size.
    held_out_fraction: share of the labelled nodes kept out of training (at
      least one once there are three; two always train); the labelled edges
      that touch them measure the model on nodes it has never seen.
    max_held_out_pairs: cap on the held-out edges, so that evaluation stays
      cheap on large graphs (the reference caps at 10,000 too).
    random_pair_share: share of each batch drawn from random labelled pairs
      rather than from edges. The reference trains on edges only (0.0); on
      Cora with 140 labels it memorises the 15-odd agreeing edges and answers
      "different" on 80% of the test nodes' edges (balanced accuracy 0.50);
      0.5 gives 0.55-0.57 there.
    seed: seeds the held-out split and the batch sampling.
  """
  learning_rate: float = 1e-3
  batch_size: int = 128
  max_steps: int = 2000
  min_steps: int = 0
  eval_every: int = 50
  patience: int = 10
  stop_at_perfect: bool = False
  loss_reduction: str = "mean"
  held_out_fraction: float = 0.1
  max_held_out_pairs: int = 10_000
  random_pair_share: float = 0.5
  seed: int = 0

  def __post_init__(self):
    if not self.learning_rate > 0:
      raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
    if self.batch_size < 2:
      raise ValueError(f"batch_size must be >= 2 (one agreeing and one "
                       f"disagreeing pair), got {self.batch_size}")
    for field in ("max_steps", "eval_every", "patience", "max_held_out_pairs"):
      if getattr(self, field) < 1:
        raise ValueError(f"{field} must be >= 1, got {getattr(self, field)}")
    if self.min_steps < 0:
      raise ValueError(f"min_steps must be >= 0, got {self.min_steps}")
    if self.loss_reduction not in ("mean", "sum"):
      raise ValueError(f"loss_reduction must be 'mean' or 'sum', got "
                       f"{self.loss_reduction!r}")
    if not 0.0 <= self.random_pair_share <= 1.0:
      raise ValueError(f"random_pair_share must be in [0, 1], got "
                       f"{self.random_pair_share}")
    if not 0.0 <= self.held_out_fraction < 1.0:
      raise ValueError(f"held_out_fraction must be in [0, 1), got "
                       f"{self.held_out_fraction}")

  def with_max_steps(self, max_steps: int) -> "AgreementTrainingOptions":
    """These options capped at `max_steps` (`min_steps` capped too)."""
    return dataclasses.replace(self, max_steps=max_steps,
                               min_steps=min(self.min_steps, max_steps))


@dataclasses.dataclass
class AgreementTrainingResult:
  """What `train_agreement_model` returns.

  `held_out_accuracy` and `held_out_balanced_accuracy` (the mean of the
  accuracies on agreeing and on disagreeing edges, 0.5 for a model no better
  than chance) are those of the restored (best) weights on the labelled
  edges that touch one of the `num_held_out_nodes` held-out nodes; NaN when
  there was no such edge. Edges join same-label nodes far more often than
  not (81% on Cora), so plain accuracy is best read beside
  `held_out_positive_fraction`, the accuracy of always answering "same
  label". Early stopping picks its step by `held_out_accuracy`, so both are
  slightly optimistic.
  """
  held_out_accuracy: float
  held_out_balanced_accuracy: float
  num_held_out_nodes: int
  steps: int
  best_step: int
  num_train_pairs: int
  num_held_out_pairs: int
  held_out_positive_fraction: float
  history: List[Tuple[int, float]]
  train_seconds: float


def _gather_features(features: Features, ids: np.ndarray) -> np.ndarray:
  if sp.issparse(features):
    return features[ids].toarray()
  return features[ids]


def _check_label_table(graph: Graph, labels, node_filter) -> np.ndarray:
  labels = np.asarray(labels)
  if labels.shape != graph.labels.shape:
    raise ValueError(f"labels has shape {labels.shape}, expected "
                     f"{graph.labels.shape}: one entry (multi-hot row) per "
                     f"node of {graph.name}, {UNLABELED} for unlabelled")
  try:
    labels = checked_labels(labels, graph.num_nodes, graph.num_classes,
                            "labels")
  except GraphError as error:
    raise ValueError(str(error)) from None
  if node_filter is not None:
    labels = keep_labels(labels, _node_mask(node_filter, graph.num_nodes,
                                            "node_filter"))
  return labels


def _node_mask(nodes, num_nodes: int, name: str) -> np.ndarray:
  """A boolean node mask from a mask or from node ids."""
  nodes = np.asarray(nodes)
  if nodes.dtype == bool:
    if nodes.shape != (num_nodes,):
      raise ValueError(f"{name} mask has shape {nodes.shape}, expected "
                       f"({num_nodes},)")
    return nodes
  ids = nodes.astype(np.int64).ravel()
  if ids.size and (ids.min() < 0 or ids.max() >= num_nodes):
    raise ValueError(f"{name} names nodes outside [0, {num_nodes})")
  mask = np.zeros(num_nodes, dtype=bool)
  mask[ids] = True
  return mask


class AgreementPairSampler:
  """The agreement pairs of a label table: held-out edges and train batches.

  Edge pairs are the undirected edges (i < j, no self-loops) whose both ends
  are labelled in `labels`; the target is whether their labels agree
  (`label_tasks.values_agree`: equal classes, or label sets of Jaccard
  similarity >= 0.5). A random `held_out_fraction` of the labelled nodes
  (`held_out_nodes`) is never trained on, neither in edges nor in random
  pairs; the edges touching them are `held_out`, the others `train`. With
  `held_out_pool` (node ids or a boolean mask) they are drawn from those
  nodes only: GAM passes the original training nodes, whose labels are
  true, not the classifier's own self-labels.

  Each training batch has `batch_size // 2` agreeing pairs and the rest
  disagreeing. A slot is a random labelled pair of the right kind (equal or
  different labels) with probability `random_pair_share`, else a training
  edge of that kind drawn with replacement. As the reference does for
  negatives, the rarer kind of edge is topped up with random pairs as if it
  had as many edges as the commoner kind (all random when it has none). A
  kind with neither edges nor random pairs (one class only) leaves the whole
  batch to the other kind. Only `labels` is read, never `graph.labels`.
  Random pairs of multi-label tables are drawn by rejection (pairs of
  random labelled nodes, kept when they are of the wanted kind).
  """

  def __init__(self, graph: Graph, labels: np.ndarray, batch_size: int = 128,
               held_out_fraction: float = 0.1,
               max_held_out_pairs: int = 10_000,
               random_pair_share: float = 0.5, seed: int = 0,
               held_out_pool: Optional[np.ndarray] = None):
    self.labels = labels = np.asarray(labels, dtype=np.int64)
    self.batch_size = batch_size
    self.rng = np.random.default_rng(seed)
    self._num_nodes = graph.num_nodes
    known = labelled_rows(labels)
    labelled = np.flatnonzero(known)
    if labelled.size < 2:
      raise ValueError(f"the agreement model needs at least 2 labelled nodes "
                       f"to form a pair; the label table has {labelled.size}")

    pool = labelled
    if held_out_pool is not None:
      pool = labelled[_node_mask(held_out_pool, graph.num_nodes,
                                 "held_out_pool")[labelled]]
    held = np.zeros(graph.num_nodes, dtype=bool)
    num_held_out = 0
    if held_out_fraction > 0 and labelled.size >= 3 and pool.size:
      num_held_out = min(max(1, int(pool.size * held_out_fraction)),
                         labelled.size - 2, pool.size)
    held[self.rng.choice(pool, num_held_out, replace=False)] = True
    self.held_out_nodes = np.flatnonzero(held)

    senders, receivers, _ = graph.edges()
    low, high = np.minimum(senders, receivers), np.maximum(senders, receivers)
    keep = (low != high) & known[low] & known[high]
    pairs = np.unique(np.stack([low[keep], high[keep]], axis=1), axis=0)
    pairs = pairs[self.rng.permutation(len(pairs))]
    touches = held[pairs[:, 0]] | held[pairs[:, 1]]
    self.held_out = pairs[touches][:max_held_out_pairs]
    self.train = pairs[~touches]
    self.held_out_targets = self.agree(self.held_out)
    train_agree = self.agree(self.train)
    edges = {"pos": self.train[train_agree], "neg": self.train[~train_agree]}
    self._edges = edges

    # Random pairs come from the labelled nodes that are not held out.
    self._labelled = labelled = labelled[~held[labelled]]
    if labels.ndim == 2:
      # Which kinds random pairs can give, from a probe of random pairs.
      probe = self.rng.choice(labelled, size=(4096, 2))
      probe = probe[probe[:, 0] != probe[:, 1]]
      probe_agree = self.agree(probe)
      can_draw = {"pos": bool(probe_agree.any()),
                  "neg": bool((~probe_agree).any())}
    else:
      can_draw = self._index_classes(labelled)
    self._can_draw = can_draw

    most = max(len(edges["pos"]), len(edges["neg"]))
    self._edge_share = {}
    for kind in ("pos", "neg"):
      if not can_draw[kind]:
        self._edge_share[kind] = float(len(edges[kind]) > 0)
      else:
        topped_up = len(edges[kind]) / most if most else 0.0
        self._edge_share[kind] = (1.0 - random_pair_share) * topped_up

  def _index_classes(self, labelled: np.ndarray) -> Dict[str, bool]:
    """Sorts the labelled nodes by class (a class is then a contiguous
    slice, which makes "a random node of another / the same class" one
    integer draw) and says which kinds random pairs can give."""
    labels = self.labels
    self._nodes = labelled[np.argsort(labels[labelled], kind="stable")]
    classes = labels[self._nodes]
    counts = np.bincount(classes)
    self._start = (np.cumsum(counts) - counts)[classes]
    self._count = counts[classes]
    num_same = int((counts * (counts - 1) // 2).sum())
    num_different = labelled.size * (labelled.size - 1) // 2 - num_same
    return {"pos": num_same > 0, "neg": num_different > 0}

  @property
  def num_train_pairs(self) -> int:
    return len(self.train)

  def agree(self, pairs: np.ndarray) -> np.ndarray:
    return labels_agree(self.labels, pairs[:, 0], pairs[:, 1])

  def _random_pairs(self, count: int, same: bool) -> np.ndarray:
    if self.labels.ndim == 2:
      return self._rejected_pairs(count, same)
    n = self._nodes.size
    if same:
      eligible = np.flatnonzero(self._count >= 2)
      first = eligible[self.rng.integers(0, eligible.size, count)]
      offset = self.rng.integers(0, self._count[first] - 1)
      second = self._start[first] + offset
      second = second + (second >= first)
    else:
      eligible = np.flatnonzero(self._count < n)
      first = eligible[self.rng.integers(0, eligible.size, count)]
      offset = self.rng.integers(0, n - self._count[first])
      second = np.where(offset < self._start[first], offset,
                        offset + self._count[first])
    return np.stack([self._nodes[first], self._nodes[second]], axis=1)

  def _rejected_pairs(self, count: int, same: bool) -> np.ndarray:
    found, need = [], count
    for _ in range(1000):
      if need == 0:
        break
      pairs = self.rng.choice(self._labelled, size=(4 * need + 16, 2))
      pairs = pairs[(pairs[:, 0] != pairs[:, 1])
                    & (self.agree(pairs) == same)][:need]
      found.append(pairs)
      need -= len(pairs)
    if need:
      raise ValueError(f"could not draw {count} random labelled pairs whose "
                       f"labels {'agree' if same else 'disagree'}")
    return np.concatenate(found)

  def _draw(self, kind: str, count: int) -> Optional[np.ndarray]:
    edges, edge_share = self._edges[kind], self._edge_share[kind]
    if edge_share == 0.0 and not self._can_draw[kind]:
      return None
    use_edge = self.rng.random(count) < edge_share
    pairs = np.empty((count, 2), dtype=np.int64)
    num_edges = int(use_edge.sum())
    if num_edges:
      pairs[use_edge] = edges[self.rng.integers(0, len(edges), num_edges)]
    if num_edges < count:
      pairs[~use_edge] = self._random_pairs(count - num_edges, kind == "pos")
    return pairs

  def batch(self) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(left_ids, right_ids, targets)` of one balanced training batch."""
    num_pos = self.batch_size // 2
    positive = self._draw("pos", num_pos)
    negative = self._draw("neg", self.batch_size - num_pos)
    if positive is None:
      positive, negative = negative[:0], self._draw("neg", self.batch_size)
    elif negative is None:
      positive, negative = self._draw("pos", self.batch_size), positive[:0]
    pairs = np.concatenate([positive, negative])
    targets = np.r_[np.ones(len(positive)), np.zeros(len(negative))]
    # Edges are stored low id first; random sides keep "concat" models from
    # learning that order.
    swap = self.rng.random(len(pairs)) < 0.5
    pairs[swap] = pairs[swap, ::-1]
    return pairs[:, 0], pairs[:, 1], targets.astype(np.float32)


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


def _pair_logits(model: AgreementModel, features: Features,
                 left_ids: np.ndarray, right_ids: np.ndarray,
                 batch_size: int) -> np.ndarray:
  function = _logit_function(model, features.shape[1])
  out = np.empty(len(left_ids), dtype=np.float32)
  for start in range(0, len(left_ids), batch_size):
    stop = start + batch_size
    out[start:stop] = function(
        _gather_features(features, left_ids[start:stop]),
        _gather_features(features, right_ids[start:stop])).numpy()
  return out


def agreement_probabilities(model: AgreementModel, graph: Graph, left_ids,
                            right_ids, batch_size: int = 4096) -> np.ndarray:
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
  logits = _pair_logits(model, graph.features, left_ids, right_ids, batch_size)
  return scipy.special.expit(logits).astype(np.float32)


def balanced_accuracy(predicted: np.ndarray, targets: np.ndarray) -> float:
  """Mean of the accuracies on agreeing and on disagreeing pairs (of the
  kinds present); 0.5 for a model no better than chance."""
  predicted, targets = np.asarray(predicted, bool), np.asarray(targets, bool)
  return float(np.mean([np.mean(predicted[targets == kind] == kind)
                        for kind in (True, False)
                        if (targets == kind).any()]))


def _held_out_scores(model, features, sampler) -> Tuple[float, float, float]:
  """Held-out (accuracy, mean cross-entropy, balanced accuracy)."""
  logits = _pair_logits(model, features, sampler.held_out[:, 0],
                        sampler.held_out[:, 1], 4096)
  targets = sampler.held_out_targets
  accuracy = float(np.mean((logits > 0) == targets))
  # Stable sigmoid cross-entropy: max(x, 0) - x * z + log(1 + exp(-|x|)).
  loss = float(np.mean(np.maximum(logits, 0) - logits * targets
                       + np.log1p(np.exp(-np.abs(logits)))))
  return accuracy, loss, balanced_accuracy(logits > 0, targets)


def train_agreement_model(
    model: AgreementModel, graph: Graph, labels: np.ndarray,
    options: AgreementTrainingOptions = AgreementTrainingOptions(),
    node_filter: Optional[np.ndarray] = None,
    held_out_pool: Optional[np.ndarray] = None) -> AgreementTrainingResult:
  """Trains `model` on the labelled edges of `graph`; restores the best weights.

  Only `labels` is read, never `graph.labels`: pass the labels the caller may
  use (the training labels, grown by self-training), never validation or test
  labels. `node_filter` (a boolean mask or node ids) further limits the
  labelled nodes used; `held_out_pool` limits the nodes held out. See
  `AgreementPairSampler` for how pairs are chosen.

  Every `options.eval_every` steps the held-out edges (those touching the
  held-out labelled nodes, see `AgreementPairSampler`) are scored; weights
  improve when held-out accuracy rises, or stays equal with a lower held-out
  loss (small held-out sets tie often). Training stops after
  `options.patience` evaluations without improvement (once it has run
  `options.min_steps`), at a perfect evaluation if `options.stop_at_perfect`,
  or at `options.max_steps`, then the best weights are restored. Without held-out
  edges it runs `max_steps` steps. Training continues from the model's current
  weights: build a fresh model to start over. Batch sampling is seeded by
  `options.seed`; weight initialisation and dropout follow Keras's global seed
  (`keras.utils.set_random_seed`). A model made under a `tf.distribute`
  strategy trains under it, every replica on the whole batch (the model is
  small; the updates stay those of one device).

  Example:
    >>> labels = np.where(graph.train_mask, graph.labels, UNLABELED)
    >>> result = train_agreement_model(AgreementModel(), graph, labels)
    >>> result.held_out_accuracy
  """
  start_time = time.perf_counter()
  labels = _check_label_table(graph, labels, node_filter)
  sampler = AgreementPairSampler(
      graph, labels, options.batch_size, options.held_out_fraction,
      options.max_held_out_pairs, options.random_pair_share, options.seed,
      held_out_pool)
  features = graph.features
  num_features = graph.num_features
  strategy = model.distribute_strategy
  with strategy.scope():
    if not model.built:
      model.build({"left": (None, num_features),
                   "right": (None, num_features)})
    optimizer = keras.optimizers.Adam(options.learning_rate)
    optimizer.build(model.trainable_variables)
  spec = tf.TensorSpec([None, num_features], tf.float32)

  def replica_step(left, right, targets):
    with tf.GradientTape() as tape:
      logits = model({"left": left, "right": right}, training=True)
      losses = tf.nn.sigmoid_cross_entropy_with_logits(labels=targets,
                                                       logits=logits)
      loss = (tf.reduce_sum(losses) if options.loss_reduction == "sum"
              else tf.reduce_mean(losses))
      if model.losses:
        loss += tf.add_n(model.losses)
      # Every replica trains on the whole batch and the optimizer sums the
      # replicas' gradients.
      loss /= strategy.num_replicas_in_sync
    variables = model.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

  @tf.function(input_signature=[spec, spec, tf.TensorSpec([None], tf.float32)])
  def train_step(left, right, targets):
    strategy.run(replica_step, args=(left, right, targets))

  has_held_out = len(sampler.held_out) > 0
  best_score, best_balanced = (-1.0, -np.inf), float("nan")
  best_weights, best_step = model.get_weights(), 0
  history: List[Tuple[int, float]] = []
  evaluations_without_gain = 0
  step = 0
  while step < options.max_steps:
    left, right, targets = sampler.batch()
    train_step(_gather_features(features, left),
               _gather_features(features, right), targets)
    step += 1
    if not has_held_out or (step % options.eval_every
                            and step != options.max_steps):
      continue
    accuracy, loss, balanced = _held_out_scores(model, features, sampler)
    history.append((step, accuracy))
    if (accuracy, -loss) > best_score:
      best_score, best_weights, best_step = (accuracy, -loss), \
          model.get_weights(), step
      best_balanced = balanced
      evaluations_without_gain = 0
    else:
      evaluations_without_gain += 1
    if options.stop_at_perfect and accuracy == 1.0:
      break
    if (evaluations_without_gain >= options.patience
        and step >= options.min_steps):
      break

  if has_held_out:
    model.set_weights(best_weights)
    held_out_accuracy = best_score[0]
  else:
    best_step, held_out_accuracy = step, float("nan")
  return AgreementTrainingResult(
      held_out_accuracy=held_out_accuracy,
      held_out_balanced_accuracy=best_balanced,
      num_held_out_nodes=len(sampler.held_out_nodes), steps=step,
      best_step=best_step,
      num_train_pairs=sampler.num_train_pairs,
      num_held_out_pairs=len(sampler.held_out),
      held_out_positive_fraction=(float(sampler.held_out_targets.mean())
                                  if has_held_out else float("nan")),
      history=history, train_seconds=time.perf_counter() - start_time)
