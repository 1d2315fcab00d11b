"""The in-memory graph every part of the package works on.

A `Graph` holds node features (dense or scipy-sparse), a weighted adjacency
matrix in CSR form, labels (class ids, or multi-hot rows for multi-label
graphs; `UNLABELED` for nodes without one) and
train / validation / test masks. It is immutable: the transformations
(`symmetrized`, `with_self_loops`, `kipf_normalized`, ...) return new graphs,
in the style of `graph_nets.graphs.GraphsTuple.replace`.

Convention: `adjacency[i, j]` is the weight of the edge from sender `j` to
receiver `i`, so row `i` lists the neighbours whose messages node `i`
aggregates and `adjacency @ features` is one step of message passing.
"""

from __future__ import annotations

import dataclasses
from typing import Optional, Union

import numpy as np
import scipy.sparse as sp

from graph_models.errors import GraphError, format_ids
from graph_models.label_table import UNLABELED, checked_labels, labeled_rows

Features = Union[np.ndarray, sp.csr_matrix]


def _as_mask(mask: Optional[np.ndarray], n: int, field: str) -> np.ndarray:
  if mask is None:
    return np.zeros(n, dtype=bool)
  mask = np.asarray(mask)
  if mask.shape != (n,):
    raise GraphError(f"{field} has shape {mask.shape}, expected ({n},) - one "
                     "entry per node")
  return mask.astype(bool)


def _dedupe_max(rows, cols, weights, n) -> sp.csr_matrix:
  """CSR matrix where duplicate (row, col) entries keep their largest weight.

  Summing duplicates (scipy's default) would turn an edge listed twice into an
  edge of weight 2, which is not what an edge list with repeats means.
  """
  rows = np.asarray(rows, dtype=np.int64)
  cols = np.asarray(cols, dtype=np.int64)
  weights = np.asarray(weights, dtype=np.float32)
  if rows.size:
    order = np.lexsort((cols, rows))
    rows, cols, weights = rows[order], cols[order], weights[order]
    starts = np.flatnonzero(
        np.r_[True, (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])])
    weights = np.maximum.reduceat(weights, starts)
    rows, cols = rows[starts], cols[starts]
  matrix = sp.csr_matrix((weights, (rows, cols)), shape=(n, n),
                         dtype=np.float32)
  matrix.sort_indices()
  return matrix


def undirected_edges(senders: np.ndarray, receivers: np.ndarray,
                     num_nodes: int) -> np.ndarray:
  """`[n, 2]` rows `(low, high)`, one per undirected edge, self-loops
  dropped, sorted: `np.unique` of the sorted rows, without its cost.

  An edge is deduplicated as one int64 key `low * num_nodes + high` (exact
  below 3e9 nodes) by a plain sort: `np.unique(axis=0)` of the rows, and
  even NumPy 2's hash-based 1-D `np.unique` of the keys, are tens of times
  slower (2M directed edges: 2.7 s against 0.1 s), and a GAM round splits
  every edge of the graph.
  """
  keep = senders != receivers
  low, high = senders[keep], receivers[keep]
  keys = np.minimum(low, high).astype(np.int64)
  keys *= num_nodes
  keys += np.maximum(low, high)
  del low, high
  keys.sort()
  if keys.size:
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
  return np.stack([keys // num_nodes, keys % num_nodes], axis=1)


@dataclasses.dataclass(frozen=True, eq=False)
class Graph:
  """A node-classification graph.

  Example:
    >>> graph = Graph.from_edges(
    ...     features=np.eye(3, dtype=np.float32),
    ...     senders=[0, 1], receivers=[1, 2],
    ...     labels=[0, 1, UNLABELED], num_classes=2,
    ...     train_mask=[True, True, False]).symmetrized()
    >>> graph.num_edges
    4
  """

  features: Features
  adjacency: sp.csr_matrix
  labels: np.ndarray
  num_classes: int
  train_mask: np.ndarray
  val_mask: np.ndarray
  test_mask: np.ndarray
  name: str = "graph"

  def __post_init__(self):
    features = self.features
    if sp.issparse(features):
      features = sp.csr_matrix(features, dtype=np.float32)
      values = features.data
    else:
      features = np.asarray(features, dtype=np.float32)
      if features.ndim != 2:
        raise GraphError(f"{self.name}: features must be a 2-D [nodes, "
                         f"features] array, got shape {features.shape}")
      values = features
    n = features.shape[0]
    bad = ~np.isfinite(values)
    if bad.any():
      if sp.issparse(features):
        rows = np.repeat(np.arange(n), np.diff(features.indptr))[
            np.flatnonzero(bad)]
      else:
        rows = np.flatnonzero(bad.any(axis=1))
      raise GraphError(f"{self.name}: features contain NaN or inf at nodes "
                       f"{format_ids(np.unique(rows))}")
    object.__setattr__(self, "features", features)

    adjacency = self.adjacency
    if not sp.issparse(adjacency):
      raise GraphError(f"{self.name}: adjacency must be a scipy sparse matrix, "
                       f"got {type(adjacency).__name__}")
    if adjacency.shape != (n, n):
      raise GraphError(f"{self.name}: adjacency has shape {adjacency.shape} but "
                       f"there are {n} nodes (features rows)")
    adjacency = sp.csr_matrix(adjacency, dtype=np.float32)
    adjacency.sort_indices()
    if adjacency.nnz and (not np.isfinite(adjacency.data).all()
                          or (adjacency.data < 0).any()):
      bad_rows = np.repeat(np.arange(n), np.diff(adjacency.indptr))[
          ~np.isfinite(adjacency.data) | (adjacency.data < 0)]
      raise GraphError(f"{self.name}: edge weights must be finite and >= 0; "
                       f"bad weights on edges into nodes "
                       f"{format_ids(np.unique(bad_rows))}")
    object.__setattr__(self, "adjacency", adjacency)

    if not isinstance(self.num_classes, (int, np.integer)) or self.num_classes < 1:
      raise GraphError(f"{self.name}: num_classes must be a positive integer, "
                       f"got {self.num_classes!r}")
    object.__setattr__(self, "num_classes", int(self.num_classes))
    object.__setattr__(self, "labels",
                       checked_labels(self.labels, n, self.num_classes,
                                      self.name))

    for field in ("train_mask", "val_mask", "test_mask"):
      object.__setattr__(self, field, _as_mask(getattr(self, field), n, field))
    unlabelled_train = np.flatnonzero(self.train_mask & ~self.labeled_mask)
    if unlabelled_train.size:
      raise GraphError(f"{self.name}: training nodes without a label: "
                       f"{format_ids(unlabelled_train)}")
    for a, b in (("train_mask", "val_mask"), ("train_mask", "test_mask"),
                 ("val_mask", "test_mask")):
      both = np.flatnonzero(getattr(self, a) & getattr(self, b))
      if both.size:
        raise GraphError(f"{self.name}: nodes are in both {a} and {b}: "
                         f"{format_ids(both)}")

  # Construction ---------------------------------------------------------------

  @classmethod
  def from_edges(cls, features: Features, senders, receivers, labels,
                 num_classes: int, weights=None, train_mask=None,
                 val_mask=None, test_mask=None, name: str = "graph") -> "Graph":
    """Builds a graph from an edge list, checking every node id.

    Duplicate edges are merged keeping the largest weight.
    """
    n = features.shape[0]
    senders = np.asarray(senders, dtype=np.int64).ravel()
    receivers = np.asarray(receivers, dtype=np.int64).ravel()
    if senders.shape != receivers.shape:
      raise GraphError(f"{name}: {senders.size} senders but {receivers.size} "
                       "receivers")
    for field, ids in (("senders", senders), ("receivers", receivers)):
      bad = np.flatnonzero((ids < 0) | (ids >= n))
      if bad.size:
        raise GraphError(f"{name}: edges name nodes that do not exist ({field} "
                         f"outside [0, {n})): {format_ids(ids[bad])}")
    if weights is None:
      weights = np.ones(senders.size, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float32).ravel()
    if weights.shape != senders.shape:
      raise GraphError(f"{name}: {weights.size} edge weights for "
                       f"{senders.size} edges")
    adjacency = _dedupe_max(receivers, senders, weights, n)
    return cls(features=features, adjacency=adjacency, labels=labels,
               num_classes=num_classes, train_mask=train_mask,
               val_mask=val_mask, test_mask=test_mask, name=name)

  def replace(self, **changes) -> "Graph":
    """Returns a copy with some fields replaced (validated again)."""
    return dataclasses.replace(self, **changes)

  # Sizes ------------------------------------------------------------------------

  @property
  def num_nodes(self) -> int:
    return self.features.shape[0]

  @property
  def num_features(self) -> int:
    return self.features.shape[1]

  @property
  def num_edges(self) -> int:
    return self.adjacency.nnz

  def edges(self):
    """Returns `(senders, receivers, weights)`, sorted by receiver."""
    adjacency = self.adjacency
    receivers = np.repeat(np.arange(self.num_nodes, dtype=np.int64),
                          np.diff(adjacency.indptr))
    return (adjacency.indices.astype(np.int64), receivers,
            adjacency.data.astype(np.float32))

  def undirected_edges(self) -> np.ndarray:
    """`[m, 2]` int64 rows `(low, high)`, one per undirected edge (an edge
    listed either way or both ways), self-loops dropped, sorted.

    Read from the CSR arrays in their own (usually int32) type, without the
    int64 copies `edges` makes: at 200M directed edges those are 4 GB.
    """
    indices = self.adjacency.indices
    receivers = np.repeat(np.arange(self.num_nodes, dtype=indices.dtype),
                          np.diff(self.adjacency.indptr))
    return undirected_edges(indices, receivers, self.num_nodes)

  def dense_features(self) -> np.ndarray:
    if sp.issparse(self.features):
      return self.features.toarray()
    return self.features

  # Label sets -------------------------------------------------------------------

  @property
  def is_multilabel(self) -> bool:
    """Whether labels are multi-hot rows (a set of classes per node)."""
    return self.labels.ndim == 2

  @property
  def labeled_mask(self) -> np.ndarray:
    return labeled_rows(self.labels)

  def split_nodes(self, split: str) -> np.ndarray:
    """Node ids of `split`: 'train', 'val' or 'test'."""
    masks = {"train": self.train_mask, "val": self.val_mask,
             "test": self.test_mask}
    if split not in masks:
      raise ValueError(f"split must be one of {sorted(masks)}, got {split!r}")
    return np.flatnonzero(masks[split])

  def require_training_labels(self) -> None:
    """Raises unless at least one training node is labelled."""
    if not self.train_mask.any():
      raise GraphError(f"{self.name}: no labelled training node (train_mask is "
                       "empty); nothing to learn from")

  # Structure transforms -------------------------------------------------------

  def symmetrized(self) -> "Graph":
    """Makes every edge undirected; a pair listed both ways keeps the max."""
    return self.replace(adjacency=self.adjacency.maximum(self.adjacency.T))

  def without_self_loops(self) -> "Graph":
    adjacency = self.adjacency.tolil()
    adjacency.setdiag(0)
    adjacency = adjacency.tocsr()
    adjacency.eliminate_zeros()
    return self.replace(adjacency=adjacency)

  def with_self_loops(self, weight: float = 1.0) -> "Graph":
    """Replaces any existing self-loop by one of `weight` on every node."""
    eye = sp.identity(self.num_nodes, dtype=np.float32, format="csr") * weight
    return self.replace(
        adjacency=self.without_self_loops().adjacency + eye)

  def kipf_normalized(self) -> "Graph":
    """Returns the graph with weights of D^-1/2 (A + I) D^-1/2.

    Kipf & Welling (2017), eq. 2: A is the symmetric adjacency, I adds a
    self-loop per node and D is the degree matrix of A + I.
    """
    adjacency = self.with_self_loops().adjacency
    degree = np.asarray(adjacency.sum(axis=1)).ravel()
    inv_sqrt = 1.0 / np.sqrt(degree)
    scale = sp.diags(inv_sqrt.astype(np.float32))
    return self.replace(adjacency=(scale @ adjacency @ scale).tocsr())

  def row_normalized_features(self) -> "Graph":
    """Scales each node's features to sum to 1 (rows of zeros stay zero)."""
    features = self.features
    sums = np.asarray(abs(features).sum(axis=1)).ravel()
    inv = np.where(sums > 0, 1.0 / np.where(sums > 0, sums, 1.0), 0.0)
    if sp.issparse(features):
      features = sp.diags(inv.astype(np.float32)) @ features
    else:
      features = features * inv[:, None].astype(np.float32)
    return self.replace(features=features)

  def majority_class_rate(self, split: str = "test") -> float:
    """Accuracy of the best constant prediction on `split` (its commonest label).

    Raises:
      ValueError: for multi-label graphs, where it has no meaning (compare
        with `tag_baselines.MostFrequentTags` instead).
    """
    if self.is_multilabel:
      raise ValueError(f"{self.name}: majority_class_rate is for single-label "
                       "graphs; use tag_baselines.MostFrequentTags for "
                       "multi-label ones")
    labels = self.labels[self.split_nodes(split)]
    labels = labels[labels != UNLABELED]
    if labels.size == 0:
      return 0.0
    return float(np.bincount(labels).max() / labels.size)

  def __repr__(self) -> str:
    kind = "sparse" if sp.issparse(self.features) else "dense"
    multi = ", multi-label" if self.is_multilabel else ""
    return (f"Graph(name={self.name!r}, nodes={self.num_nodes}, "
            f"edges={self.num_edges}, features={self.num_features} ({kind}), "
            f"classes={self.num_classes}{multi}, train/val/test="
            f"{int(self.train_mask.sum())}/{int(self.val_mask.sum())}/"
            f"{int(self.test_mask.sum())})")
