"""Neighbour packing into NSL-named features and the whole-graph format."""

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models import neighbor_packing as packing
from graph_models.graph import Graph


@pytest.fixture(scope="module")
def star():
  """Node 0 has neighbours 1 (w=0.5), 2 (w=2), 3 (w=1); 4 is isolated."""
  features = np.arange(10, dtype=np.float32).reshape(5, 2)
  return Graph.from_edges(features, senders=[1, 2, 3], receivers=[0, 0, 0],
                          weights=[0.5, 2.0, 1.0], labels=[0, 1, 1, 0, -1],
                          num_classes=2,
                          train_mask=[True, True, True, True, False],
                          name="star")


def test_neighbor_table_keeps_the_heaviest_and_pads(star):
  ids, weights = packing.neighbor_table(star, max_neighbors=2)
  np.testing.assert_array_equal(ids[0], [2, 3])
  np.testing.assert_allclose(weights[0], [2.0, 1.0])
  np.testing.assert_array_equal(ids[4], [-1, -1])
  np.testing.assert_array_equal(weights[4], [0, 0])


def test_neighbor_table_breaks_ties_by_node_id():
  graph = Graph.from_edges(np.zeros((4, 1), np.float32), senders=[3, 1, 2],
                           receivers=[0, 0, 0], labels=[0, 0, 0, 0],
                           num_classes=2)
  ids, _ = packing.neighbor_table(graph, 2)
  np.testing.assert_array_equal(ids[0], [1, 2])


@pytest.mark.parametrize("sparse", [False, True])
def test_packed_batch_has_nsl_names_features_and_padding(star, sparse):
  graph = star.replace(features=sp.csr_matrix(star.features)) if sparse else star
  dataset = packing.packed_dataset(graph, [0, 1], max_neighbors=2,
                                   batch_size=2)
  features, labels = next(iter(dataset))
  assert sorted(features) == sorted([
      "node_id", "features", "NL_nbr_0_features", "NL_nbr_0_node_id",
      "NL_nbr_0_weight", "NL_nbr_1_features", "NL_nbr_1_node_id",
      "NL_nbr_1_weight"])
  np.testing.assert_array_equal(labels, [0, 1])
  np.testing.assert_array_equal(features["features"], star.features[[0, 1]])
  np.testing.assert_array_equal(features["NL_nbr_0_features"][0],
                                star.features[2])
  np.testing.assert_array_equal(features["NL_nbr_0_weight"], [[2.0], [0.0]])
  # Node 1 has no neighbour: zero features, zero weight, id -1.
  np.testing.assert_array_equal(features["NL_nbr_1_features"][1], [0, 0])
  np.testing.assert_array_equal(features["NL_nbr_1_node_id"], [3, -1])


def test_neighbor_table_built_in_slices_equals_one_sort_of_all_edges(
    monkeypatch):
  rng = np.random.default_rng(3)
  senders, receivers = rng.integers(0, 40, (2, 300))
  graph = Graph.from_edges(np.zeros((40, 1), np.float32), senders, receivers,
                           weights=rng.integers(1, 4, 300), labels=[0] * 40,
                           num_classes=2)
  whole = packing.neighbor_table(graph, 4)
  monkeypatch.setattr(packing, "_TABLE_ROWS", 7)
  sliced = packing.neighbor_table(graph, 4)
  for expected, got in zip(whole, sliced):
    np.testing.assert_array_equal(got, expected)
  # The slices agree with the definition: per node, weight down, id up.
  row = graph.adjacency[5]
  heaviest = sorted(zip(-row.data, row.indices))[:4]
  assert whole[0][5][:len(heaviest)].tolist() == [i for _, i in heaviest]


@pytest.mark.parametrize("sparse", [False, True])
def test_features_beyond_the_budget_are_gathered_on_the_host(
    star, monkeypatch, sparse):
  monkeypatch.setattr(packing, "_DENSE_FEATURE_BUDGET", 0)
  graph = star.replace(features=sp.csr_matrix(star.features)) if sparse else star
  features, _, _ = next(iter(packing.packed_dataset(graph, [0], 2, 2,
                                                    pad_remainder=True)))
  np.testing.assert_array_equal(features["NL_nbr_0_features"][0],
                                star.features[2])
  np.testing.assert_array_equal(features["features"][1], [0, 0])  # padding


def test_packers_of_one_graph_share_its_tables(star, monkeypatch):
  graph = star.replace()  # a graph no other test has packed
  builds = []
  table = packing.neighbor_table
  monkeypatch.setattr(packing, "neighbor_table",
                      lambda *args: builds.append(args[1]) or table(*args))
  for nodes in ([0, 1], [2, 3], [0, 1]):
    packing.packed_dataset(graph, nodes, 2, 2)
  packing.packed_dataset(graph, [0], 1, 1)
  assert builds == [2, 1]


def test_shuffling_is_seeded_and_covers_every_node(star):
  def order(seed):
    dataset = packing.packed_dataset(star, [0, 1, 2, 3], 1, batch_size=4,
                                     shuffle=True, seed=seed)
    return next(iter(dataset))[0]["node_id"].numpy().tolist()
  assert order(1) == order(1)
  assert sorted(order(1)) == [0, 1, 2, 3]


def test_grown_label_table_replaces_the_graphs_labels(star):
  labels = star.labels.copy()
  labels[4] = 1
  _, y = next(iter(packing.packed_dataset(star, [4], 0, 1, labels=labels)))
  np.testing.assert_array_equal(y, [1])


def test_unlabelled_or_unknown_nodes_are_refused(star):
  with pytest.raises(ValueError, match=r"star: nodes without a label .*\[4\]"):
    packing.packed_dataset(star, [0, 4], 1, 2)
  with pytest.raises(ValueError, match=r"outside \[0, 5\): \[9\]"):
    packing.packed_dataset(star, [9], 1, 2)
  with pytest.raises(ValueError, match="no nodes given"):
    packing.whole_graph_dataset(star, [])
  with pytest.raises(ValueError, match="batch_size must be >= 1"):
    packing.packed_dataset(star, [0], 1, 0)


def test_whole_graph_dataset_holds_all_edges_and_target_labels(star):
  inputs, labels = next(iter(packing.whole_graph_dataset(star, [1, 2])))
  np.testing.assert_array_equal(inputs["node_ids"], [1, 2])
  np.testing.assert_array_equal(inputs["features"], star.features)
  np.testing.assert_array_equal(inputs["senders"], [1, 2, 3])
  np.testing.assert_array_equal(inputs["receivers"], [0, 0, 0])
  np.testing.assert_allclose(inputs["edge_weights"], [0.5, 2.0, 1.0])
  np.testing.assert_array_equal(labels, [1, 1])
