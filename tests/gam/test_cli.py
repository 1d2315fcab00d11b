"""The `gam-train` command: outputs, a loadable model, clear errors."""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest

from gam import cli
from graph_models import whole_graph_inputs
from graph_models.sources import load_graph


def test_main_job_writes_results_model_and_plot(tmp_path):
  out = tmp_path / "run"
  code = cli.main(["--dataset", "flickr_synthetic_small", "--model", "gcn",
                   "--epochs", "30", "--output", str(out), "--verbose", "0"])
  assert code == 0
  results = json.loads((out / "results.json").read_text())
  assert results["model"] == "gcn"
  assert results["config"]["epochs"] == 30
  assert results["test_accuracy"] > results["majority_class_test_accuracy"]
  assert 0 < results["val_accuracy"] <= 1
  png = (out / "training_curves.png").read_bytes()
  assert png.startswith(b"\x89PNG") and len(png) > 10_000
  graph = load_graph("flickr_synthetic_small")
  model = keras.models.load_model(out / "model.keras")
  inputs = whole_graph_inputs(graph, graph.split_nodes("test"))
  accuracy = np.mean(model.predict_on_batch(inputs).argmax(1)
                     == graph.labels[graph.split_nodes("test")])
  assert accuracy == pytest.approx(results["test_accuracy"], abs=1e-6)


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


def test_module_entry_point_prints_help():
  result = subprocess.run([sys.executable, "-m", "gam", "--help"],
                          capture_output=True, text=True, check=True)
  assert "--dataset" in result.stdout and "--model" in result.stdout
