"""A small random graph shared by the node-model tests."""

import numpy as np

import graph_models as gm


def random_graph(num_nodes: int) -> gm.Graph:
  """`num_nodes` nodes (4 random features, 3 classes, the first 6 for
  training, the rest for validation) joined by random weighted edges among
  the first 12; a 13th node is isolated."""
  rng = np.random.default_rng(0)
  senders = rng.integers(0, 12, 30)
  receivers = rng.integers(0, 12, 30)
  keep = senders != receivers
  return gm.Graph.from_edges(
      rng.normal(size=(num_nodes, 4)).astype(np.float32), senders[keep],
      receivers[keep], labels=rng.integers(0, 3, num_nodes), num_classes=3,
      weights=rng.uniform(0.5, 2, keep.sum()),
      train_mask=np.arange(num_nodes) < 6,
      val_mask=np.arange(num_nodes) >= 6, name="random").symmetrized()
