"""Multi-label graphs: label rows in a Graph, loss, scores, the generator."""

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.tasks import label_tasks
from graph_models.graph import Graph, GraphError
from graph_models.label_table import UNLABELED
from gam_datasets.synthetic_multilabel import generate_multilabel_flickr_like


def _graph(labels, num_classes=3, **masks):
  n = len(labels)
  return Graph.from_edges(np.eye(n, dtype=np.float32), [0], [1], labels,
                          num_classes, **masks)


def test_multi_hot_labels_with_unlabeled_rows():
  graph = _graph([[1, 0, 1], [UNLABELED] * 3, [0, 0, 0]],
                 train_mask=[True, False, False])
  assert graph.is_multilabel
  assert graph.labeled_mask.tolist() == [True, False, True]
  assert "multi-label" in repr(graph)


@pytest.mark.parametrize("labels, message", [
    ([[1, 0, 2], [0, 1, 0]], r"bad rows at nodes \[0\]"),
    ([[1, 0, 0], [UNLABELED, 0, UNLABELED]], r"bad rows at nodes \[1\]"),
    ([[1, 0], [0, 1]], r"expected \(2,\) class ids or \(2, 3\) multi-hot"),
])
def test_bad_multi_hot_rows_name_the_nodes(labels, message):
  with pytest.raises(GraphError, match=message):
    _graph(labels)


def test_unlabelled_training_row_is_refused():
  with pytest.raises(GraphError, match=r"training nodes without a label: "
                                       r"\[1\]"):
    _graph([[1, 0, 0], [UNLABELED] * 3], train_mask=[True, True])


def test_majority_rate_is_refused_for_multi_label():
  with pytest.raises(ValueError, match="MostFrequentTags"):
    _graph([[1, 0, 0], [0, 1, 0]]).majority_class_rate("train")


def test_sigmoid_cross_entropy_by_hand():
  loss = label_tasks.SigmoidCrossEntropy(positive_weight=5.0)
  # logits 0: every term is log 2; the positive one counts 5 times.
  assert float(loss([[1., 0.]], [[0., 0.]])) == pytest.approx(
      3 * np.log(2), rel=1e-6)
  logits = np.array([[2.0, -1.0]], np.float32)
  plain = label_tasks.SigmoidCrossEntropy()
  expected = np.mean([np.log1p(np.exp(-2.0)), np.log1p(np.exp(-1.0))])
  assert float(plain([[1., 0.]], logits)) == pytest.approx(expected, rel=1e-6)
  with pytest.raises(ValueError, match="positive_weight must be"):
    label_tasks.SigmoidCrossEntropy(positive_weight=0.0)


def test_positive_weight_is_refused_for_single_label():
  with pytest.raises(ValueError, match="multi-label"):
    label_tasks.loss_and_metrics(False, 3, positive_weight=2.0)


def test_split_scores_by_hand():
  labels = np.array([[1, 0, 0], [0, 1, 1]])
  probabilities = np.array([[.9, .2, .4], [.8, .7, .3]])
  scores = label_tasks.split_scores(probabilities, labels)
  # Label APs: column 0 ranks node 0 first (1.0), column 1 node 1 first
  # (1.0), column 2 node 1 second (1/2).
  assert scores["label_map"] == pytest.approx((1 + 1 + .5) / 3)
  # Top 3 of 3 labels: every true label is in it.
  assert scores["precision_at_3"] == pytest.approx((1 / 3 + 2 / 3) / 2)
  assert label_tasks.split_scores(probabilities[:, :2].copy(),
                                  np.array([0, 1])) == {"accuracy": 0.5}


@pytest.fixture(scope="module")
def multilabel_graph():
  return generate_multilabel_flickr_like(num_nodes=1500, num_val=300,
                                         num_test=600, num_concepts=16)


def test_generator_scene_concepts_and_structured_topics(multilabel_graph):
  graph, metadata = multilabel_graph
  labels = graph.labels
  assert labels.shape == (1500, 16) and labels.dtype == np.int8
  assert set(np.unique(labels)) <= {0, 1}
  # Every image has at least its scene concept; topics come on top.
  assert (labels[:, :7].sum(axis=1) >= 1).all()
  assert 1.5 < labels.sum(axis=1).mean() < 4
  # Topics follow the groups, so linked images share them far more often
  # than random pairs do.
  senders, receivers, _ = graph.edges()
  topics = labels[:, 7:]
  linked = np.mean((topics[senders] & topics[receivers]).any(axis=1))
  rng = np.random.default_rng(0)
  a, b = rng.integers(0, 1500, (2, 20000))
  random = np.mean((topics[a] & topics[b]).any(axis=1))
  assert linked > 2 * random
  again, _ = generate_multilabel_flickr_like(num_nodes=1500, num_val=300,
                                             num_test=600, num_concepts=16)
  np.testing.assert_array_equal(again.labels, labels)
  assert sp.issparse(metadata.image_tags)


@pytest.mark.parametrize("kwargs, message", [
    ({"num_concepts": 3}, "num_concepts must be an integer >= num_classes"),
    ({"topic_keep": 1.5}, r"topic_keep must be a probability"),
    ({"concept_noise": -0.1}, r"concept_noise must be a probability"),
])
def test_generator_rejects_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    generate_multilabel_flickr_like(num_nodes=300, num_val=50, num_test=50,
                                    **kwargs)


def test_most_frequent_scores_rank_by_training_frequency():
  graph = _graph([[1, 0, 0], [1, 1, 0], [0, 1, 1], [1, 0, 1]],
                 train_mask=[True, True, False, False],
                 test_mask=[False, False, True, True])
  scores = label_tasks.most_frequent_scores(graph, "test")
  # Frequencies 1, 1/2, 0: every test node predicts classes 0, 1, 2 in
  # that order. Class 0: AP 1/2 (node 3 is one of two tied at the top);
  # class 1: 1/2; class 2: both positive, AP 1.
  assert scores["label_map"] == pytest.approx((0.5 + 0.5 + 1) / 3)
  assert scores["precision_at_3"] == pytest.approx(2 / 3)
