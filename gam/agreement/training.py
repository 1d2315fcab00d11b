"""`train_agreement_model`: fits an `AgreementModel` on balanced batches of
labelled pairs, with early stopping on edges that touch held-out nodes.
"""

from __future__ import annotations

import dataclasses
import time
from typing import List, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from gam.agreement.model import AgreementModel, gather_features, pair_logits
from gam.agreement.pairs import AgreementPairSampler, checked_label_table
from graph_models.graph import Graph

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


def balanced_accuracy(predicted: np.ndarray, targets: np.ndarray) -> float:
  """Mean of the accuracies on agreeing and on disagreeing pairs (of the
  kinds present); 0.5 for a model no better than chance."""
  predicted, targets = np.asarray(predicted, bool), np.asarray(targets, bool)
  return float(np.mean([np.mean(predicted[targets == kind] == kind)
                        for kind in (True, False)
                        if (targets == kind).any()]))


def _held_out_scores(model, features, sampler) -> Tuple[float, float, float]:
  """Held-out (accuracy, mean cross-entropy, balanced accuracy)."""
  logits = pair_logits(model, features, sampler.held_out[:, 0],
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
  labels = checked_label_table(graph, labels, node_filter)
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
    train_step(gather_features(features, left),
               gather_features(features, right), targets)
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
