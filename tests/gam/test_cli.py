"""The `gam-train` command: outputs, a loadable model, clear errors."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gam import cli
from gam.protocols import gam_protocol
from graph_models import whole_graph_inputs
from graph_models.tasks import label_tasks
import gam_datasets
from gam_datasets import load_graph
from tests.gam.cli_outputs import environment_without, is_png, scalars


def test_main_job_writes_results_model_and_plot(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--no-gam", "--dataset", "flickr_synthetic_small",
                   "--model", "gcn", "--epochs", "30", "--output", str(out),
                   "--verbose", "0", "--tensorboard", str(tmp_path / "tb")])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["model"] == "gcn"
  assert results["config"]["epochs"] == 30
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  assert 0 < results["val_accuracy"] <= 1
  assert is_png(out / "training_curves.png")
  assert is_png(out / "test_predictions.png")
  # TensorBoard: one point per epoch, the last the final accuracy.
  validation = scalars(tmp_path / "tb" / "validation")["epoch_accuracy"]
  assert sorted(validation) == list(range(30))
  assert scalars(tmp_path / "tb" / "train")["epoch_accuracy"].keys() == \
      validation.keys()
  graph = load_graph("flickr_synthetic_small")
  model = keras.models.load_model(out / "model.keras")
  inputs = whole_graph_inputs(graph, graph.split_nodes("test"))
  accuracy = np.mean(model.predict_on_batch(inputs).argmax(1)
                     == graph.labels[graph.split_nodes("test")])
  assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)


def test_multilabel_job_scores_concept_sets(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--no-gam", "--dataset", "flickr_synthetic_small",
                   "--task", "multilabel", "--num-concepts", "12", "--model",
                   "gcn", "--epochs", "40", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["score"] == "label_map" and "test_accuracy" not in results
  assert results["test_label_map"] > results["most_frequent_test_label_map"]
  assert (results["test_precision_at_3"]
          > results["most_frequent_test_precision_at_3"])
  assert is_png(out / "test_predictions.png")
  # The saved model scores what results.json says.
  graph = load_graph("flickr_synthetic_small", multilabel=True,
                     num_concepts=12)
  model = keras.models.load_model(out / "model.keras")
  nodes = graph.split_nodes("test")
  logits = model.predict_on_batch(whole_graph_inputs(graph, nodes))
  scores = label_tasks.split_scores(
      label_tasks.probabilities(logits, True), graph.labels[nodes])
  assert scores["label_map"] == pytest.approx(results["test_label_map"],
                                              abs=1e-5)


def test_node2vec_model_trains_an_mlp_on_features_and_embeddings(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--no-gam", "--dataset", "flickr_synthetic_small",
                   "--model", "node2vec", "--node2vec-dimensions", "16", "--epochs",
                   "30", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  model = keras.models.load_model(out / "model.keras")
  assert type(model).__name__ == "MLPNodeClassifier"
  # 32 synthetic features + 16 embedding dimensions.
  assert model.get_build_config()["input_shape"]["features"][-1] == 48


def test_unset_options_take_the_models_defaults():
  default = cli.parse_args([])
  assert (default.model, default.gam) == ("commnet", True)
  assert (default.rounds, default.num_pairs, default.hidden) == (3, 128, 64)
  plain = cli.parse_args(["--no-gam", "--model", "gcn"])
  assert (plain.hidden, plain.epochs, plain.learning_rate,
          plain.weight_decay) == (16, 200, 0.01, 5e-4)
  for model in cli.MODELS:
    args = cli.parse_args(["--model", model])
    protocol = gam_protocol("package", "mlp" if model == "node2vec" else model)
    assert args.epochs == protocol.cotraining.epochs
    assert args.hidden == protocol.classifier.hidden
  reference = cli.parse_args(["--model", "gcn", "--protocol", "reference"])
  assert (reference.learning_rate, reference.weight_decay, reference.patience,
          reference.steps_per_epoch, reference.reg_weight_lu) == (
              1e-3, 0.0, 400, 5, 1.0)
  given = cli.parse_args(["--model", "gcn", "--hidden", "8", "--rounds", "2",
                          "--learning-rate", "0.5"])
  assert (given.hidden, given.rounds, given.learning_rate) == (8, 2, 0.5)


@pytest.mark.parametrize("option", ["--epochs", "--hidden", "--num-pairs",
                                    "--patience"])
def test_counts_below_one_are_refused(option, capsys):
  with pytest.raises(SystemExit):
    cli.parse_args([option, "0"])
  assert f"argument {option}: must be >= 1, got 0" in capsys.readouterr().err


def test_help_names_where_unset_defaults_come_from(capsys):
  with pytest.raises(SystemExit):
    cli.parse_args(["--help"])
  text = capsys.readouterr().out
  assert "(default: None)" not in text
  assert "(default: per model and protocol, see the README)" in " ".join(
      text.split())
  assert "(default: package)" in " ".join(text.split())


def test_the_reference_protocol_is_for_gcn_and_mlp_only(capsys):
  with pytest.raises(SystemExit):
    cli.parse_args(["--model", "commnet", "--protocol", "reference"])
  assert ("the reference protocol has settings for the gcn and mlp "
          "classifiers only, not 'commnet'") in capsys.readouterr().err
  assert cli.parse_args(["--model", "commnet", "--protocol", "reference",
                         "--no-gam"]).hidden == 64


def test_positive_weight_needs_the_multilabel_task(capsys):
  with pytest.raises(SystemExit):
    cli.parse_args(["--positive-weight", "2"])
  assert "--positive-weight is for --task multilabel" in capsys.readouterr().err


def test_missing_planetoid_directory_is_a_clear_error(tmp_path, capsys):
  code = cli.main(["--dataset", "planetoid/cora", "--data-dir",
                   str(tmp_path / "nowhere"), "--output", str(tmp_path)])
  assert code == 2
  error = capsys.readouterr().err
  assert error.startswith("gam-train: error:")
  assert "nowhere" in error and "Traceback" not in error


def test_planetoid_without_data_dir_says_what_is_needed(tmp_path, capsys):
  # Cora is shipped with the package; Citeseer is not.
  assert cli.main(["--dataset", "planetoid/citeseer",
                   "--output", str(tmp_path)]) == 2
  assert "needs --data-dir" in capsys.readouterr().err


def test_cora_needs_no_data_dir_and_comes_through_load_graph(
    tmp_path, tfds_data_dir, monkeypatch):
  calls = []
  load_graph = gam_datasets.load_graph

  def recording_load_graph(name, *args, **kwargs):
    calls.append(name)
    return load_graph(name, *args, **kwargs)

  monkeypatch.setattr(gam_datasets, "load_graph", recording_load_graph)
  out = tmp_path / "run"
  assert cli.main(["--no-gam", "--dataset", "planetoid/cora", "--model",
                   "gcn", "--epochs", "40", "--output", str(out),
                   "--verbose", "0"]) == 0
  # The examples' way in, through the planetoid TFDS builder.
  assert calls == ["planetoid/cora"]
  assert (tfds_data_dir / "planetoid" / "cora" / "1.0.0").is_dir()
  results = json.loads((out / "results.json").read_text())
  assert results["dataset"] == "planetoid/cora"
  # The real files: 2,708 papers, the majority class 0.319 of the test
  # nodes; 40 epochs of GCN16 reach 0.763 (Kipf's 200 reach 0.815).
  assert results["majority_class_test_accuracy"] == pytest.approx(0.319)
  assert results["test_accuracy"] > 0.7


@pytest.mark.parametrize("extra", [
    pytest.param(["--no-gam"], id="classifier"),
    pytest.param(["--gam", "--rounds", "1"], id="gam",
                 marks=pytest.mark.slow)])
def test_strategy_is_used_and_recorded(tmp_path, extra):
  # The test process has one CPU device: a one-replica MirroredStrategy.
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--model", "gcn",
                   "--epochs", "5", "--strategy", "mirrored", "--output",
                   str(out), "--verbose", "0", *extra])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["strategy"] == "mirrored"
  assert results["num_replicas_in_sync"] == 1
  assert results["config"]["strategy"] == "mirrored"
  assert results["config"]["tpu"] is None
  assert 0 < results["val_accuracy"] <= 1
  keras.models.load_model(out / "model.keras")


@pytest.mark.parametrize("flags, message", [
    (["--tpu", "local"], "only used by the tpu strategy"),
    (["--strategy", "multi_worker"], "TF_CONFIG"),
])
def test_bad_strategy_flags_are_clear_errors(tmp_path, capsys, monkeypatch,
                                             flags, message):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  assert cli.main(["--output", str(tmp_path), *flags]) == 2
  error = capsys.readouterr().err
  assert error.startswith("gam-train: error:") and message in error


@pytest.mark.slow
def test_static_shapes_and_xla_train_the_classifier(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--no-gam", "--dataset", "flickr_synthetic_small",
                   "--model", "commnet", "--epochs", "10", "--batch-size",
                   "48", "--static-shapes",
                   "--jit-compile", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["config"]["static_shapes"] and results["config"]["jit_compile"]
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]


def test_static_shapes_are_refused_with_gam(tmp_path, capsys):
  with pytest.raises(SystemExit, match="2"):
    cli.main(["--gam", "--jit-compile", "--output", str(tmp_path)])
  assert "GAM's pair batches" in capsys.readouterr().err


def test_module_entry_point_prints_help_and_starts_quietly():
  """`python -m gam` is the command; TensorFlow, which it starts before
  parsing, writes nothing to stderr unless asked with --verbose 2."""
  command = [sys.executable, "-m", "gam", "--help"]
  env = environment_without("TF_CPP_MIN_LOG_LEVEL")
  quiet = subprocess.run(command, capture_output=True, text=True, env=env,
                         check=True)
  assert "--dataset" in quiet.stdout and "--no-gam" in quiet.stdout
  assert quiet.stderr == ""
  chatty = subprocess.run(command + ["--verbose", "2"], capture_output=True,
                          text=True, env=env, check=True)
  assert chatty.stdout == quiet.stdout
  assert chatty.stderr.strip()  # TF's own start-up lines


def test_a_bug_is_not_passed_off_as_bad_input(tmp_path, monkeypatch):
  # Only the package's input errors become one-line messages; a ValueError
  # from anywhere else keeps its traceback.
  def broken(args):
    raise ValueError("internal inconsistency")
  monkeypatch.setattr(cli, "_load_graph", broken)
  with pytest.raises(ValueError, match="internal inconsistency"):
    cli.main(["--no-gam", "--output", str(tmp_path)])
