"""Per-node TFDS records: a graph survives the round trip, bad records fail."""

import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from gam_datasets import graph_records
from graph_models.graph import UNLABELED, Graph, GraphError

SIGNATURE = {
    "node_id": tf.TensorSpec([], tf.int64),
    "features": tf.TensorSpec([None], tf.float32),
    "label": tf.TensorSpec([], tf.int64),
    "neighbors": tf.TensorSpec([None], tf.int64),
    "neighbor_weights": tf.TensorSpec([None], tf.float32),
}


def _dataset(examples):
  examples = list(examples)
  return tf.data.Dataset.from_generator(lambda: iter(examples),
                                        output_signature=SIGNATURE)


def _splits(graph, **edits):
  """Per-split datasets of `graph`; `edits[split]` rewrites its examples."""
  splits = {}
  for split, nodes in graph_records.split_nodes(graph).items():
    examples = [example for _, example in
                graph_records.node_examples(graph, nodes)]
    splits[split] = _dataset(edits.get(split, lambda e: e)(examples))
  return splits


@pytest.fixture(scope="module")
def graph():
  rng = np.random.default_rng(0)
  n = 12
  senders = rng.integers(0, n, 30)
  receivers = rng.integers(0, n, 30)
  keep = senders != receivers
  labels = rng.integers(0, 3, n)
  labels[[9, 10]] = UNLABELED
  return Graph.from_edges(
      features=sp.csr_matrix(rng.random((n, 5)) * (rng.random((n, 5)) > .5)),
      senders=senders[keep], receivers=receivers[keep],
      weights=rng.random(keep.sum()) + 0.5, labels=labels, num_classes=3,
      train_mask=np.isin(np.arange(n), [0, 1, 2]),
      val_mask=np.isin(np.arange(n), [3, 4]),
      test_mask=np.isin(np.arange(n), [5, 6, 7]), name="tiny").symmetrized()


def test_split_nodes_cover_every_node_once(graph):
  nodes = graph_records.split_nodes(graph)
  assert list(nodes) == list(graph_records.SPLITS)
  np.testing.assert_array_equal(np.sort(np.concatenate(list(nodes.values()))),
                                np.arange(graph.num_nodes))
  np.testing.assert_array_equal(nodes["unlabeled"], [8, 9, 10, 11])


def test_round_trip_gives_the_same_graph(graph):
  restored = graph_records.graph_from_splits(_splits(graph), num_classes=3,
                                             name="tiny")
  np.testing.assert_array_equal(restored.dense_features(),
                                graph.dense_features())
  assert (restored.adjacency != graph.adjacency).nnz == 0
  np.testing.assert_array_equal(restored.labels, graph.labels)
  for mask in ("train_mask", "val_mask", "test_mask"):
    np.testing.assert_array_equal(getattr(restored, mask), getattr(graph, mask))


def test_round_trip_with_small_batches_and_extra_fields(graph):
  concepts = np.arange(graph.num_nodes * 2).reshape(-1, 2) % 3 == 0
  signature = dict(SIGNATURE, concepts=tf.TensorSpec([2], tf.bool))
  splits = {}
  for split, nodes in graph_records.split_nodes(graph).items():
    examples = [e for _, e in graph_records.node_examples(
        graph, nodes, extra={"concepts": concepts})]
    splits[split] = tf.data.Dataset.from_generator(
        lambda examples=examples: iter(examples), output_signature=signature)
  table = graph_records.read_node_table(splits, extra_keys=["concepts"],
                                        batch_size=2)
  np.testing.assert_array_equal(table.extra["concepts"], concepts)
  assert (table.adjacency != graph.adjacency).nnz == 0


def test_a_node_in_two_splits_is_refused(graph):
  def add_node_0(examples):
    return examples + [dict(examples[0], node_id=0)]
  with pytest.raises(GraphError, match=r"more than once .*test.*\[0\]"):
    graph_records.graph_from_splits(_splits(graph, test=add_node_0), 3)


def test_missing_node_ids_are_named(graph):
  def drop_node_9(examples):
    return [e for e in examples if e["node_id"] != 9]
  with pytest.raises(GraphError, match=r"missing ids \[9\]"):
    graph_records.graph_from_splits(_splits(graph, unlabeled=drop_node_9), 3)


def test_neighbours_outside_the_graph_are_named(graph):
  def bad_neighbour(examples):
    examples = list(examples)
    examples[0] = dict(examples[0], neighbors=np.array([99], np.int64),
                       neighbor_weights=np.ones(1, np.float32))
    return examples
  with pytest.raises(GraphError, match=r"nodes \[0\] list neighbours .*\[99\]"):
    graph_records.graph_from_splits(_splits(graph, train=bad_neighbour), 3)


def test_unknown_split_and_missing_field_are_named(graph):
  splits = _splits(graph)
  with pytest.raises(GraphError, match="unknown split.*'dev'"):
    graph_records.graph_from_splits(dict(splits, dev=splits["test"]), 3)
  with pytest.raises(GraphError, match=r"split 'train' has no field.*label"):
    graph_records.graph_from_splits(
        dict(splits, train=splits["train"].map(
            lambda e: {k: v for k, v in e.items() if k != "label"})), 3)


def test_extra_fields_may_not_replace_core_fields():
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  with pytest.raises(ValueError, match=r"\['label'\] clash"):
    graph_records.node_features(4, {"label": tfds.features.Scalar(np.int64)})
