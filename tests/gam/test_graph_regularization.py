"""`GraphRegularizationModel`: NSL's graph loss on packed neighbourhoods."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import graph_models as gm
from gam.agreement import AgreementModel, AgreementTrainingOptions
from gam.graph_regularization import GraphRegularizationModel
from graph_models import nsl, training
from gam_datasets import load_graph

MAX_NEIGHBORS = 3


def regularized(num_classes, node_model="mlp", multiplier=0.5,
                max_neighbors=MAX_NEIGHBORS, **distance):
  config = nsl.make_graph_reg_config(max_neighbors=max_neighbors,
                                     multiplier=multiplier, **distance)
  model = GraphRegularizationModel(
      config=config, node_model_fn=lambda: training.build_classifier(
          node_model, num_classes))
  training.compile_classifier(model, 0.01)
  return model


def fit_and_score(graph, model, epochs, seed=0):
  train = gm.packed_dataset(graph, graph.split_nodes("train"), MAX_NEIGHBORS,
                            batch_size=64, shuffle=True, seed=seed)
  history = model.fit(train, epochs=epochs, verbose=0, shuffle=False)
  test = gm.packed_dataset(graph, graph.split_nodes("test"), 0, 1024)
  return history, model.evaluate(test, verbose=0, return_dict=True)["accuracy"]


@pytest.fixture(scope="module")
def small():
  return load_graph("flickr_synthetic_small")


def test_graph_loss_is_the_weighted_mean_squared_distance(small):
  model = regularized(small.num_classes, multiplier=1.0)
  inputs = next(iter(gm.packed_dataset(small, [0, 1, 2, 3], MAX_NEIGHBORS, 4)
                     ))[0]
  centre = model(inputs).numpy()
  total, nonzero = 0.0, 0
  for i in range(MAX_NEIGHBORS):
    neighbour = model({"features": inputs[f"NL_nbr_{i}_features"]}).numpy()
    w = inputs[f"NL_nbr_{i}_weight"].numpy()[:, 0]
    total += np.sum(w * np.sum((centre - neighbour) ** 2, axis=1))
    nonzero += np.count_nonzero(w)
  ours = model.graph_loss(inputs, model(inputs)).numpy()
  # NSL's default reduction: weighted sum over the non-zero weights' count.
  assert ours == pytest.approx(total / nonzero, rel=1e-5)


def test_zero_multiplier_trains_exactly_like_the_plain_classifier(small):
  # The graph term is skipped, not just weighted by 0: same dropout draws.
  training.seed_everything(0)
  plain = training.build_classifier("mlp", small.num_classes)
  training.compile_classifier(plain, 0.01)
  fit_and_score(small, plain, epochs=3)
  training.seed_everything(0)
  wrapped = regularized(small.num_classes, multiplier=0.0)
  history, _ = fit_and_score(small, wrapped, epochs=3)
  assert history.history["graph_loss"][-1] == 0
  for a, b in zip(plain.get_weights(), wrapped.node_model.get_weights()):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_graph_regularisation_lifts_an_mlp_on_cora(cora):
  scores = {}
  for multiplier in (0.0, 0.5):
    training.seed_everything(0)
    model = regularized(cora.num_classes, multiplier=multiplier)
    scores[multiplier] = fit_and_score(cora, model, epochs=60)[1]
  print("Cora MLP test accuracy without / with graph loss:", scores)
  assert scores[0.5] >= scores[0.0] + 0.04


@pytest.mark.slow
def test_commnet_is_a_drop_in_node_model(small):
  scores = {}
  for name in ("mlp", "commnet"):
    training.seed_everything(0)
    model = regularized(small.num_classes, node_model=name, multiplier=0.2)
    scores[name] = fit_and_score(small, model, epochs=40)[1]
  print("flickr_synthetic_small test accuracy with graph loss:", scores)
  assert scores["commnet"] >= scores["mlp"] - 0.02
  assert scores["commnet"] > small.majority_class_rate("test") + 0.2


@pytest.mark.parametrize("node_model", ["mlp", "commnet"])
def test_save_load_and_predict_from_own_features_only(small, node_model,
                                                      tmp_path):
  model = regularized(small.num_classes, node_model=node_model,
                      distance_type=nsl.DistanceType.KL_DIVERGENCE,
                      transform_fn=nsl.TransformType.SOFTMAX)
  fit_and_score(small, model, epochs=1)
  model.save(tmp_path / "model.keras")
  loaded = keras.models.load_model(tmp_path / "model.keras")
  assert loaded.graph_reg_config == model.graph_reg_config
  own = {"features": tf.constant(small.features[:16])}
  np.testing.assert_array_equal(loaded.predict_on_batch(own),
                                model.predict_on_batch(own))


def test_bad_arguments_are_refused():
  with pytest.raises(ValueError, match="zero-argument callable"):
    GraphRegularizationModel(config=nsl.make_graph_reg_config())
  with pytest.raises(ValueError, match="NSL GraphRegConfig"):
    GraphRegularizationModel(config={"multiplier": 1},
                             node_model_fn=lambda: gm.MLPNodeClassifier(2))
  with pytest.raises(ValueError, match="not a keras.Model"):
    GraphRegularizationModel(node_model_fn=lambda: "mlp")


# -- with an agreement model (GAM's agreement-weighted term) ------------------


def with_agreement(num_classes, multiplier=1.0, node_model="mlp", **options):
  model = GraphRegularizationModel(
      config=nsl.make_graph_reg_config(max_neighbors=MAX_NEIGHBORS,
                                       multiplier=multiplier),
      node_model_fn=lambda: training.build_classifier(node_model,
                                                      num_classes),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(16,)),
      agreement_options=AgreementTrainingOptions(max_steps=60, eval_every=20,
                                                 **options))
  training.compile_classifier(model, 0.01)
  return model


def train_batches(graph, repeat=False):
  dataset = gm.packed_dataset(graph, graph.split_nodes("train"),
                              MAX_NEIGHBORS, batch_size=64, shuffle=True)
  return dataset.repeat() if repeat else dataset


def test_agreement_term_is_gams_weighted_by_the_frozen_agreement_model(small):
  model = with_agreement(small.num_classes)
  inputs, labels = next(iter(gm.packed_dataset(small, [0, 1, 2, 3],
                                               MAX_NEIGHBORS, 4)))
  model(inputs)  # builds both models
  centre = inputs["features"].numpy()
  total, slots = 0.0, 0
  for i in range(MAX_NEIGHBORS):
    neighbour = inputs[f"NL_nbr_{i}_features"]
    p = tf.nn.softmax(model({"features": neighbour})).numpy()
    g = tf.sigmoid(model.agreement_model(
        {"left": centre, "right": neighbour})).numpy()
    w = inputs[f"NL_nbr_{i}_weight"].numpy()[:, 0]
    one_hot = np.eye(small.num_classes)[labels.numpy()]
    total += np.sum(w * g * np.sum((one_hot - p) ** 2, axis=1))
    slots += len(w)
  ours = model.graph_loss(inputs, model(inputs), labels=labels).numpy()
  # Stretcu et al.'s LU term, averaged over every packed slot.
  assert ours == pytest.approx(total / slots, rel=1e-5)
  with pytest.raises(ValueError, match="needs the centres' labels"):
    model.graph_loss(inputs, model(inputs))


@pytest.mark.parametrize("repeat", [False, True])
def test_fit_agreement_reads_each_labelled_centre_once(small, repeat):
  model = with_agreement(small.num_classes)
  features, labels = model._labelled_examples(
      train_batches(small, repeat), None, 50_000)
  train = small.split_nodes("train")
  assert len(labels) == train.size
  order = np.lexsort(features.T)
  expected = np.lexsort(small.dense_features()[train].T)
  np.testing.assert_array_equal(labels[order], small.labels[train][expected])


def test_fit_trains_the_agreement_model_first_then_keeps_it_frozen(small):
  training.seed_everything(0)
  model = with_agreement(small.num_classes)
  model.fit(train_batches(small), epochs=1, verbose=0)
  steps = int(model.agreement_steps.numpy())
  assert 0 < steps <= 60
  agreement = model.agreement_model.get_weights()
  node = model.node_model.get_weights()
  history = model.fit(train_batches(small), epochs=2, verbose=0)
  assert int(model.agreement_steps.numpy()) == steps  # not trained again
  for before, after in zip(agreement, model.agreement_model.get_weights()):
    np.testing.assert_array_equal(before, after)
  assert any(not np.array_equal(a, b)
             for a, b in zip(node, model.node_model.get_weights()))
  assert all(np.isfinite(history.history["graph_loss"]))
  assert history.history["graph_loss"][-1] > 0


def test_agreement_model_is_saved_and_not_retrained_after_loading(small,
                                                                 tmp_path):
  model = with_agreement(small.num_classes)
  model.fit(train_batches(small), epochs=1, verbose=0)
  model.save(tmp_path / "model.keras")
  loaded = keras.models.load_model(tmp_path / "model.keras")
  assert loaded.agreement_options == model.agreement_options
  # The optimizer updates the classifier only, before and after loading.
  assert ({v.path for v in loaded.trainable_variables}
          == {v.path for v in loaded.node_model.trainable_variables})
  assert len(loaded.optimizer.variables) == len(model.optimizer.variables)
  assert int(loaded.agreement_steps.numpy()) == int(
      model.agreement_steps.numpy())
  pair = {"left": small.dense_features()[:8],
          "right": small.dense_features()[8:16]}
  np.testing.assert_array_equal(loaded.agreement_model.predict_on_batch(pair),
                                model.agreement_model.predict_on_batch(pair))
  own = {"features": tf.constant(small.features[:16])}
  np.testing.assert_array_equal(loaded.predict_on_batch(own),
                                model.predict_on_batch(own))


def test_fit_agreement_refuses_what_it_cannot_use(small):
  with pytest.raises(ValueError, match="no agreement model"):
    regularized(small.num_classes).fit_agreement(train_batches(small))
  model = with_agreement(small.num_classes)
  unlabelled = train_batches(small).map(lambda x, y: x)
  with pytest.raises(ValueError, match="needs labelled examples"):
    model.fit_agreement(unlabelled)
  with pytest.raises(ValueError, match="at least 2 labelled examples"):
    model.fit_agreement(gm.packed_dataset(small, [0], MAX_NEIGHBORS, 4))


@pytest.mark.parametrize("with_agreement", [False, True],
                         ids=["nsl", "agreement"])
def test_sparse_packed_batches_give_the_dense_terms_and_training(
    cora, with_agreement):
  """Packed batches holding sparse features (`sparse_features=True`) give
  the graph term and the training of dense ones (no dropout: the two paths
  draw different masks)."""
  def fit(sparse):
    training.seed_everything(0)
    model = GraphRegularizationModel(
        config=nsl.make_graph_reg_config(max_neighbors=MAX_NEIGHBORS,
                                         multiplier=0.5),
        node_model_fn=lambda: training.build_classifier(
            "commnet", cora.num_classes, dropout=0.0),
        agreement_model_fn=AgreementModel if with_agreement else None,
        agreement_options=AgreementTrainingOptions(max_steps=20))
    training.compile_classifier(model, 0.01)
    train = gm.packed_dataset(cora, cora.split_nodes("train"), MAX_NEIGHBORS,
                              batch_size=70, sparse_features=sparse)
    inputs, labels = next(iter(train))
    assert isinstance(inputs["NL_nbr_0_features"], tf.SparseTensor) == sparse
    term = model.graph_loss(inputs, model(inputs), labels=labels)
    history = model.fit(train, epochs=2, verbose=0, shuffle=False)
    return float(term), history.history["loss"]
  dense_term, dense_losses = fit(False)
  sparse_term, sparse_losses = fit(True)
  assert sparse_term == pytest.approx(dense_term, rel=1e-4, abs=1e-7)
  assert sparse_losses == pytest.approx(dense_losses, rel=1e-4)
