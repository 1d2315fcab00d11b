"""GAM protocols: the reference code's settings and the package's, by name."""

import dataclasses

import numpy as np
import pytest

from gam.protocols import PROTOCOLS, gam_protocol
from graph_models.classifiers.gcn import GCNNodeClassifier
from gam_datasets import load_graph
from graph_models.training import build_classifier


def test_the_reference_gcn_protocol_is_the_reference_codes_command():
  protocol = gam_protocol("reference", "gcn")
  classifier, options = protocol.classifier, protocol.cotraining
  assert (classifier.hidden, classifier.learning_rate,
          classifier.weight_decay, classifier.use_bias,
          classifier.row_normalize_features) == (128, 1e-3, 0.0, False, False)
  # Validation every 5 steps, stopping 2,000 steps after the best.
  assert (options.steps_per_epoch, options.patience) == (5, 400)
  regularization = options.regularization
  assert (regularization.num_pairs, regularization.reg_weight_lu,
          regularization.reg_weight_uu, regularization.mean_over_all_kinds,
          regularization.sampling) == (512, 1.0, 0.5, True, "passes")
  assert options.separate_regularization_pass
  assert (options.min_confidence, options.keep_label_proportions) == (
      0.4, False)
  agreement = options.agreement
  assert (agreement.min_steps, agreement.eval_every, agreement.patience,
          agreement.stop_at_perfect, agreement.loss_reduction,
          agreement.random_pair_share) == (2000, 10, 200, True, "sum", 0.0)


def test_the_reference_mlp_protocol_self_labels_only_confident_nodes():
  protocol = gam_protocol("reference", "mlp")
  assert protocol.cotraining.min_confidence == 0.9
  assert protocol.cotraining.keep_label_proportions
  assert (protocol.classifier.dropout, protocol.classifier.activation) == (
      0.0, "leaky_relu")
  model = build_classifier("mlp", 7, **protocol.classifier.model_kwargs("mlp"))
  assert (model.dropout, model.activation) == (0.0, "leaky_relu")


def test_protocols_are_known_by_name_and_model():
  assert PROTOCOLS == ("package", "reference")
  for model in ("gcn", "mlp", "commnet", "graphsage"):
    assert gam_protocol("package", model).name == "package"
  with pytest.raises(ValueError, match="gcn and mlp classifiers only"):
    gam_protocol("reference", "commnet")
  with pytest.raises(ValueError, match="protocol must be one of"):
    gam_protocol("paper", "gcn")


def test_a_gcn_without_bias_has_kernels_only_and_saves_it(tmp_path, cora):
  kwargs = gam_protocol("reference", "gcn").classifier.model_kwargs("gcn")
  model = GCNNodeClassifier(cora.num_classes, **kwargs)
  with_bias = GCNNodeClassifier(cora.num_classes, hidden_units=(128,))
  for m in (model, with_bias):
    m.build({"features": (None, 8), "node_ids": (None,),
             "senders": (None,), "receivers": (None,),
             "edge_weights": (None,)})
  assert [v.name for v in model.trainable_variables] == ["kernel", "kernel"]
  assert len(with_bias.trainable_variables) == 4
  restored = GCNNodeClassifier.from_config(model.get_config())
  assert restored.use_bias is False


def test_raw_planetoid_features_are_the_files_binary_words(cora_dir):
  raw = load_graph("planetoid/cora", manual_dir=cora_dir)
  normalized = load_graph("planetoid/cora", manual_dir=cora_dir,
                          row_normalize=True)
  assert set(np.unique(raw.features.data)) == {1.0}
  np.testing.assert_allclose(
      np.asarray(normalized.features.sum(axis=1)).ravel()[:50], 1.0,
      rtol=1e-6)


def test_with_changes_skips_unset_options_and_routes_pair_options():
  options = gam_protocol("package", "gcn").cotraining
  changed = options.with_changes(max_rounds=3, patience=None,
                                 reg_weight_lu=2.0, agreement_steps=100)
  assert (changed.max_rounds, changed.patience) == (3, options.patience)
  assert changed.regularization == dataclasses.replace(
      options.regularization, reg_weight_lu=2.0)
  assert changed.agreement.max_steps == 100
  assert changed.agreement.min_steps == 100  # capped with the steps
  assert options.with_changes() == options
  with pytest.raises(TypeError, match=r"no options \['hidden'\]"):
    options.with_changes(hidden=8)
