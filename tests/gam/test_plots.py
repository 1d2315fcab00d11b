"""`gam.plots`: the numbers behind the pictures, and the pictures."""

import numpy as np

from gam import plots
from graph_models.tasks.multilabel_metrics import label_mean_average_precision


def test_confusion_matrix_counts_true_against_predicted():
  counts = plots.confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
  np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])


def test_principal_components_find_the_spread_direction():
  rng = np.random.default_rng(0)
  t = rng.normal(size=200)
  points = np.stack([t, 2 * t, -t], axis=1) + 1e-3 * rng.normal(size=(200, 3))
  projected = plots.principal_components(points)
  assert projected.shape == (200, 2)
  # Nearly all the variance lies along (1, 2, -1): the first axis.
  assert np.var(projected[:, 0]) > 1e4 * np.var(projected[:, 1])
  np.testing.assert_allclose(np.abs(projected[:, 0]), np.abs(
      (points - points.mean(0)) @ np.array([1, 2, -1]) / np.sqrt(6)),
                             atol=1e-2)


def test_prediction_plot_is_written(tmp_path):
  rng = np.random.default_rng(1)
  labels = rng.integers(0, 4, 100)
  logits = np.eye(4)[labels] * 3 + rng.normal(size=(100, 4))
  path = tmp_path / "predictions.png"
  plots.plot_predictions(labels, logits, path, title="test")
  data = path.read_bytes()
  assert data.startswith(b"\x89PNG") and len(data) > 10_000


def test_label_average_precision_plot_is_titled_with_the_label_map(
    tmp_path, monkeypatch):
  rng = np.random.default_rng(2)
  labels = (rng.random((60, 5)) < 0.3).astype(np.float32)
  labels[:, 4] = 0  # a label without a positive image is left out
  scores = labels * 2 + rng.normal(size=(60, 5))
  titles = []
  monkeypatch.setattr(plots.plt.Axes, "set_title",
                      lambda axis, text, *a, **k: titles.append(text))
  path = tmp_path / "label_ap.png"
  plots.plot_label_average_precision(labels, scores, path)
  expected = label_mean_average_precision(labels, scores)["map"]
  assert titles == [f"per-label AP (mAP {expected:.3f})"]
  assert path.read_bytes().startswith(b"\x89PNG")
