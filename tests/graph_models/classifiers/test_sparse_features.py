"""Sparse node features through the classifiers (the full-batch GCN; MLP,
CommNet and GraphSAGE on packed batches and whole graphs): the same model as
dense features, with dropout and the first product over the non-zeros
only."""

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

import graph_models as gm
from graph_models.classifiers.graphsage import sage_layer
from graph_models.classifiers import sparse_ops
from graph_models.classifiers.sparse_ops import dropout
from graph_models.graph import Graph
from graph_models.neighbor_packing import (FEATURES, keeps_features_sparse,
                                           neighbor_packer, packed_dataset,
                                           whole_graph_inputs)
from graph_models.training import (TrainingOptions, compile_classifier,
                                   evaluation_dataset, node_datasets,
                                   prediction_dataset, takes_sparse_features)
from tests.graph_models.random_graphs import random_graph


def sparse_graph(density: float = 0.05, seed: int = 0) -> Graph:
  graph = random_graph(40)
  rng = np.random.default_rng(seed)
  features = sp.random(graph.num_nodes, 60, density=density, format="csr",
                       random_state=rng, dtype=np.float32)
  return graph.replace(features=features)


def test_only_sparse_enough_features_stay_sparse():
  assert keeps_features_sparse(sparse_graph(0.05))
  assert not keeps_features_sparse(sparse_graph(0.3))
  assert not keeps_features_sparse(random_graph(12))  # dense features
  inputs = whole_graph_inputs(sparse_graph(0.05), [0, 1], sparse_features=True)
  assert isinstance(inputs[FEATURES], tf.SparseTensor)
  dense = whole_graph_inputs(sparse_graph(0.05), [0, 1])
  np.testing.assert_array_equal(tf.sparse.to_dense(inputs[FEATURES]),
                                dense[FEATURES])


def test_sparse_features_enter_in_canonical_order():
  # Columns unsorted within a row and one entry stored twice, as scipy
  # allows in CSR: the tensor must be sorted (the model's CSR products
  # skip their sort then) and hold the duplicate's sum.
  graph = sparse_graph()
  indptr = np.array([0, 3] + [3] * (graph.num_nodes - 1))
  features = sp.csr_matrix((np.array([1., 2., 4.], np.float32),
                            np.array([7, 2, 7]), indptr),
                           shape=(graph.num_nodes, 60))
  inputs = whole_graph_inputs(graph.replace(features=features), [0],
                              sparse_features=True)
  np.testing.assert_array_equal(inputs[FEATURES].indices, [[0, 2], [0, 7]])
  np.testing.assert_array_equal(inputs[FEATURES].values, [2., 5.])
  assert features.indices.tolist() == [7, 2, 7]  # the graph's own is kept


def test_sparse_and_dense_inputs_give_the_same_outputs_and_gradients():
  graph = sparse_graph()
  nodes = np.arange(graph.num_nodes)
  model = gm.GCNNodeClassifier(3, hidden_units=(16,), dropout=0.0)
  dense = whole_graph_inputs(graph, nodes)
  sparse = whole_graph_inputs(graph, nodes, sparse_features=True)
  model(dense)
  results = []
  for inputs in (dense, sparse):
    with tf.GradientTape() as tape:
      logits = model(inputs, training=True)
      loss = tf.reduce_sum(tf.square(logits))
    results.append((logits, tape.gradient(loss, model.trainable_variables)))
  (dense_logits, dense_grads), (sparse_logits, sparse_grads) = results
  np.testing.assert_allclose(sparse_logits, dense_logits, rtol=1e-5,
                             atol=1e-6)
  for sparse_grad, dense_grad in zip(sparse_grads, dense_grads):
    np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-4, atol=1e-6)


def test_sparse_dropout_drops_non_zeros_only_and_rescales():
  values = tf.ones([20_000])
  features = tf.SparseTensor(
      np.stack([np.arange(20_000), np.zeros(20_000)], 1).astype(np.int64),
      values, [20_000, 3])
  layer = keras.layers.Dropout(0.5, seed=1)
  dropped = dropout(layer, features, training=True)
  np.testing.assert_array_equal(dropped.indices, features.indices)
  kept = dropped.values.numpy()
  assert set(np.unique(kept)) == {0.0, 2.0}
  assert abs(kept.mean() - 1.0) < 0.03
  assert dropout(layer, features, training=False).values.numpy().min() == 1.0


def test_trained_on_sparse_features_it_is_deterministic_and_learns(cora):
  # Real Cora: 1.3% of its bag-of-words entries are non-zero.
  assert keeps_features_sparse(cora)

  def train():
    keras.utils.set_random_seed(0)
    model = gm.GCNNodeClassifier(cora.num_classes)
    assert takes_sparse_features(model)
    compile_classifier(model, 0.01)
    model.fit(evaluation_dataset(
        cora, model, cora.split_nodes("train")).repeat(), epochs=60,
              steps_per_epoch=1, verbose=0)
    return model.predict(prediction_dataset(
        cora, model, cora.split_nodes("val")), verbose=0)

  first, second = train(), train()
  np.testing.assert_array_equal(first, second)
  val = cora.labels[cora.split_nodes("val")]
  assert np.mean(first.argmax(axis=1) == val) > 0.74


@pytest.mark.parametrize("model_fn", [
    lambda: gm.NeighborhoodMaxPoolingClassifier(3),
    lambda: gm.NeighborhoodGraphClassifier(3)])
def test_models_without_a_sparse_path_get_dense_features(model_fn):
  assert not takes_sparse_features(model_fn())


def test_packed_sparse_rows_equal_the_dense_rows_and_padding_is_empty():
  graph = sparse_graph()
  ids = tf.constant([3, -1, 0, 3], tf.int64)
  sparse = neighbor_packer(graph, 2, sparse_features=True)(ids)
  dense = neighbor_packer(graph, 2)(ids)
  for key in (FEATURES, "NL_nbr_0_features", "NL_nbr_1_features"):
    assert isinstance(sparse[key], tf.SparseTensor)
    assert sparse[key].shape.as_list() == [4, 60]
    np.testing.assert_array_equal(tf.sparse.to_dense(sparse[key]),
                                  dense[key])
    indices = sparse[key].indices.numpy()
    keys = indices[:, 0] * 60 + indices[:, 1]
    assert (np.diff(keys) > 0).all()  # canonical order, no duplicate
  assert not (sparse[FEATURES].indices.numpy()[:, 0] == 1).any()


def test_dense_features_stay_dense_when_asked_sparse():
  batch, _ = next(iter(packed_dataset(random_graph(12), [0, 1], 2, 2,
                                      sparse_features=True)))
  assert not isinstance(batch[FEATURES], tf.SparseTensor)


SPARSE_PATH_MODELS = {
    "mlp": lambda: gm.MLPNodeClassifier(3, hidden_units=(16,), dropout=0.0),
    "commnet": lambda: gm.GraphConvolutionalNodeClassifier(
        3, hidden_units=(16,), dropout=0.0),
    "graphsage": lambda: gm.GraphSAGENodeClassifier(3, hidden_units=(16,),
                                                    dropout=0.0)}


def _outputs_and_gradients(model, inputs):
  with tf.GradientTape() as tape:
    logits = model(inputs, training=True)
    loss = tf.reduce_sum(tf.square(logits))
  return logits, tape.gradient(loss, model.trainable_variables)


@pytest.mark.parametrize("packed", [True, False], ids=["packed", "whole"])
@pytest.mark.parametrize("name", sorted(SPARSE_PATH_MODELS))
def test_sparse_path_gives_the_dense_outputs_and_gradients(name, packed):
  graph = sparse_graph()
  model = SPARSE_PATH_MODELS[name]()
  assert takes_sparse_features(model)
  nodes = np.arange(graph.num_nodes)
  if packed:
    dense, sparse = (next(iter(packed_dataset(
        graph, nodes, 3, graph.num_nodes, sparse_features=s)))[0]
                     for s in (False, True))
  else:
    dense, sparse = (whole_graph_inputs(graph, nodes, sparse_features=s)
                     for s in (False, True))
  assert isinstance(sparse[FEATURES], tf.SparseTensor)
  model(sparse)  # built from sparse inputs first
  (dense_logits, dense_grads), (sparse_logits, sparse_grads) = (
      _outputs_and_gradients(model, inputs) for inputs in (dense, sparse))
  np.testing.assert_allclose(sparse_logits, dense_logits, rtol=1e-5,
                             atol=1e-5)
  for sparse_grad, dense_grad in zip(sparse_grads, dense_grads):
    np.testing.assert_allclose(sparse_grad, dense_grad, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("use_bias", [True, False])
def test_sage_layer_gives_the_dense_result_with_or_without_bias(use_bias):
  from graph_nets import graphs  # pylint: disable=g-import-not-at-top
  dense_states = sparse_graph().dense_features()[:5]
  graph = graphs.GraphsTuple(
      nodes=None, edges=tf.ones([4, 1]), globals=None,
      senders=tf.constant([1, 2, 0, 4]), receivers=tf.constant([0, 0, 3, 3]),
      n_node=tf.constant([5]), n_edge=tf.constant([4]))
  layer = keras.layers.Dense(4, use_bias=use_bias, bias_initializer="ones",
                             activation="relu")
  sparse_states = tf.sparse.from_dense(dense_states)
  np.testing.assert_allclose(sage_layer(layer, graph, sparse_states),
                             sage_layer(layer, graph, dense_states),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_commnet_on_sparse_cora_batches_is_deterministic_and_learns(cora):
  def train():
    keras.utils.set_random_seed(0)
    model = gm.GraphConvolutionalNodeClassifier(cora.num_classes)
    compile_classifier(model, 0.01)
    datasets = node_datasets(cora, model, TrainingOptions())
    assert isinstance(next(iter(datasets["train"]))[0][FEATURES],
                      tf.SparseTensor)
    # One epoch of 120 steps: the 40 passes over the 140 training nodes
    # without 40 iterator starts.
    model.fit(datasets["train"].repeat(), epochs=1, steps_per_epoch=120,
              verbose=0)
    return model.predict(prediction_dataset(
        cora, model, cora.split_nodes("val"), 5), verbose=0)

  first, second = train(), train()
  np.testing.assert_array_equal(first, second)
  val = cora.labels[cora.split_nodes("val")]
  assert np.mean(first.argmax(axis=1) == val) > 0.55  # dense: 0.60 (seed 0)


def test_large_dense_inputs_get_the_short_mask_dropout(monkeypatch):
  monkeypatch.setattr(sparse_ops, "LARGE_INPUT_ENTRIES", 10_000)
  inputs = tf.ones([200, 300])
  layer = keras.layers.Dropout(0.3, seed=5)
  outputs = dropout(layer, inputs, training=True).numpy()
  # The rate rounded to a multiple of 2^-16, kept entries scaled back.
  rate = round(0.3 * 65536) / 65536
  assert set(np.unique(outputs)) == {0.0, np.float32(1 / (1 - rate))}
  dropped = np.mean(outputs == 0)
  assert abs(dropped - 0.3) < 4 * np.sqrt(0.3 * 0.7 / outputs.size)
  assert abs(outputs.mean() - 1.0) < 0.02
  # Seeded by the layer: the same seed draws the same mask, the next call
  # another one; outside training nothing is dropped.
  again = dropout(keras.layers.Dropout(0.3, seed=5), inputs, training=True)
  np.testing.assert_array_equal(again, outputs)
  assert not np.array_equal(dropout(layer, inputs, training=True), outputs)
  np.testing.assert_array_equal(dropout(layer, inputs, training=False),
                                inputs)
  # The gradient is the mask times the scale.
  with tf.GradientTape() as tape:
    tape.watch(inputs)
    total = tf.reduce_sum(dropout(keras.layers.Dropout(0.3, seed=5), inputs,
                                  training=True))
  np.testing.assert_array_equal(tape.gradient(total, inputs), outputs)


def test_small_dense_inputs_keep_keras_dropout():
  inputs = tf.ones([20, 30])
  ours = dropout(keras.layers.Dropout(0.5, seed=2), inputs, training=True)
  np.testing.assert_array_equal(
      ours, keras.layers.Dropout(0.5, seed=2)(inputs, training=True))
