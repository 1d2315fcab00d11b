"""GAM rounds on sparse node features: packed batches (pair nodes included)
keep them sparse, and training matches the same graph with dense features."""

import dataclasses

import keras
import numpy as np
import pytest
import scipy.sparse as sp
import tensorflow as tf

from gam.agreement import AgreementModel, AgreementTrainingOptions
from gam.agreement_regularization import (AgreementRegularization,
                                          regularized_dataset)
from gam import graph_agreement_model
from gam.cotraining import CoTrainingOptions
from gam.graph_agreement_model import GraphAgreementModel
from gam_datasets.synthetic import generate_flickr_like
from graph_models.training import build_classifier, seed_everything

OPTIONS = CoTrainingOptions(
    max_rounds=1, epochs=3, patience=3, batch_size=16,
    regularization=AgreementRegularization(16, reg_weight_lu=1.0,
                                           reg_weight_uu=0.5),
    agreement=AgreementTrainingOptions(max_steps=20, eval_every=10), seed=2)


@pytest.fixture(scope="module")
def sparse_graph():
  graph = generate_flickr_like(num_nodes=150, num_classes=3, num_features=40,
                               labels_per_class=5, num_val=30, num_test=40,
                               avg_degree=6, seed=4)
  # Keep about 5% of the entries: sparse enough to stay sparse.
  mask = np.random.default_rng(0).random(graph.features.shape) < 0.05
  return graph.replace(features=sp.csr_matrix(graph.features * mask))


def round_losses(graph, separate: bool):
  """Round 1's `(loss, agreement_loss)` per epoch, without dropout."""
  seed_everything(OPTIONS.seed)
  model = GraphAgreementModel(
      node_model_fn=lambda: build_classifier("commnet", graph.num_classes,
                                             hidden_units=(8,), dropout=0.0),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(8,)),
      options=dataclasses.replace(OPTIONS,
                                  separate_regularization_pass=separate))
  model.compile(optimizer=keras.optimizers.Adam(0.02))
  logs = []
  model.fit(graph, verbose=0, callbacks=[keras.callbacks.LambdaCallback(
      on_epoch_end=lambda epoch, epoch_logs: logs.append(
          (epoch_logs["loss"], epoch_logs["agreement_loss"])))])
  return np.array(logs[-OPTIONS.epochs:])


def test_packed_training_batches_hold_sparse_features(sparse_graph):
  nodes = sparse_graph.split_nodes("train")
  inputs, _ = next(iter(regularized_dataset(
      sparse_graph, nodes, sparse_graph.labels, None, 0, full_batch=False,
      max_neighbors=3, sparse_features=True)))
  assert isinstance(inputs["features"], tf.SparseTensor)
  assert isinstance(inputs["NL_nbr_2_features"], tf.SparseTensor)


def test_a_sparse_packed_batch_splits_into_targets_and_pair_nodes(
    sparse_graph):
  # What the separate regularisation pass does to a training batch.
  inputs, _ = next(iter(regularized_dataset(
      sparse_graph, sparse_graph.split_nodes("train"), sparse_graph.labels,
      None, 0, full_batch=False, max_neighbors=3, batch_size=12,
      sparse_features=True)))
  targets, pair_nodes = graph_agreement_model._split_targets(inputs, 5)  # pylint: disable=protected-access
  for key in ("features", "NL_nbr_1_features"):
    rows = tf.sparse.to_dense(inputs[key]).numpy()
    assert targets[key].shape.as_list() == [5, 40]
    np.testing.assert_array_equal(tf.sparse.to_dense(targets[key]), rows[:5])
    np.testing.assert_array_equal(tf.sparse.to_dense(pair_nodes[key]),
                                  rows[5:])
  np.testing.assert_array_equal(pair_nodes["node_id"], inputs["node_id"][5:])


@pytest.mark.slow
@pytest.mark.parametrize("separate", [False, True],
                         ids=["one_pass", "separate_pass"])
def test_sparse_features_train_as_the_dense_ones(sparse_graph, separate):
  dense_graph = sparse_graph.replace(
      features=sparse_graph.dense_features())
  sparse = round_losses(sparse_graph, separate)
  assert (sparse[:, 1] > 0).all()  # the agreement term is there
  np.testing.assert_allclose(sparse, round_losses(dense_graph, separate),
                             rtol=1e-4)
