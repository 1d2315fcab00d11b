"""Node classifiers: input formats, the GCN formula, save/load round trips."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import graph_models as gm
from graph_models.classifiers import node_graph_model
from graph_models.classifiers.gcn import normalized_adjacency
from tests.graph_models.random_graphs import random_graph

MODELS = {
    "mlp": lambda: gm.MLPNodeClassifier(3, hidden_units=(8,)),
    "gcn": lambda: gm.GCNNodeClassifier(3, hidden_units=(8,)),
    "commnet": lambda: gm.GraphConvolutionalNodeClassifier(
        3, hidden_units=(8,)),
}


@pytest.fixture(scope="module")
def graph():
  return random_graph(12)


def packed_inputs(graph, nodes, k=3):
  return next(iter(gm.packed_dataset(graph, nodes, k, len(nodes))))[0]


def test_packed_batch_becomes_star_graphs_of_static_size(graph):
  inputs = packed_inputs(graph, [0, 1, 2], k=3)
  star, centres = node_graph_model.packed_to_graphs_tuple(inputs)
  np.testing.assert_array_equal(centres, [0, 4, 8])
  assert star.nodes.shape == (12, 4)
  weights = np.concatenate(
      [inputs[f"NL_nbr_{i}_weight"].numpy() for i in range(3)], axis=1)
  assert 0 < (weights > 0).sum() < weights.size  # some slots are empty
  # Every slot keeps an edge: B * K of them whatever the degrees.
  assert star.senders.shape[0] == 9
  np.testing.assert_array_equal(star.n_edge, [3, 3, 3])
  for sender, receiver, weight in zip(star.senders.numpy(),
                                      star.receivers.numpy(),
                                      star.edges.numpy()[:, 0]):
    graph_index, slot = divmod(sender, 4)
    assert slot >= 1
    assert weight == weights[graph_index, slot - 1]
    # Real neighbours send to their centre; an empty slot only to itself.
    assert receiver == (graph_index * 4 if weight > 0 else sender)


def test_gcn_adjacency_is_kipf_normalised(graph):
  inputs = gm.whole_graph_inputs(graph, [0])
  tuple_, _ = node_graph_model.whole_graph_to_graphs_tuple(inputs)
  ours = tf.sparse.to_dense(tf.sparse.reorder(normalized_adjacency(tuple_)))
  np.testing.assert_allclose(ours, graph.kipf_normalized().adjacency.toarray(),
                             rtol=1e-5, atol=1e-6)


def test_gcn_computes_the_two_layer_formula(graph):
  model = gm.GCNNodeClassifier(3, hidden_units=(5,))
  nodes = np.arange(12)
  logits = model(gm.whole_graph_inputs(graph, nodes), training=False).numpy()
  a = graph.kipf_normalized().adjacency.toarray()
  (w0, b0), (w1, b1) = [c.get_weights() for c in model.convolutions]
  hidden = np.maximum(a @ graph.features @ w0 + b0, 0)
  np.testing.assert_allclose(logits, a @ hidden @ w1 + b1, rtol=1e-4,
                             atol=1e-5)


def test_mlp_ignores_edges(graph):
  model = gm.MLPNodeClassifier(3, hidden_units=(8,))
  bare = model({"features": graph.features[:4]})
  np.testing.assert_allclose(model(packed_inputs(graph, [0, 1, 2, 3])), bare,
                             rtol=1e-6)
  np.testing.assert_allclose(
      model(gm.whole_graph_inputs(graph, [0, 1, 2, 3])), bare, rtol=1e-6)


def test_commnet_uses_neighbours(graph):
  model = gm.GraphConvolutionalNodeClassifier(3, hidden_units=(8,))
  inputs = packed_inputs(graph, [0, 1, 2])
  alone = {"features": inputs["features"]}
  assert not np.allclose(model(inputs), model(alone))


@pytest.mark.parametrize("fmt", ["packed", "whole"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_save_and_load_give_identical_predictions(graph, name, fmt, tmp_path):
  model = MODELS[name]()
  inputs = (packed_inputs(graph, [0, 1, 2, 3]) if fmt == "packed" else
            gm.whole_graph_inputs(graph, [0, 1, 2, 3]))
  model.compile("adam", keras.losses.SparseCategoricalCrossentropy(
      from_logits=True))
  model.fit(tf.data.Dataset.from_tensors((inputs, tf.constant([0, 1, 2, 0]))),
            epochs=2, verbose=0)
  path = tmp_path / f"{name}.keras"
  model.save(path)
  loaded = keras.models.load_model(path)
  assert type(loaded) is type(model)
  assert loaded.get_config() == model.get_config()
  np.testing.assert_array_equal(loaded.predict_on_batch(inputs),
                                model.predict_on_batch(inputs))


@pytest.mark.parametrize("kwargs, message", [
    (dict(num_classes=1), "num_classes must be an integer >= 2"),
    (dict(num_classes=3, hidden_units=(0,)), "hidden_units must be positive"),
    (dict(num_classes=3, dropout=1.0), r"dropout must be in \[0, 1\)"),
    (dict(num_classes=3, weight_decay=-1.0), "weight_decay must be >= 0"),
])
def test_bad_hyperparameters_are_refused(kwargs, message):
  with pytest.raises(ValueError, match=message):
    gm.MLPNodeClassifier(**kwargs)


def test_inputs_without_the_feature_are_reported():
  model = gm.MLPNodeClassifier(3)
  with pytest.raises(KeyError, match="no feature 'features'"):
    model({"pixels": tf.zeros([1, 2])})
  with pytest.raises(ValueError, match="one hidden width"):
    gm.GraphConvolutionalNodeClassifier(3, hidden_units=(4, 4))
