"""Tests of the in-memory `Graph`: validation, transforms, normalisation."""

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.graph import UNLABELED, Graph, GraphError, undirected_edges


def path_graph(**overrides):
  """0 - 1 - 2 - 3, directed edges as listed; node 3 unlabelled."""
  args = dict(features=np.arange(8, dtype=np.float32).reshape(4, 2),
              senders=[0, 1, 2], receivers=[1, 2, 3], labels=[0, 1, 1, -1],
              num_classes=2, train_mask=[True, True, False, False],
              val_mask=[False, False, True, False],
              test_mask=[False, False, False, False], name="path")
  args.update(overrides)
  return Graph.from_edges(**args)


def test_from_edges_and_symmetrize():
  graph = path_graph()
  assert graph.num_nodes == 4 and graph.num_edges == 3
  sym = graph.symmetrized()
  assert sym.num_edges == 6
  np.testing.assert_array_equal(sym.adjacency.toarray(),
                                sym.adjacency.toarray().T)
  # Immutable: the original is unchanged.
  assert graph.num_edges == 3


def test_edges_are_sorted_by_receiver_and_follow_the_convention():
  graph = path_graph()
  senders, receivers, weights = graph.edges()
  np.testing.assert_array_equal(senders, [0, 1, 2])
  np.testing.assert_array_equal(receivers, [1, 2, 3])
  # adjacency[receiver, sender]
  assert graph.adjacency[1, 0] == 1 and graph.adjacency[0, 1] == 0
  np.testing.assert_array_equal(weights, [1, 1, 1])


def test_duplicate_edges_keep_the_largest_weight():
  graph = path_graph(senders=[0, 0, 1, 2], receivers=[1, 1, 2, 3],
                     weights=[0.5, 2.0, 1.0, 1.0])
  assert graph.num_edges == 3
  assert graph.adjacency[1, 0] == pytest.approx(2.0)


def test_self_loops_are_removed_and_added():
  graph = path_graph(senders=[0, 1, 2, 2], receivers=[1, 2, 3, 2])
  assert graph.adjacency[2, 2] == 1
  assert graph.without_self_loops().adjacency.diagonal().sum() == 0
  looped = graph.with_self_loops(weight=3.0)
  np.testing.assert_array_equal(looped.adjacency.diagonal(), [3, 3, 3, 3])
  assert looped.num_edges == 3 + 4


def test_kipf_normalisation_matches_the_formula():
  graph = path_graph().symmetrized()
  a = graph.adjacency.toarray() + np.eye(4)
  d = np.diag(1 / np.sqrt(a.sum(1)))
  np.testing.assert_allclose(graph.kipf_normalized().adjacency.toarray(),
                             d @ a @ d, rtol=1e-6)


def test_row_normalised_features_sum_to_one_dense_and_sparse():
  graph = path_graph()
  dense = graph.row_normalized_features().features
  np.testing.assert_allclose(dense[1:].sum(1), 1.0, rtol=1e-6)
  assert dense[0].sum() == pytest.approx(1.0)  # row [0, 1]
  sparse = graph.replace(features=sp.csr_matrix(graph.features))
  np.testing.assert_allclose(
      sparse.row_normalized_features().features.toarray(), dense, rtol=1e-6)


def test_edges_naming_missing_nodes_are_refused_with_their_ids():
  with pytest.raises(GraphError, match=r"path: edges name nodes that do not "
                     r"exist \(receivers outside \[0, 4\)\): \[7\]"):
    path_graph(senders=[0, 1], receivers=[1, 7])
  with pytest.raises(GraphError, match=r"senders outside .*\[-1\]"):
    path_graph(senders=[-1, 1], receivers=[1, 2])


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_features_name_the_node(value):
  features = np.zeros((4, 2), np.float32)
  features[2, 1] = value
  with pytest.raises(GraphError, match=r"NaN or inf at nodes \[2\]"):
    path_graph(features=features)
  with pytest.raises(GraphError, match=r"NaN or inf at nodes \[2\]"):
    path_graph(features=sp.csr_matrix(features))


def test_labels_outside_the_class_range_are_refused():
  with pytest.raises(GraphError, match=r"labels outside \[0, 2\).*nodes \[1\]: "
                     r"values \[5\]"):
    path_graph(labels=[0, 5, 1, -1])


def test_mismatched_label_count_is_refused():
  with pytest.raises(GraphError, match=r"labels have shape \(3,\) but there are "
                     "4 nodes"):
    path_graph(labels=[0, 1, 1])


def test_training_nodes_need_labels_and_splits_are_disjoint():
  with pytest.raises(GraphError, match=r"training nodes without a label: \[3\]"):
    path_graph(train_mask=[True, True, False, True])
  with pytest.raises(GraphError, match=r"both train_mask and val_mask: \[1\]"):
    path_graph(val_mask=[False, True, False, False])


def test_negative_or_non_finite_weights_are_refused():
  with pytest.raises(GraphError, match=r"edge weights must be finite and >= 0"
                     r".*nodes \[2\]"):
    path_graph(weights=[1.0, -1.0, 1.0])


def test_graph_without_training_labels_is_reported():
  graph = path_graph(train_mask=None)
  with pytest.raises(GraphError, match="no labelled training node"):
    graph.require_training_labels()


def test_majority_class_rate_is_the_best_constant_prediction():
  graph = path_graph(labels=[0, 1, 1, 1], val_mask=[False, False, True, True])
  assert graph.majority_class_rate("val") == 1.0
  assert graph.majority_class_rate("train") == 0.5
  assert graph.labeled_mask.all() and UNLABELED == -1


def test_undirected_edges_read_from_the_csr_equal_those_of_the_edge_list():
  rng = np.random.default_rng(1)
  senders, receivers = rng.integers(0, 30, (2, 200))
  graph = Graph.from_edges(np.zeros((30, 1), np.float32), senders, receivers,
                           labels=[0] * 30, num_classes=1)
  expected = undirected_edges(*graph.edges()[:2], graph.num_nodes)
  np.testing.assert_array_equal(graph.undirected_edges(), expected)
  assert graph.undirected_edges().dtype == np.int64
  assert (expected[:, 0] < expected[:, 1]).all()
