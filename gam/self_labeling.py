"""Self-training: which unlabelled nodes get a permanent predicted label.

After each GAM round the classifier's most confident predictions on the
unlabelled training candidates become labels (Stretcu et al. 2019, sec. 3.3;
the reference code's `keep_label_proportions`): per class c, the top
`int(share_c * num_samples_to_label)` candidates predicted as c, where
share_c is class c's share of the *original* labels, and only predictions
whose maximum probability reaches `min_confidence`. Validation and test
nodes are never candidates.

Multi-label graphs (sigmoid outputs): a candidate's label set is the classes
of probability >= 0.5, its confidence the least sure of its per-class
decisions, min_c max(p_c, 1 - p_c), and for the class quotas it counts as
its most probable class; shares are each class's share of the positive
entries of the original label sets. A candidate predicted with an empty set
is never labelled.

`confidence_for_precision` turns a wanted precision of the new labels into
a confidence threshold, read from the validation nodes: as the classifier's
remaining candidates get harder round after round, the threshold rises and
fewer (or no) labels are added, instead of labels that are mostly wrong.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from graph_models.graph import Graph
from graph_models.label_table import labeled_rows, values_agree


def label_candidates(graph: Graph, labels: np.ndarray) -> np.ndarray:
  """Ids of nodes without a label in `labels` that are not val/test nodes."""
  labels = np.asarray(labels)
  if labels.shape != graph.labels.shape:
    raise ValueError(f"{graph.name}: label table has shape {labels.shape}, "
                     f"expected {graph.labels.shape}")
  return np.flatnonzero(~labeled_rows(labels) & ~graph.val_mask
                        & ~graph.test_mask)


def class_shares(labels: np.ndarray, num_classes: int) -> np.ndarray:
  """Each class's share of the labelled entries of `labels` (of the
  positive entries, for multi-hot tables)."""
  labels = np.asarray(labels)
  known = labels[labeled_rows(labels)]
  if known.size == 0:
    raise ValueError("no labelled node to take class shares from")
  if labels.ndim == 2:
    counts = known.sum(axis=0).astype(np.float64)
    return counts / max(counts.sum(), 1.0)
  return np.bincount(known, minlength=num_classes) / known.size


def predictions(probabilities: np.ndarray, multilabel: bool = False
                ) -> Tuple[np.ndarray, np.ndarray]:
  """`(confidence, predicted label values)` of each row of `probabilities`
  (see the module docstring; an empty multi-label set has confidence -1)."""
  probabilities = np.asarray(probabilities, dtype=np.float64)
  if multilabel:
    confidence = np.maximum(probabilities, 1.0 - probabilities).min(axis=1)
    confidence[probabilities.max(axis=1) < 0.5] = -1.0
    return confidence, (probabilities >= 0.5).astype(np.int8)
  return probabilities.max(axis=1), probabilities.argmax(axis=1)


def confidence_for_precision(probabilities: np.ndarray, labels: np.ndarray,
                             precision: float, multilabel: bool = False,
                             min_support: int = 10) -> Optional[float]:
  """The lowest confidence threshold at which the predictions on labelled
  (validation) nodes are right at a rate >= `precision`.

  Predictions are ranked by confidence; the threshold is the confidence of
  the last of the longest top run (at least `min_support` nodes, so one lucky
  node does not decide) whose share of right predictions is >= `precision`.
  None when no such run exists: no prediction is trustworthy enough.

  Example:
    >>> val = graph.split_nodes("val")
    >>> confidence_for_precision(probabilities[val], graph.labels[val], 0.9)
    0.62
  """
  if not 0.0 < precision <= 1.0:
    raise ValueError(f"precision must be in (0, 1], got {precision}")
  confidence, predicted = predictions(probabilities, multilabel)
  if len(confidence) != len(labels):
    raise ValueError(f"{len(confidence)} predictions for {len(labels)} "
                     "labels")
  order = np.argsort(-confidence, kind="stable")
  right = values_agree(predicted[order], np.asarray(labels)[order])
  share = np.cumsum(right) / np.arange(1, len(right) + 1)
  reached = np.flatnonzero((share >= precision)
                           & (np.arange(len(right)) >= min_support - 1)
                           & (confidence[order] >= 0))
  return float(confidence[order][reached[-1]]) if reached.size else None


def select_new_labels(probabilities: np.ndarray, candidates: np.ndarray,
                      num_samples_to_label: int, min_confidence: float = 0.0,
                      shares: np.ndarray = None, multilabel: bool = False
                      ) -> Tuple[np.ndarray, np.ndarray]:
  """`(node ids, labels)` to add, most confident first within each class.

  Args:
    probabilities: `[len(candidates), classes]` predicted class probabilities
      (per-class sigmoid probabilities if `multilabel`).
    candidates: the node ids the rows of `probabilities` belong to.
    num_samples_to_label: most labels to add in total.
    min_confidence: smallest maximum probability a new label may have.
    shares: per-class shares (`class_shares` of the original labels); with
      it, class c gets at most `int(shares[c] * num_samples_to_label)` new
      labels, without it the most confident predictions win regardless of
      class.

  Ties in confidence go to the lower node id, so the choice is deterministic.

  Example:
    >>> ids, new = select_new_labels(probs, candidates, 200, 0.0,
    ...                              class_shares(train_labels, 7))
  """
  probabilities = np.asarray(probabilities, dtype=np.float64)
  candidates = np.asarray(candidates, dtype=np.int64)
  if probabilities.ndim != 2 or len(probabilities) != len(candidates):
    raise ValueError(f"probabilities must be [{len(candidates)}, classes], "
                     f"got shape {probabilities.shape}")
  if num_samples_to_label < 0:
    raise ValueError(f"num_samples_to_label must be >= 0, got "
                     f"{num_samples_to_label}")
  if not 0.0 <= min_confidence <= 1.0:
    raise ValueError(f"min_confidence must be in [0, 1], got {min_confidence}")
  if not np.isfinite(probabilities).all():
    bad = candidates[~np.isfinite(probabilities).all(axis=1)]
    raise ValueError(f"non-finite predicted probabilities for nodes "
                     f"{bad[:10].tolist()}")
  confidence, values = predictions(probabilities, multilabel)
  predicted = probabilities.argmax(axis=1)
  order = np.lexsort((candidates, -confidence))
  order = order[(confidence[order] >= min_confidence)
                & (confidence[order] >= 0)]
  if shares is None:
    chosen = order[:num_samples_to_label]
  else:
    shares = np.asarray(shares, dtype=np.float64)
    if shares.shape != (probabilities.shape[1],):
      raise ValueError(f"shares must have one entry per class "
                       f"({probabilities.shape[1]}), got shape {shares.shape}")
    quota = (shares * num_samples_to_label).astype(np.int64)
    # Position of each candidate among those predicted as the same class.
    rank = np.zeros(len(order), dtype=np.int64)
    for c in range(len(quota)):
      in_class = predicted[order] == c
      rank[in_class] = np.arange(in_class.sum())
    chosen = order[rank < quota[predicted[order]]]
  if multilabel:
    return candidates[chosen], values[chosen]
  return candidates[chosen], values[chosen].astype(np.int64)
