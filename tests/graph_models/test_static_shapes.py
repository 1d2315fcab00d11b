"""Static shapes: padded packed batches train and evaluate exactly as the
unpadded ones, and XLA-compiled training (`jit_compile=True`) runs on them
with the same result."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import graph_models as gm
from gam.graph_regularization import GraphRegularizationModel
from graph_models import nsl, training
from gam_datasets.synthetic import generate_flickr_like

BATCH_SIZE = 16
MAX_NEIGHBORS = 3
# 4 epochs of 3 batches (16, 16, 3 training nodes) of plain SGD: float32
# rounding only. A padded example that leaked into the loss (weight 1
# instead of 0, or a mean over 16 instead of 3 nodes) moves weights by
# more than 1e-3.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def graph():
  # 35 training nodes: the last batch of 16 holds 3.
  return generate_flickr_like(num_nodes=300, num_classes=5, num_features=12,
                              labels_per_class=7, num_val=40, num_test=40,
                              avg_degree=4, degree_spread=1.0, seed=3)


def _classifier(name: str, num_classes: int) -> keras.Model:
  return training.build_classifier(name, num_classes, hidden_units=(8,),
                                   dropout=0.0)


def _graph_regularized(num_classes: int) -> keras.Model:
  return GraphRegularizationModel(
      config=nsl.make_graph_reg_config(max_neighbors=MAX_NEIGHBORS,
                                       multiplier=0.5),
      node_model_fn=lambda: _classifier("mlp", num_classes))


MODELS = {
    "mlp": lambda graph: _classifier("mlp", graph.num_classes),
    "commnet": lambda graph: _classifier("commnet", graph.num_classes),
    "gcn_packed": lambda graph: _classifier("gcn", graph.num_classes),
    "graph_regularization": lambda graph: _graph_regularized(
        graph.num_classes),
}


def _compile(model: keras.Model, jit_compile: bool = False) -> None:
  model.compile(
      optimizer=keras.optimizers.SGD(0.5),
      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
      weighted_metrics=[
          keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
      jit_compile=jit_compile)


def _train(graph, name: str, pad: bool, jit_compile: bool = False):
  """`(initial weights, weights after 4 epochs)` of `name`, seeded."""
  training.seed_everything(0, deterministic_ops=not jit_compile)
  model = MODELS[name](graph)
  _compile(model, jit_compile)
  assert model.jit_compile == jit_compile  # Keras may fall back silently
  train = gm.packed_dataset(graph, graph.split_nodes("train"), MAX_NEIGHBORS,
                            BATCH_SIZE, pad_remainder=pad)
  model(next(iter(train))[0])  # builds the weights
  initial = model.get_weights()
  model.fit(train, epochs=4, verbose=0)
  return initial, model.get_weights()


def _max_diff(a, b) -> float:
  return max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))


def test_padded_batches_all_have_the_batch_size(graph):
  train = gm.packed_dataset(graph, graph.split_nodes("train"), MAX_NEIGHBORS,
                            BATCH_SIZE, pad_remainder=True)
  x, y, weights = train.element_spec
  assert all(spec.shape[0] == BATCH_SIZE for spec in x.values())
  assert y.shape[0] == weights.shape[0] == BATCH_SIZE
  last_x, last_y, last_weights = list(train)[-1]
  real = graph.split_nodes("train")[-3:]
  np.testing.assert_array_equal(last_x["node_id"], list(real) + [-1] * 13)
  # Padding: zero features, no neighbours, weight 0; the 3 nodes share the
  # batch's weight so that the batch mean is their mean.
  np.testing.assert_array_equal(last_x["features"][3:], 0.0)
  for i in range(MAX_NEIGHBORS):
    np.testing.assert_array_equal(last_x[f"NL_nbr_{i}_weight"][3:], 0.0)
    np.testing.assert_array_equal(last_x[f"NL_nbr_{i}_node_id"][3:], -1)
  np.testing.assert_allclose(last_weights, [16 / 3] * 3 + [0.0] * 13)
  np.testing.assert_array_equal(last_y[:3], graph.labels[real])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_padded_batches_give_the_unpadded_loss_and_metrics(graph, name):
  keras.utils.set_random_seed(0)
  model = MODELS[name](graph)
  _compile(model)
  # The last training batch: 3 nodes, padded with 13 empty examples.
  nodes = graph.split_nodes("train")[-3:]
  plain, padded = (
      model.evaluate(gm.packed_dataset(graph, nodes, MAX_NEIGHBORS,
                                       BATCH_SIZE, pad_remainder=pad),
                     verbose=0, return_dict=True)
      for pad in (False, True))
  assert padded == pytest.approx(plain, rel=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_training_on_padded_batches_equals_unpadded_training(graph, name):
  initial, plain = _train(graph, name, pad=False)
  padded_initial, padded = _train(graph, name, pad=True)
  assert _max_diff(initial, padded_initial) == 0.0
  assert _max_diff(plain, initial) > 100 * TOLERANCE  # training moved
  assert _max_diff(plain, padded) <= TOLERANCE


@pytest.mark.parametrize("name", ["commnet", "graph_regularization"])
def test_xla_training_on_padded_batches_matches_graph_mode(graph, name):
  _, graph_mode = _train(graph, name, pad=True)
  _, compiled = _train(graph, name, pad=True, jit_compile=True)
  assert _max_diff(graph_mode, compiled) <= TOLERANCE


@pytest.mark.slow
def test_xla_full_batch_gcn_matches_the_sparse_matmul(graph):
  """XLA has no sparse kernels; the GCN then aggregates by segment sums."""
  results = []
  for jit_compile in (False, True):
    options = training.TrainingOptions(epochs=20, seed=0,
                                       jit_compile=jit_compile)
    # No dropout: XLA draws other random masks.
    results.append(training.train_node_classifier(
        graph, "gcn", options, hidden_units=(8,), dropout=0.0))
  assert results[1].model.jit_compile and not results[0].model.jit_compile
  assert _max_diff(results[0].model.get_weights(),
                   results[1].model.get_weights()) <= TOLERANCE
  assert results[1].accuracy == pytest.approx(results[0].accuracy)


def test_static_shapes_option_pads_every_split(graph):
  model = _classifier("commnet", graph.num_classes)
  options = training.TrainingOptions(batch_size=BATCH_SIZE,
                                     max_neighbors=MAX_NEIGHBORS,
                                     static_shapes=True)
  datasets = training.node_datasets(graph, model, options)
  for split, dataset in datasets.items():
    assert len(dataset.element_spec) == 3, split
    assert dataset.element_spec[1].shape[0] is not None, split


@pytest.mark.slow
def test_static_shapes_train_with_xla_to_the_plain_accuracy(graph):
  scores = []
  for static in (False, True):
    options = training.TrainingOptions(
        epochs=30, batch_size=BATCH_SIZE, max_neighbors=MAX_NEIGHBORS, seed=0,
        static_shapes=static, jit_compile=static)
    result = training.train_node_classifier(
        graph, "commnet", options, hidden_units=(16,), dropout=0.0)
    assert result.model.jit_compile == static
    scores.append(result.accuracy)
  assert scores[1] == pytest.approx(scores[0], abs=1e-6)
  assert scores[1]["test"] > 0.5


def test_padding_and_dropping_the_remainder_exclude_each_other(graph):
  with pytest.raises(ValueError, match="drop_remainder and pad_remainder"):
    gm.packed_dataset(graph, graph.split_nodes("train"), 2, BATCH_SIZE,
                      drop_remainder=True, pad_remainder=True)


def test_padding_never_reads_a_node_for_the_id_minus_one():
  # A graph whose node 0 has features and neighbours: padding must not
  # copy them (the gather clamps -1 to 0 before masking).
  graph = gm.Graph.from_edges(
      np.ones((3, 2), np.float32), np.array([1, 2]), np.array([0, 0]),
      labels=np.array([0, 1, 1]), num_classes=2,
      train_mask=np.array([True, True, True]), name="tiny")
  x, _, _ = next(iter(gm.packed_dataset(graph, [1], 2, 4,
                                        pad_remainder=True)))
  np.testing.assert_array_equal(x["features"][1:], 0.0)
  np.testing.assert_array_equal(x["NL_nbr_0_weight"][1:], 0.0)
  assert tf.reduce_all(x["NL_nbr_0_node_id"][1:] == -1)


def test_xla_with_deterministic_ops_is_a_clear_error(graph):
  training.seed_everything(0)
  with pytest.raises(ValueError, match="op determinism off"):
    training.compile_classifier(_classifier("mlp", graph.num_classes), 0.01,
                                jit_compile=True)
