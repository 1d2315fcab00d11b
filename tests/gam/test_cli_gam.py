"""`gam-train`'s GAM jobs: rounds, history, plots, resume, the default job."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from gam import checkpoints, cli
from graph_models import whole_graph_inputs
from gam_datasets import load_graph
from tests.cluster import worker_tf_configs
from tests.gam.cli_outputs import environment_without, is_png, scalars


@pytest.mark.slow
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
  assert is_png(out / "gam_rounds.png")


GAM_ARGS = ["--gam", "--dataset", "flickr_synthetic_small", "--model", "gcn",
            "--epochs", "30", "--patience", "30", "--rounds", "2",
            "--steps-per-epoch", "1", "--agreement-steps", "200",
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
  # The package's GCN protocol, with the points the command line set.
  options = results["cotraining_options"]
  assert (options["agreement"]["max_steps"], options["steps_per_epoch"],
          options["separate_regularization_pass"]) == (200, 1, True)
  rounds = results["rounds"]
  assert [r["round"] for r in rounds] == list(range(len(rounds)))
  assert results["baseline_test_accuracy"] == rounds[0]["test_accuracy"]
  best = rounds[results["best_round"]]
  assert results["test_accuracy"] == best["test_accuracy"]
  assert results["val_accuracy"] == max(r["val_accuracy"] for r in rounds)
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  history = json.loads((out / "gam_history.json").read_text())
  assert history["rounds"] == rounds
  assert is_png(out / "gam_rounds.png")
  assert is_png(out / "test_predictions.png")
  # TensorBoard: the rounds' record, one step per round, and each round's
  # classifier training in its own run.
  logged = scalars(out / "tensorboard" / "rounds")
  assert logged["val_accuracy"] == pytest.approx(
      {r["round"]: r["val_accuracy"] for r in rounds})
  assert logged["labelled"] == {r["round"]: r["labelled"] for r in rounds}
  for r in rounds:
    assert "epoch_accuracy" in scalars(
        out / "tensorboard" / f"round_{r['round']}" / "train")
  assert checkpoints.latest_round(out / "checkpoints") == len(rounds) - 1
  model = keras.models.load_model(out / "model.keras")
  graph = load_graph("flickr_synthetic_small", seed=5)
  inputs = whole_graph_inputs(graph, graph.split_nodes("test"))
  accuracy = np.mean(model.predict_on_batch(inputs).argmax(1)
                     == graph.labels[graph.split_nodes("test")])
  assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("moment, checkpoint, resumed_from", [
    # Round 0 is checkpointed: round 1's agreement model is training.
    ("agreement", "", "1 round(s) done\n"),
    # Round 1 is checkpointed after its agreement model: its classifier is
    # training, and the run resumes there.
    ("classifier", "in_round", "1 round(s) done, round 1 from after its "
     "agreement model's training\n"),
])
def test_killed_gam_job_resumes_to_the_same_result(
    gam_run, tmp_path, moment, checkpoint, resumed_from):
  del moment  # names the case
  out = tmp_path / "run"
  command = [sys.executable, "-m", "gam", *GAM_ARGS, "--output", str(out)]
  process = subprocess.Popen(command, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  deadline = time.monotonic() + 300
  expected = 0 if not checkpoint else 1
  while checkpoints.latest_round(out / "checkpoints" / checkpoint
                                 ) != expected:
    assert process.poll() is None, "the run ended before it could be killed"
    assert time.monotonic() < deadline
    time.sleep(0.02)
  os.kill(process.pid, signal.SIGKILL)
  assert process.wait() == -signal.SIGKILL
  assert not (out / "results.json").exists()
  resumed = subprocess.run(command, check=True, capture_output=True,
                           text=True)
  assert f"Resuming from {out / 'checkpoints'}: {resumed_from}" in \
      resumed.stdout
  results = json.loads((out / "results.json").read_text())
  assert _comparable_rounds(results) == _comparable_rounds(gam_run[1])
  assert results["test_accuracy"] == gam_run[1]["test_accuracy"]


@pytest.mark.slow
def test_default_job_is_gam_with_commnet_and_gains_over_round_0(tmp_path):
  """`gam-train` with no option, as the README's first command runs it."""
  out = tmp_path / "default"
  result = subprocess.run([sys.executable, "-m", "gam", "--output", str(out)],
                          capture_output=True, text=True, check=True,
                          env=environment_without("TF_CPP_MIN_LOG_LEVEL"))
  lines = result.stdout.splitlines()
  assert lines[0].startswith("graph: Graph(name='flickr_synthetic'")
  assert [line.split(" |")[0] for line in lines[1:5]] == [
      f"Round {r}/3" for r in range(4)]
  assert lines[-2].startswith("GAM: round ")
  results = json.loads((out / "results.json").read_text())
  assert results["gam"] and results["model"] == "commnet"
  assert results["dataset"] == "flickr_synthetic"
  # Seed 0 measured: 0.755 at round 0, 0.850 at the chosen round.
  assert results["test_accuracy"] > results["baseline_test_accuracy"] + 0.05
  gain = results["test_accuracy"] - results["baseline_test_accuracy"]
  assert lines[-2].endswith(f"{100 * gain:+.1f} points")
  assert is_png(out / "gam_rounds.png")
  assert not result.stderr.strip(), result.stderr


@pytest.mark.slow
def test_two_workers_leave_one_set_of_files_and_the_same_weights(tmp_path):
  out = tmp_path / "run"
  args = ["--gam", "--dataset", "flickr_synthetic_small", "--model", "gcn",
          "--epochs", "5", "--patience", "5", "--rounds", "1",
          "--steps-per-epoch", "1", "--agreement-steps", "40",
          "--num-pairs", "32", "--strategy", "multi_worker", "--output",
          str(out), "--tensorboard", str(tmp_path / "tensorboard")]
  workers = [subprocess.Popen(
      [sys.executable, "-m", "gam", *args], stdout=subprocess.PIPE,
      stderr=subprocess.PIPE, text=True,
      env={**os.environ, "TF_CONFIG": tf_config})
             for tf_config in worker_tf_configs(2)]
  digests, roles = [], []
  try:
    for worker in workers:
      stdout, stderr = worker.communicate(timeout=600)
      assert worker.returncode == 0, stderr[-5000:]
      digests.append(re.findall(r"final weights sha256 (\w+)", stdout))
      roles.append(stdout.strip().splitlines()[-1])
  finally:
    for worker in workers:
      worker.kill()
  assert roles == [f"results, model and plots in {out}",
                   f"results, model and plots are the chief's, in {out}"]
  # One set of files, the chief's (worker 0), and the same final weights
  # on both workers.
  assert sorted(p.name for p in out.iterdir()) == [
      "checkpoints", "gam_history.json", "gam_rounds.png", "model.keras",
      "results.json", "test_predictions.png"]
  assert {p.name for p in (out / "checkpoints").iterdir()} == {
      "checkpoint", "round-0.index", "round-0.data-00000-of-00001",
      "round-1.index", "round-1.data-00000-of-00001", "in_round"}
  # Round 1 after its agreement model, kept until the next round's.
  assert {p.name for p in (out / "checkpoints" / "in_round").iterdir()} == {
      "checkpoint", "round-1.index", "round-1.data-00000-of-00001"}
  results = json.loads((out / "results.json").read_text())
  assert results["num_replicas_in_sync"] == 2
  assert digests == [[results["weights_sha256"]]] * 2
  assert sorted(p.name for p in (tmp_path / "tensorboard").iterdir()) == [
      "round_0", "round_1", "rounds"]
