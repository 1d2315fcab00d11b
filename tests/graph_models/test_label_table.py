"""The label table: labelled rows, unlabelling, validation, agreement."""

import numpy as np
import pytest

from graph_models import label_table
from graph_models.errors import GraphError
from graph_models.label_table import (UNLABELED, checked_labels, keep_labels,
                                      labeled_rows, labels_agree)


def test_labeled_rows_of_class_ids_and_multi_hot_rows():
  assert labeled_rows(np.array([2, UNLABELED, 0])).tolist() == [True, False,
                                                                True]
  rows = np.array([[1, 0], [UNLABELED, UNLABELED], [0, 0]])
  assert labeled_rows(rows).tolist() == [True, False, True]
  assert labeled_rows(np.zeros((3, 0), np.int8)).tolist() == [False] * 3


@pytest.mark.parametrize("labels, message", [
    ([0, 3, -2], r"labels outside \[0, 3\) .* at nodes \[1, 2\]: values "
                 r"\[3, -2\]"),
    ([0.5, 1.0, 2.0], "labels must be integers, got dtype float64"),
    ([0, 1], r"labels have shape \(2,\) but there are 3 nodes"),
])
def test_checked_labels_names_the_nodes(labels, message):
  with pytest.raises(GraphError, match=message):
    checked_labels(np.array(labels), 3, 3, "labels")


def test_keep_labels_unlabels_whole_rows():
  labels = np.array([[1, 0], [0, 1]], np.int8)
  assert keep_labels(labels, [False, True]).tolist() == [[-1, -1], [0, 1]]
  assert keep_labels(np.array([2, 3]), [True, False]).tolist() == [2, -1]


def test_agreement_is_jaccard_at_least_one_half():
  a = np.array([[1, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0],
                [1, 0, 0, 0]])
  b = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0], [0, 0, 0, 0],
                [0, 1, 0, 0]])
  # Jaccard 1/2, 1/3, 1, empty sets, 0.
  assert label_table.values_agree(a, b).tolist() == [True, False, True, True,
                                                     False]
  assert label_table.values_agree(np.array([1, 2]),
                                  np.array([1, 3])).tolist() == [True, False]


def test_labels_agree_reads_pairs_from_the_table():
  labels = np.array([1, 1, 2, UNLABELED])
  assert labels_agree(labels, np.array([0, 0, 2]),
                      np.array([1, 2, 3])).tolist() == [True, False, False]
