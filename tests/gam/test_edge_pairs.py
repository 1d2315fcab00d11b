"""Edge pairs for agreement-weighted regularisation, and the label-leak trap."""

import numpy as np
import pytest

from gam.edge_pairs import EdgePairs, left_targets
from graph_models.graph import undirected_edges
from graph_models.graph import UNLABELED, Graph


@pytest.fixture(scope="module")
def graph():
  """Nodes 3, 4 training-labelled; 0 a test node (true label 1); 1, 2 free.

  Edges are stored one way only, the LU ones as (unlabelled, labelled), and
  the unlabelled ends have the lower ids, so only an explicit flip puts the
  labelled node on the left.
  """
  return Graph.from_edges(
      np.eye(5, dtype=np.float32), senders=[0, 1, 3, 1, 2],
      receivers=[3, 4, 4, 2, 2], labels=[1, 0, 1, 0, 1], num_classes=2,
      train_mask=[False, False, False, True, True],
      test_mask=[True, False, False, False, False], name="toy")


@pytest.fixture(scope="module")
def table(graph):
  labels = np.full(graph.num_nodes, UNLABELED)
  labels[graph.train_mask] = graph.labels[graph.train_mask]
  return labels


def test_edges_are_split_by_the_label_table_not_the_graph(graph, table):
  pairs = EdgePairs.from_graph(graph, table)
  assert pairs.ll.tolist() == [[3, 4]]
  # Node 0 has a true label in the graph but not in the table: unlabelled.
  assert sorted(map(tuple, pairs.lu.tolist())) == [(3, 0), (4, 1)]
  assert pairs.uu.tolist() == [[1, 2]]  # the self-loop 2-2 is dropped


def test_labelled_node_is_always_on_the_left_of_lu_pairs(graph, table):
  pairs = EdgePairs.from_graph(graph, table)
  left, right = pairs.sample("lu", 200, np.random.default_rng(0))
  assert (table[left] != UNLABELED).all()
  assert (table[right] == UNLABELED).all()
  # The left targets are the labelled nodes' own labels, so the test node's
  # true label can only enter as a right-hand prediction.
  targets = left_targets(table, left, 2)
  np.testing.assert_array_equal(targets.argmax(1), table[left])


def test_an_unflipped_pair_would_leak_and_is_refused(graph, table):
  # (0, 3) as stored: test node 0 on the left would contribute its label.
  with pytest.raises(ValueError, match=r"no label in the label table: \[0\]"):
    left_targets(table, np.array([0]), 2)
  # Reading the graph's labels instead of the table would give node 0's true
  # label; the table-based targets never can.
  assert graph.labels[0] == 1 and table[0] == UNLABELED


def test_sampling_is_seeded_and_handles_missing_kinds(graph, table):
  pairs = EdgePairs.from_graph(graph, table)
  a = pairs.sample("uu", 5, np.random.default_rng(3))
  b = pairs.sample("uu", 5, np.random.default_rng(3))
  np.testing.assert_array_equal(a, b)
  none = EdgePairs.from_graph(graph, np.full(5, UNLABELED))
  assert none.count("ll") == 0 and none.count("lu") == 0
  left, right = none.sample("ll", 4, np.random.default_rng(0))
  assert left.size == 0 and right.size == 0


def test_bad_arguments(graph, table):
  with pytest.raises(ValueError, match="label table has shape"):
    EdgePairs.from_graph(graph, table[:3])
  with pytest.raises(ValueError, match="kind must be one of"):
    EdgePairs.from_graph(graph, table).sample("lx", 1,
                                              np.random.default_rng(0))


def test_undirected_edges_are_the_unique_sorted_rows_without_self_loops():
  rng = np.random.default_rng(0)
  # Both directions, repeats and self-loops, as a graph's edges may hold.
  senders, receivers = rng.integers(0, 50, (2, 400))
  expected = np.unique(np.sort(np.stack([senders, receivers], axis=1),
                               axis=1), axis=0)
  expected = expected[expected[:, 0] != expected[:, 1]]
  np.testing.assert_array_equal(undirected_edges(senders, receivers, 50),
                                expected)
  # The key low * n + high stays exact for ids far beyond int32.
  big = np.array([3_000_000_000 - 1, 5])
  assert undirected_edges(big, big[::-1], 3_000_000_000).tolist() == [
      [5, 3_000_000_000 - 1]]
  assert undirected_edges(np.array([1, 2]), np.array([1, 2]), 3).shape == (
      0, 2)
