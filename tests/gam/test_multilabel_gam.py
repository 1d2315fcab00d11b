"""GAM on multi-label graphs: label-set agreement, sigmoid regularisation,
self-labelled label sets, rounds compared by per-label mAP."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from gam.agreement import AgreementModel, AgreementPairSampler
from gam.agreement_regularization import (AgreementRegularization,
                                          RegularizationPairs,
                                          agreement_regularization_loss)
from gam.cotraining import CoTrainingOptions
from gam.edge_pairs import EdgePairs
from gam.graph_agreement_model import GraphAgreementModel
from gam.self_labeling import class_shares, select_new_labels
from gam.agreement import AgreementTrainingOptions
from graph_models.label_table import UNLABELED, keep_labels, labeled_rows
from graph_models.label_table import values_agree
from gam_datasets.synthetic_multilabel import generate_multilabel_flickr_like
from graph_models.training import (build_classifier, compile_classifier,
                                   prediction_dataset, seed_everything)

OPTIONS = CoTrainingOptions(
    max_rounds=2, epochs=15, patience=15, num_samples_to_label=30,
    regularization=AgreementRegularization(32, reg_weight_lu=1.0,
                                           reg_weight_uu=0.5),
    agreement=AgreementTrainingOptions(max_steps=40, eval_every=20),
    seed=5)


@pytest.fixture(scope="module")
def graph():
  return generate_multilabel_flickr_like(
      num_nodes=300, num_classes=3, num_features=12, labels_per_class=5,
      num_val=50, num_test=80, avg_degree=6, num_concepts=6, seed=2)[0]


def make_model(graph, multilabel=True):
  seed_everything(OPTIONS.seed)
  model = GraphAgreementModel(
      node_model_fn=lambda: build_classifier("gcn", graph.num_classes,
                                             hidden_units=(16,)),
      agreement_model_fn=lambda: AgreementModel(hidden_units=(8,)),
      options=OPTIONS, multilabel=multilabel)
  model.compile(optimizer=keras.optimizers.Adam(0.02))
  return model


@pytest.fixture(scope="module")
def trained(graph):
  model = make_model(graph)
  history = model.fit(graph, verbose=0)
  return model, history


def test_rounds_are_compared_by_label_map_and_grow_label_sets(graph, trained):
  model, history = trained
  assert history.score_name == "label_map"
  assert len(history.rounds) == 3
  for record in history.rounds:
    assert 0.0 <= record.val_scores["label_map"] <= 1.0
    assert {"label_map", "image_map",
            "precision_at_3"} <= set(record.test_scores)
    assert "accuracy" not in record.val_scores
  best = max(range(3),
             key=lambda r: history.rounds[r].val_scores["label_map"])
  assert history.best_round == best
  labels = model.final_labels
  new = labeled_rows(labels) & ~graph.train_mask
  assert new.sum() == history.rounds[1].new_labels > 0
  # New labels are label sets of 0/1 with at least one class, on training
  # candidates only.
  assert set(np.unique(labels[new])) <= {0, 1}
  assert (labels[new].sum(axis=1) >= 1).all()
  assert not (new & (graph.val_mask | graph.test_mask)).any()
  accuracy = history.rounds[1].new_label_accuracy
  assert accuracy == pytest.approx(np.mean(values_agree(
      labels[new], graph.labels[new])))


def test_save_and_load_give_identical_predictions(graph, trained, tmp_path):
  model, _ = trained
  path = str(tmp_path / "gam.keras")
  model.save(path)
  loaded = keras.models.load_model(path)
  assert loaded.multilabel

  def predict(m):
    return m.predict(prediction_dataset(graph, m.node_model,
                                        np.arange(graph.num_nodes)),
                     verbose=0)
  np.testing.assert_array_equal(predict(model), predict(loaded))


def test_label_kind_mismatch_is_refused(graph):
  with pytest.raises(ValueError, match="multi-label labels but the model was "
                                       "made with multilabel=False"):
    make_model(graph, multilabel=False).fit(graph, verbose=0)


def test_labelled_end_of_a_mixed_edge_is_always_on_the_left(graph):
  labels = keep_labels(graph.labels, graph.train_mask)
  pairs = EdgePairs.from_graph(graph, labels)
  known = labeled_rows(labels)
  assert len(pairs.lu) and known[pairs.lu[:, 0]].all()
  assert not known[pairs.lu[:, 1]].any()


def test_regularisation_uses_label_sets_and_sigmoids(graph):
  labels = keep_labels(graph.labels, graph.train_mask)
  pairs = RegularizationPairs.build(
      graph, labels, AgreementRegularization(8, 1.0, 1.0, 1.0),
      lambda left, right: np.full(len(left), 0.5, np.float32))
  assert pairs.label_shape == (graph.num_classes,)
  assert pairs.left_labels["lu"].shape == (pairs.count("lu"),
                                           graph.num_classes)
  if pairs.count("ll"):
    agree = values_agree(labels[pairs.left["ll"]], labels[pairs.right["ll"]])
    np.testing.assert_array_equal(pairs.weights["ll"], agree.astype(float))
  # One LU pair and one UU pair, by hand.
  logits = tf.constant([[0.0, 2.0], [1.0, -1.0], [0.0, 0.0]])
  left_labels = tf.constant([[1.0, 0.0]])
  loss = agreement_regularization_loss(logits, left_labels,
                                       tf.constant([1.0, 2.0]))
  s = 1 / (1 + np.exp(-np.array([[0.0, 2.0], [1.0, -1.0], [0.0, 0.0]])))
  # Squared distances averaged over the 2 classes, then over the 2 pairs.
  expected = (np.mean((np.array([1.0, 0.0]) - s[0]) ** 2)
              + 2 * np.mean((s[1] - s[2]) ** 2)) / 2
  assert float(loss) == pytest.approx(expected, rel=1e-6)


def test_agreement_pairs_target_label_set_agreement(graph):
  labels = keep_labels(graph.labels, graph.train_mask | graph.val_mask)
  sampler = AgreementPairSampler(graph, labels, batch_size=64, seed=0)
  left, right, targets = sampler.batch()
  np.testing.assert_array_equal(
      targets, values_agree(labels[left], labels[right]).astype(float))
  assert targets.mean() == pytest.approx(0.5)
  assert labeled_rows(labels)[np.r_[left, right]].all()


def test_self_labelling_adds_confident_label_sets():
  probabilities = np.array([[.95, .02, .9],    # sure: {0, 2}
                            [.6, .1, .1],      # unsure about class 0
                            [.1, .05, .02],    # sure, but of the empty set
                            [.03, .97, .01]])  # sure: {1}
  ids, new = select_new_labels(probabilities, np.array([10, 11, 12, 13]),
                               num_samples_to_label=10, min_confidence=0.8,
                               multilabel=True)
  assert ids.tolist() == [13, 10]
  assert new.tolist() == [[0, 1, 0], [1, 0, 1]]
  shares = class_shares(np.array([[1, 0, 1], [0, 1, 0], [UNLABELED] * 3]), 3)
  np.testing.assert_allclose(shares, [1 / 3, 1 / 3, 1 / 3])


def test_graph_regularization_model_trains_on_label_sets(graph):
  """NSL-style graph regularisation with multi-hot targets and sigmoid
  cross-entropy: trains, reports its graph loss, beats the floor."""
  from gam.graph_regularization import GraphRegularizationModel  # pylint: disable=g-import-not-at-top
  from graph_models import nsl  # pylint: disable=g-import-not-at-top
  from graph_models.tasks import label_tasks  # pylint: disable=g-import-not-at-top
  from graph_models.neighbor_packing import packed_dataset  # pylint: disable=g-import-not-at-top
  seed_everything(0)
  model = GraphRegularizationModel(
      config=nsl.make_graph_reg_config(max_neighbors=3, multiplier=0.02),
      node_model_fn=lambda: build_classifier("mlp", graph.num_classes,
                                             hidden_units=(16,)))
  compile_classifier(model, 0.02, multilabel=True)
  train = packed_dataset(graph, graph.split_nodes("train"), 3, batch_size=16,
                         shuffle=True)
  history = model.fit(train, epochs=30, verbose=0)
  assert np.isfinite(history.history["loss"]).all()
  assert {"image_map", "precision_at_3"} <= set(history.history)
  assert history.history["graph_loss"][-1] > 0
  nodes = graph.split_nodes("test")
  logits = model.predict(prediction_dataset(graph, model.node_model, nodes),
                         verbose=0)
  scores = label_tasks.split_scores(label_tasks.probabilities(logits, True),
                                    graph.labels[nodes])
  floor = label_tasks.most_frequent_scores(graph, "test")
  print(scores, floor)
  assert scores["label_map"] > floor["label_map"] + 0.1
