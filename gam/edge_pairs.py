"""Edges split by label status, for GAM's agreement-weighted regularisation.

GAM (Stretcu et al. 2019, eq. 3) regularises the classifier over edge pairs
(i, j) of three kinds: LL (both ends labelled), LU (one end labelled) and UU
(neither). The left side of an LL or LU pair contributes its *label* and the
right side its prediction; in UU pairs both sides are predictions.

The labelled node must be on the left of every LU pair. An edge stored as
(unlabelled, labelled) is flipped here; left unflipped, the left node's
"label" would be read for a node the learner is not allowed to know (the trap
that inflated GAM's first published numbers). Labels come only from the
label table the caller passes (training labels, grown by self-training),
never from the graph, so validation and test nodes count as unlabelled.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from graph_models.graph import Graph
from graph_models.label_table import labeled_rows

KINDS = ("ll", "lu", "uu")


@dataclasses.dataclass(frozen=True)
class EdgePairs:
  """`[n, 2]` arrays of (left, right) node ids for each kind of edge.

  Each undirected edge appears once; in `lu` the left node is labelled and the
  right one is not.

  Example:
    >>> pairs = EdgePairs.from_graph(graph, labels)
    >>> left, right = pairs.sample("lu", 128, np.random.default_rng(0))
  """

  ll: np.ndarray
  lu: np.ndarray
  uu: np.ndarray

  @classmethod
  def from_graph(cls, graph: Graph, labels: np.ndarray) -> "EdgePairs":
    """Splits `graph`'s edges by which ends `labels` (the table) labels."""
    labels = np.asarray(labels)
    if labels.shape != graph.labels.shape:
      raise ValueError(f"{graph.name}: label table has shape {labels.shape}, "
                       f"expected {graph.labels.shape}")
    pairs = graph.undirected_edges()
    known = labeled_rows(labels)
    labelled = known[pairs]
    lu = pairs[labelled[:, 0] != labelled[:, 1]]
    flip = ~known[lu[:, 0]]
    lu[flip] = lu[flip][:, ::-1]
    return cls(ll=pairs[labelled.all(axis=1)], lu=lu,
               uu=pairs[~labelled.any(axis=1)])

  def count(self, kind: str) -> int:
    return len(self._of(kind))

  def sample(self, kind: str, num_pairs: int, rng: np.random.Generator):
    """`num_pairs` pairs of `kind` drawn with replacement: `(left, right)`.

    Returns empty arrays when the graph has no edge of that kind.
    """
    pairs = self._of(kind)
    if num_pairs < 0:
      raise ValueError(f"num_pairs must be >= 0, got {num_pairs}")
    if len(pairs) == 0:
      empty = np.zeros(0, dtype=np.int64)
      return empty, empty
    chosen = pairs[rng.integers(0, len(pairs), num_pairs)]
    return chosen[:, 0], chosen[:, 1]

  def _of(self, kind: str) -> np.ndarray:
    if kind not in KINDS:
      raise ValueError(f"edge pair kind must be one of {KINDS}, got {kind!r}")
    return getattr(self, kind)


def left_targets(labels: np.ndarray, left: np.ndarray,
                 num_classes: int) -> np.ndarray:
  """One-hot (multi-hot for multi-label tables) labels of the left nodes of
  LL / LU pairs.

  Raises if a left node has no label in the table: that would be the label
  leak this module exists to prevent.
  """
  labels = np.asarray(labels)
  unknown = ~labeled_rows(labels)[left]
  if unknown.any():
    raise ValueError(
        "left node of a labelled pair has no label in the label table: "
        f"{np.asarray(left)[unknown][:10].tolist()}")
  if labels.ndim == 2:
    return labels[left].astype(np.float32)
  return np.eye(num_classes, dtype=np.float32)[labels[left]]
