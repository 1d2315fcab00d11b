"""PNG plots of training runs (matplotlib, no display needed)."""

from __future__ import annotations

import os
from typing import Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def plot_training_curves(history: Dict[str, List[float]], path: os.PathLike,
                         title: str = "") -> None:
  """Loss and accuracy per epoch, training and validation, side by side."""
  figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(10, 4))
  for axis, metric in ((loss_axis, "loss"), (accuracy_axis, "accuracy")):
    for prefix, label in (("", "train"), ("val_", "validation")):
      values = history.get(prefix + metric)
      if values:
        axis.plot(range(1, len(values) + 1), values, label=label)
    axis.set_xlabel("epoch")
    axis.set_ylabel(metric)
    axis.grid(alpha=0.3)
    axis.legend()
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)
