"""The `gam-train` command: outputs, a loadable model, clear errors."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from gam import cli
from graph_models import label_tasks, whole_graph_inputs
from graph_models.sources import load_graph


def _scalars(directory) -> dict:
  """`{tag: {step: value}}` of the TensorBoard event files in `directory`."""
  values = {}
  for path in sorted(directory.glob("events.out.tfevents.*")):
    for record in tf.data.TFRecordDataset(str(path)):
      event = tf.compat.v1.Event.FromString(record.numpy())
      for value in event.summary.value:
        values.setdefault(value.tag, {})[event.step] = float(
            tf.make_ndarray(value.tensor))
  return values


def _is_png(path) -> bool:
  data = path.read_bytes()
  return data.startswith(b"\x89PNG") and len(data) > 10_000


def test_main_job_writes_results_model_and_plot(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--model", "gcn",
                   "--epochs", "30", "--output", str(out), "--verbose", "0",
                   "--tensorboard", str(tmp_path / "tb")])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["model"] == "gcn"
  assert results["config"]["epochs"] == 30
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  assert 0 < results["val_accuracy"] <= 1
  assert _is_png(out / "training_curves.png")
  assert _is_png(out / "test_predictions.png")
  # TensorBoard: one point per epoch, the last the final accuracy.
  validation = _scalars(tmp_path / "tb" / "validation")["epoch_accuracy"]
  assert sorted(validation) == list(range(30))
  assert _scalars(tmp_path / "tb" / "train")["epoch_accuracy"].keys() == \
      validation.keys()
  graph = load_graph("flickr_synthetic_small")
  model = keras.models.load_model(out / "model.keras")
  inputs = whole_graph_inputs(graph, graph.split_nodes("test"))
  accuracy = np.mean(model.predict_on_batch(inputs).argmax(1)
                     == graph.labels[graph.split_nodes("test")])
  assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)


def test_multilabel_job_scores_concept_sets(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--task",
                   "multilabel", "--num-concepts", "12", "--model", "gcn",
                   "--epochs", "40", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["score"] == "label_map" and "test_accuracy" not in results
  assert results["test_label_map"] > results["most_frequent_test_label_map"]
  assert (results["test_precision_at_3"]
          > results["most_frequent_test_precision_at_3"])
  assert _is_png(out / "test_predictions.png")
  # The saved model scores what results.json says.
  graph = load_graph("flickr_synthetic_small", task="multilabel",
                     num_concepts=12)
  model = keras.models.load_model(out / "model.keras")
  nodes = graph.split_nodes("test")
  logits = model.predict_on_batch(whole_graph_inputs(graph, nodes))
  scores = label_tasks.split_scores(
      label_tasks.probabilities(logits, True), graph.labels[nodes])
  assert scores["label_map"] == pytest.approx(results["test_label_map"],
                                              abs=1e-5)


def test_multilabel_gam_job_compares_rounds_by_label_map(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--task",
                   "multilabel", "--num-concepts", "12", "--model", "mlp",
                   "--epochs", "20", "--patience", "20", "--gam",
                   "--rounds", "1", "--positive-weight", "2",
                   "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  rounds = results["rounds"]
  assert results["val_label_map"] == max(r["val_label_map"] for r in rounds)
  assert results["baseline_test_label_map"] == rounds[0]["test_label_map"]
  assert _is_png(out / "gam_rounds.png")


def test_node2vec_model_trains_an_mlp_on_features_and_embeddings(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--model",
                   "node2vec", "--node2vec-dimensions", "16", "--epochs",
                   "30", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  model = keras.models.load_model(out / "model.keras")
  assert type(model).__name__ == "MLPNodeClassifier"
  # 32 synthetic features + 16 embedding dimensions.
  assert model.get_build_config()["input_shape"]["features"][-1] == 48


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
  assert cli.main(["--dataset", "planetoid/cora",
                   "--output", str(tmp_path)]) == 2
  assert "needs data_dir" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [[], ["--gam", "--rounds", "1"]],
                         ids=["classifier", "gam"])
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


def test_static_shapes_and_xla_train_the_classifier(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--model", "commnet",
                   "--epochs", "10", "--batch-size", "48", "--static-shapes",
                   "--jit-compile", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["config"]["static_shapes"] and results["config"]["jit_compile"]
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]


def test_static_shapes_are_refused_with_gam(tmp_path, capsys):
  with pytest.raises(SystemExit, match="2"):
    cli.main(["--gam", "--jit-compile", "--output", str(tmp_path)])
  assert "GAM's pair batches" in capsys.readouterr().err


def test_module_entry_point_prints_help():
  result = subprocess.run([sys.executable, "-m", "gam", "--help"],
                          capture_output=True, text=True, check=True)
  assert "--dataset" in result.stdout and "--model" in result.stdout


GAM_ARGS = ["--gam", "--dataset", "flickr_synthetic_small", "--model", "gcn",
            "--epochs", "30", "--patience", "30", "--rounds", "2",
            "--num-pairs", "64", "--seed", "5", "--verbose", "1"]


def _comparable_rounds(results):
  return [{k: v for k, v in r.items() if not k.endswith("seconds")}
          for r in results["rounds"]]


@pytest.fixture(scope="module")
def gam_run(tmp_path_factory):
  """An uninterrupted `gam-train --gam` run in a fresh process."""
  out = tmp_path_factory.mktemp("gam") / "run"
  subprocess.run([sys.executable, "-m", "gam", *GAM_ARGS, "--output",
                  str(out), "--tensorboard", str(out / "tensorboard")],
                 check=True, capture_output=True, text=True)
  return out, json.loads((out / "results.json").read_text())


def test_gam_job_writes_results_history_plot_and_model(gam_run):
  out, results = gam_run
  assert results["gam"] is True
  rounds = results["rounds"]
  assert [r["round"] for r in rounds] == list(range(len(rounds)))
  assert results["baseline_test_accuracy"] == rounds[0]["test_accuracy"]
  best = rounds[results["best_round"]]
  assert results["test_accuracy"] == best["test_accuracy"]
  assert results["val_accuracy"] == max(r["val_accuracy"] for r in rounds)
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  history = json.loads((out / "gam_history.json").read_text())
  assert history["rounds"] == rounds
  assert _is_png(out / "gam_rounds.png")
  assert _is_png(out / "test_predictions.png")
  # TensorBoard: the rounds' record, one step per round, and each round's
  # classifier training in its own run.
  logged = _scalars(out / "tensorboard" / "rounds")
  assert logged["val_accuracy"] == pytest.approx(
      {r["round"]: r["val_accuracy"] for r in rounds})
  assert logged["labelled"] == {r["round"]: r["labelled"] for r in rounds}
  for r in rounds:
    assert "epoch_accuracy" in _scalars(
        out / "tensorboard" / f"round_{r['round']}" / "train")
  assert (out / "checkpoints" / "latest").read_text() == \
      f"round_{len(rounds) - 1:04d}"
  model = keras.models.load_model(out / "model.keras")
  graph = load_graph("flickr_synthetic_small", seed=5)
  inputs = whole_graph_inputs(graph, graph.split_nodes("test"))
  accuracy = np.mean(model.predict_on_batch(inputs).argmax(1)
                     == graph.labels[graph.split_nodes("test")])
  assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)


def test_killed_gam_job_resumes_to_the_same_result(gam_run, tmp_path):
  import os
  import signal
  import time
  out = tmp_path / "run"
  command = [sys.executable, "-m", "gam", *GAM_ARGS, "--output", str(out)]
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  latest = out / "checkpoints" / "latest"
  deadline = time.monotonic() + 300
  while not (latest.exists() and latest.read_text() == "round_0001"):
    assert process.poll() is None, "the run ended before it could be killed"
    assert time.monotonic() < deadline
    time.sleep(0.02)
  os.kill(process.pid, signal.SIGKILL)  # mid-way through round 2
  assert process.wait() == -signal.SIGKILL
  assert not (out / "results.json").exists()
  resumed = subprocess.run(command, check=True, capture_output=True,
                           text=True)
  assert "Resuming from" in resumed.stdout and "2 round(s) done" in \
      resumed.stdout
  results = json.loads((out / "results.json").read_text())
  assert _comparable_rounds(results) == _comparable_rounds(gam_run[1])
  assert results["test_accuracy"] == gam_run[1]["test_accuracy"]
