"""The label table: what a node's label is, whether it has one, and when two
labels agree.

A graph's labels are either class ids `[nodes]` (one class per node) or
multi-hot rows `[nodes, num_classes]` (a set of classes per node, as the
NUS-WIDE / MIRFLICKR concepts or Flickr tags). `UNLABELED` marks a node
without a label: the id itself, or a whole row of it when multi-hot. GAM
grows such a table round by round, so every part that reads one (the graph,
the agreement model's pairs, self-labelling, the regulariser) asks here.

Two labels agree (GAM's agreement target) when the classes are equal, or
when the label sets' Jaccard similarity |A ∩ B| / |A ∪ B| is at least
`AGREEMENT_JACCARD` (0.5: the sets share at least half of their union, so a
node with one concept agrees with a node that has it plus one other but not
with one that has it plus two others; two empty sets agree).

  >>> labels = np.array([2, UNLABELED, 2])
  >>> labeled_rows(labels)
  array([ True, False,  True])
  >>> labels_agree(labels, np.array([0]), np.array([2]))
  array([ True])
"""

from __future__ import annotations

import numpy as np

from graph_models.errors import GraphError, format_ids

UNLABELED = -1
AGREEMENT_JACCARD = 0.5


def labeled_rows(labels: np.ndarray) -> np.ndarray:
  """Which nodes a label table labels: single-label tables hold `UNLABELED`
  for an unlabelled node, multi-hot tables a row of `UNLABELED`."""
  labels = np.asarray(labels)
  if labels.ndim == 2:
    return labels[:, 0] != UNLABELED if labels.shape[1] else np.zeros(
        labels.shape[0], bool)
  return labels != UNLABELED


def keep_labels(labels: np.ndarray, keep: np.ndarray) -> np.ndarray:
  """`labels` with every node outside the boolean mask `keep` unlabelled."""
  labels = np.asarray(labels)
  keep = np.asarray(keep, dtype=bool)
  return np.where(keep[:, None] if labels.ndim == 2 else keep, labels,
                  np.asarray(UNLABELED, labels.dtype))


def checked_labels(labels, num_nodes: int, num_classes: int,
                   name: str) -> np.ndarray:
  """Validates a label table: `[nodes]` integer classes in
  `[0, num_classes)` or `UNLABELED`, or `[nodes, num_classes]` multi-hot rows
  of 0/1, all `UNLABELED` for an unlabelled node. Errors name the nodes."""
  labels = np.asarray(labels)
  if labels.shape not in ((num_nodes,), (num_nodes, num_classes)):
    raise GraphError(
        f"{name}: labels have shape {labels.shape} but there are "
        f"{num_nodes} nodes (features rows); expected ({num_nodes},) class "
        f"ids or ({num_nodes}, {num_classes}) multi-hot rows")
  if labels.size and not (np.issubdtype(labels.dtype, np.integer)
                          or labels.dtype == bool):
    raise GraphError(f"{name}: labels must be integers, got dtype "
                     f"{labels.dtype}")
  if labels.ndim == 2:
    labels = labels.astype(np.int8)
    unlabelled = labels[:, :1] == UNLABELED
    bad = np.flatnonzero(np.where(unlabelled, labels != UNLABELED,
                                  (labels != 0) & (labels != 1)).any(axis=1))
    if bad.size:
      raise GraphError(
          f"{name}: multi-hot label rows must be all 0/1, or all "
          f"{UNLABELED} for an unlabelled node; bad rows at nodes "
          f"{format_ids(bad)}")
    return labels
  labels = labels.astype(np.int64)
  out_of_range = np.flatnonzero((labels < UNLABELED) | (labels >= num_classes))
  if out_of_range.size:
    raise GraphError(
        f"{name}: labels outside [0, {num_classes}) (or "
        f"{UNLABELED} = unlabelled) at nodes {format_ids(out_of_range)}: "
        f"values {format_ids(labels[out_of_range])}")
  return labels


def values_agree(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Whether labels `a[i]` and `b[i]` agree: equal class ids, or label
  sets (multi-hot rows) with Jaccard similarity >= `AGREEMENT_JACCARD`."""
  a, b = np.asarray(a), np.asarray(b)
  if a.ndim == 1:
    return a == b
  a, b = a > 0, b > 0
  union = (a | b).sum(axis=1)
  return (a & b).sum(axis=1) >= AGREEMENT_JACCARD * union


def labels_agree(labels: np.ndarray, left: np.ndarray,
                 right: np.ndarray) -> np.ndarray:
  """Whether nodes `left[i]` and `right[i]` agree in the table `labels`."""
  labels = np.asarray(labels)
  return values_agree(labels[left], labels[right])
