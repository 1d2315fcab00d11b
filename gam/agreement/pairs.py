"""`AgreementPairSampler`: the pairs an agreement model trains and is measured
on - labelled edges, held-out nodes, balanced batches - from a label table.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

from graph_models.graph import Graph, GraphError
from graph_models.label_table import (UNLABELED, checked_labels, keep_labels,
                                      labeled_rows, labels_agree)

def checked_label_table(graph: Graph, labels, node_filter) -> np.ndarray:
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
    labels = keep_labels(labels, node_mask(node_filter, graph.num_nodes,
                                            "node_filter"))
  return labels


def node_mask(nodes, num_nodes: int, name: str) -> np.ndarray:
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
  (`label_table.values_agree`: equal classes, or label sets of Jaccard
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
    known = labeled_rows(labels)
    labelled = np.flatnonzero(known)
    if labelled.size < 2:
      raise ValueError(f"the agreement model needs at least 2 labelled nodes "
                       f"to form a pair; the label table has {labelled.size}")

    pool = labelled
    if held_out_pool is not None:
      pool = labelled[node_mask(held_out_pool, graph.num_nodes,
                                 "held_out_pool")[labelled]]
    held = np.zeros(graph.num_nodes, dtype=bool)
    num_held_out = 0
    if held_out_fraction > 0 and labelled.size >= 3 and pool.size:
      num_held_out = min(max(1, int(pool.size * held_out_fraction)),
                         labelled.size - 2, pool.size)
    held[self.rng.choice(pool, num_held_out, replace=False)] = True
    self.held_out_nodes = np.flatnonzero(held)

    pairs = graph.undirected_edges()
    pairs = pairs[known[pairs].all(axis=1)]
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


def example_pair_graph(features: np.ndarray, labels: np.ndarray,
                       num_classes: int, max_pairs: int = 200_000,
                       seed: int = 0) -> Graph:
  """A graph over labelled examples whose edges are pairs of them.

  For an agreement model trained on examples that come without a graph
  (e.g. the centres of packed neighbourhood batches): every pair when there
  are at most `max_pairs`, else `max_pairs` random pairs. The
  `AgreementPairSampler` then draws its balanced batches and its held-out
  pairs from these edges as from a graph's labelled edges.

  Example:
    >>> graph = example_pair_graph(features, labels, num_classes=7)
    >>> train_agreement_model(AgreementModel(), graph, graph.labels)
  """
  count = len(labels)
  if count * (count - 1) // 2 <= max_pairs:
    senders, receivers = np.triu_indices(count, k=1)
  else:
    rng = np.random.default_rng(seed)
    senders, receivers = rng.integers(0, count, size=(2, max_pairs))
  return Graph.from_edges(
      features, senders, receivers, labels, num_classes,
      train_mask=np.ones(count, bool), name="labelled examples")
