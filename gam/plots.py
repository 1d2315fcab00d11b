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


def plot_round_history(rounds: List[Dict], path: os.PathLike,
                       best_round: int = None, title: str = "") -> None:
  """GAM rounds: accuracies (left) and the growing label set (right)."""
  figure, (accuracy_axis, label_axis) = plt.subplots(1, 2, figsize=(11, 4))
  index = [r["round"] for r in rounds]
  for key, label, style in (("val_accuracy", "validation", "o-"),
                            ("test_accuracy", "test", "s-"),
                            ("agreement_accuracy", "agreement (held out)",
                             "^--"),
                            ("edge_agreement", "edges called 'same'", "x:")):
    points = [(i, r.get(key)) for i, r in zip(index, rounds)
              if r.get(key) is not None]
    if points:
      accuracy_axis.plot(*zip(*points), style, label=label)
  if best_round is not None:
    accuracy_axis.axvline(best_round, color="grey", alpha=0.5,
                          label=f"best round ({best_round})")
  accuracy_axis.set_xlabel("round")
  accuracy_axis.set_ylabel("accuracy / share")
  accuracy_axis.grid(alpha=0.3)
  accuracy_axis.legend(fontsize="small")
  label_axis.bar(index, [r["labelled"] for r in rounds], label="labelled")
  label_axis.bar(index, [r["new_labels"] for r in rounds],
                 bottom=[r["labelled"] for r in rounds], label="added after")
  for i, r in zip(index, rounds):
    if r.get("new_label_accuracy") is not None:
      label_axis.annotate(f"{r['new_label_accuracy']:.0%}",
                          (i, r["labelled"] + r["new_labels"]),
                          ha="center", va="bottom", fontsize="small")
  label_axis.set_xlabel("round")
  label_axis.set_ylabel("nodes (share of new labels correct)")
  label_axis.legend(fontsize="small")
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)
