"""Self-training: candidates, class shares, which predictions become labels."""

import re

import numpy as np
import pytest

from gam.self_labeling import (class_shares, confidence_for_precision,
                               label_candidates, select_new_labels)
from graph_models.graph import UNLABELED, Graph


@pytest.fixture(scope="module")
def graph():
  """Nodes 0, 1 train; 2 validation; 3 test; 4-7 free (no split)."""
  return Graph.from_edges(
      np.eye(8, dtype=np.float32), senders=[0, 1, 2, 3], receivers=[4, 5, 6, 7],
      labels=[0, 1, 1, 0, 0, 1, 0, 1], num_classes=2,
      train_mask=[True, True] + [False] * 6,
      val_mask=[False, False, True] + [False] * 5,
      test_mask=[False, False, False, True] + [False] * 4, name="toy")


def table_of(graph, extra=None):
  labels = np.full(graph.num_nodes, UNLABELED)
  labels[graph.train_mask] = graph.labels[graph.train_mask]
  for node, label in (extra or {}).items():
    labels[node] = label
  return labels


# label_candidates ------------------------------------------------------------


def test_candidates_are_unlabelled_non_val_non_test_nodes(graph):
  assert label_candidates(graph, table_of(graph)).tolist() == [4, 5, 6, 7]


def test_candidates_exclude_nodes_labelled_by_self_training(graph):
  labels = table_of(graph, {5: 1, 7: 0})
  assert label_candidates(graph, labels).tolist() == [4, 6]


def test_val_and_test_nodes_are_never_candidates_even_without_a_label(graph):
  # A table without any label at all: still no val (2) or test (3) node.
  candidates = label_candidates(graph, np.full(8, UNLABELED))
  assert candidates.tolist() == [0, 1, 4, 5, 6, 7]
  assert 2 not in candidates and 3 not in candidates


def test_candidates_reject_a_table_of_the_wrong_shape(graph):
  with pytest.raises(ValueError, match=re.escape(
      "toy: label table has shape (7,), expected (8,)")):
    label_candidates(graph, np.full(7, UNLABELED))


# class_shares ----------------------------------------------------------------


def test_class_shares_ignore_unlabelled_entries():
  shares = class_shares(np.array([0, 0, 1, UNLABELED, 0, UNLABELED]), 3)
  np.testing.assert_allclose(shares, [0.75, 0.25, 0.0])
  assert shares.shape == (3,)


def test_class_shares_of_an_empty_table_raise():
  with pytest.raises(ValueError,
                     match="^no labelled node to take class shares from$"):
    class_shares(np.array([UNLABELED, UNLABELED]), 2)
  with pytest.raises(ValueError,
                     match="^no labelled node to take class shares from$"):
    class_shares(np.array([], dtype=np.int64), 2)


# select_new_labels -----------------------------------------------------------


# Candidates 10..15; predicted classes and confidences:
#   10 -> 0 (0.9), 11 -> 0 (0.8), 12 -> 0 (0.7), 13 -> 1 (0.95),
#   14 -> 1 (0.6), 15 -> 0 (0.55)
CANDIDATES = np.array([10, 11, 12, 13, 14, 15])
PROBS = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.05, 0.95],
                  [0.4, 0.6], [0.55, 0.45]])


def test_without_shares_the_most_confident_win_regardless_of_class():
  ids, labels = select_new_labels(PROBS, CANDIDATES, 3)
  assert ids.tolist() == [13, 10, 11]
  assert labels.tolist() == [1, 0, 0]
  assert labels.dtype == np.int64


def test_without_shares_num_larger_than_candidates_takes_all_in_order():
  ids, labels = select_new_labels(PROBS, CANDIDATES, 100)
  assert ids.tolist() == [13, 10, 11, 12, 14, 15]
  assert labels.tolist() == [1, 0, 0, 0, 1, 0]


def test_zero_samples_selects_nothing():
  ids, labels = select_new_labels(PROBS, CANDIDATES, 0)
  assert ids.size == 0 and labels.size == 0
  ids, labels = select_new_labels(PROBS, CANDIDATES, 0, shares=[0.5, 0.5])
  assert ids.size == 0 and labels.size == 0


def test_shares_give_per_class_quotas_of_int_share_times_num():
  # int(0.5 * 4) = 2 of class 0, int(0.5 * 4) = 2 of class 1.
  ids, labels = select_new_labels(PROBS, CANDIDATES, 4, shares=[0.5, 0.5])
  assert sorted(zip(ids.tolist(), labels.tolist())) == [
      (10, 0), (11, 0), (13, 1), (14, 1)]
  # Globally most-confident-first within the overall confidence order.
  assert ids.tolist() == [13, 10, 11, 14]


def test_quotas_truncate_towards_zero():
  # int(0.75 * 3) = 2 of class 0, int(0.25 * 3) = 0 of class 1.
  ids, labels = select_new_labels(PROBS, CANDIDATES, 3, shares=[0.75, 0.25])
  assert ids.tolist() == [10, 11]
  assert labels.tolist() == [0, 0]
  # Even the most confident prediction of all (node 13, class 1) is left out:
  # the global top-3 would have taken it.
  assert 13 not in ids


def test_quotas_come_from_class_shares_of_the_original_labels():
  shares = class_shares(np.array([0, 0, 0, 1, UNLABELED]), 2)  # 0.75 / 0.25
  ids, labels = select_new_labels(PROBS, CANDIDATES, 4, shares=shares)
  # int(0.75 * 4) = 3 of class 0, int(0.25 * 4) = 1 of class 1.
  assert ids.tolist() == [13, 10, 11, 12]
  assert labels.tolist() == [1, 0, 0, 0]


def test_a_class_with_fewer_predictions_than_its_quota_takes_what_it_has():
  # Class 1 has quota 5 but only two candidates are predicted as 1; the
  # unused quota is not handed to class 0 (quota 1).
  ids, labels = select_new_labels(PROBS, CANDIDATES, 10, shares=[0.1, 0.9])
  assert ids.tolist() == [13, 10, 14]
  assert labels.tolist() == [1, 0, 1]


def test_min_confidence_filters_before_the_quotas():
  ids, labels = select_new_labels(PROBS, CANDIDATES, 10, min_confidence=0.7)
  assert ids.tolist() == [13, 10, 11, 12]  # 0.7 itself is kept (>=)
  assert labels.tolist() == [1, 0, 0, 0]
  ids, _ = select_new_labels(PROBS, CANDIDATES, 10, min_confidence=0.75,
                             shares=[0.5, 0.5])
  # Quotas 5 / 5; class 1 keeps only 13 (14 is 0.6), class 0 keeps 10, 11.
  assert ids.tolist() == [13, 10, 11]
  ids, _ = select_new_labels(PROBS, CANDIDATES, 10, min_confidence=1.0)
  assert ids.size == 0


def test_ties_in_confidence_go_to_the_lower_node_id():
  candidates = np.array([42, 7, 19, 3])
  probs = np.array([[0.8, 0.2], [0.2, 0.8], [0.8, 0.2], [0.6, 0.4]])
  ids, labels = select_new_labels(probs, candidates, 2)
  assert ids.tolist() == [7, 19]
  assert labels.tolist() == [1, 0]
  ids, labels = select_new_labels(probs, candidates, 3)
  assert ids.tolist() == [7, 19, 42]
  # Within a class quota too: class 0 has quota 1 among 42, 19 (both 0.8).
  ids, labels = select_new_labels(probs, candidates, 2, shares=[0.5, 0.5])
  assert ids.tolist() == [7, 19]
  assert labels.tolist() == [1, 0]


def test_result_does_not_depend_on_the_order_of_the_candidates():
  perm = np.array([5, 2, 0, 3, 1, 4])
  for shares in (None, [0.5, 0.5]):
    a = select_new_labels(PROBS, CANDIDATES, 4, shares=shares)
    b = select_new_labels(PROBS[perm], CANDIDATES[perm], 4, shares=shares)
    assert a[0].tolist() == b[0].tolist()
    assert a[1].tolist() == b[1].tolist()


def test_bad_probability_shapes_raise():
  with pytest.raises(ValueError, match=re.escape(
      "probabilities must be [6, classes], got shape (6,)")):
    select_new_labels(PROBS[:, 0], CANDIDATES, 2)
  with pytest.raises(ValueError, match=re.escape(
      "probabilities must be [5, classes], got shape (6, 2)")):
    select_new_labels(PROBS, CANDIDATES[:5], 2)


def test_bad_shares_shape_raises():
  with pytest.raises(ValueError, match=re.escape(
      "shares must have one entry per class (2), got shape (3,)")):
    select_new_labels(PROBS, CANDIDATES, 2, shares=[0.2, 0.3, 0.5])


def test_negative_num_samples_raises():
  with pytest.raises(ValueError, match=re.escape(
      "num_samples_to_label must be >= 0, got -1")):
    select_new_labels(PROBS, CANDIDATES, -1)


@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_min_confidence_outside_unit_interval_raises(value):
  with pytest.raises(ValueError, match=re.escape(
      f"min_confidence must be in [0, 1], got {value}")):
    select_new_labels(PROBS, CANDIDATES, 2, min_confidence=value)


def test_min_confidence_nan_raises():
  with pytest.raises(ValueError, match=re.escape(
      "min_confidence must be in [0, 1], got nan")):
    select_new_labels(PROBS, CANDIDATES, 2, min_confidence=float("nan"))


def test_non_finite_probabilities_name_the_nodes():
  probs = PROBS.copy()
  probs[1, 0] = np.nan
  probs[4, 1] = np.inf
  with pytest.raises(ValueError, match=re.escape(
      "non-finite predicted probabilities for nodes [11, 14]")):
    select_new_labels(probs, CANDIDATES, 2)


# confidence_for_precision ----------------------------------------------------


def test_the_threshold_is_where_validation_precision_falls_below_the_target():
  # 20 validation nodes, most confident first: the first 12 right, then
  # one wrong, then 7 more alternating.
  confidence = np.linspace(0.99, 0.51, 20)
  right = np.array([1] * 12 + [0] + [1, 0] * 3 + [1], bool)
  labels = np.zeros(20, np.int64)
  probabilities = np.stack([confidence, 1 - confidence], axis=1)
  labels[~right] = 1
  # Top 13: 12 of 13 right (0.92) reaches 0.9; top 15: 13 / 15 = 0.87.
  threshold = confidence_for_precision(probabilities, labels, 0.9)
  assert threshold == pytest.approx(confidence[13])
  assert confidence_for_precision(probabilities, labels, 1.0) == \
      pytest.approx(confidence[11])
  assert confidence_for_precision(probabilities, labels, 0.5) == \
      pytest.approx(confidence[-1])


def test_no_threshold_when_too_few_confident_predictions_are_right():
  probabilities = np.array([[0.9, 0.1]] * 30)
  labels = np.array([1] * 3 + [0] * 27)  # the 3 most confident are wrong
  assert confidence_for_precision(probabilities, labels, 0.95,
                                  min_support=10) is None
  assert confidence_for_precision(probabilities, labels, 0.9) == \
      pytest.approx(0.9)
  with pytest.raises(ValueError, match="precision must be in"):
    confidence_for_precision(probabilities, labels, 0.0)
  with pytest.raises(ValueError, match="30 predictions for 2 labels"):
    confidence_for_precision(probabilities, labels[:2], 0.9)
