"""PNG plots of training runs (matplotlib, no display needed)."""

from __future__ import annotations

import os
from typing import Dict, List

import matplotlib
import matplotlib.ticker
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top


def plot_training_curves(history: Dict[str, List[float]], path: os.PathLike,
                         title: str = "", metric: str = "accuracy") -> None:
  """Loss and `metric` per epoch, training and validation, side by side."""
  figure, (loss_axis, metric_axis) = plt.subplots(1, 2, figsize=(10, 4))
  for axis, metric in ((loss_axis, "loss"), (metric_axis, metric)):
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


def plot_round_history(history, path: os.PathLike, title: str = "") -> None:
  """GAM rounds of a `CoTrainingHistory`: scores (left: validation and test
  score, agreement) and the growing label set (right)."""
  rounds, best_round = history.history, history.best_round
  score = history.score_name
  figure, (accuracy_axis, label_axis) = plt.subplots(1, 2, figsize=(11, 4))
  index = rounds["round"]
  for key, label, style in ((f"val_{score}", f"validation {score}", "o-"),
                            (f"test_{score}", f"test {score}", "s-"),
                            ("agreement_balanced_accuracy",
                             "agreement, balanced (unseen nodes)", "^--"),
                            ("edge_agreement", "edges called 'same'", "x:")):
    points = [(i, value) for i, value in zip(index, rounds[key])
              if value is not None]
    if points:
      accuracy_axis.plot(*zip(*points), style, label=label)
  if best_round is not None:
    accuracy_axis.axvline(best_round, color="grey", alpha=0.5,
                          label=f"best round ({best_round})")
  accuracy_axis.set_xlabel("round")
  accuracy_axis.set_ylabel(f"{score} / accuracy / share")
  accuracy_axis.grid(alpha=0.3)
  accuracy_axis.legend(fontsize="small")
  label_axis.bar(index, rounds["labelled"], label="labelled")
  label_axis.bar(index, rounds["new_labels"], bottom=rounds["labelled"],
                 label="added after")
  for i, labelled, new, accuracy in zip(index, rounds["labelled"],
                                        rounds["new_labels"],
                                        rounds["new_label_accuracy"]):
    if accuracy is not None:
      label_axis.annotate(f"{accuracy:.0%}", (i, labelled + new),
                          ha="center", va="bottom", fontsize="small")
  label_axis.set_xlabel("round")
  for axis in (accuracy_axis, label_axis):  # rounds are whole numbers
    axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
  label_axis.set_ylabel("nodes (share of new labels correct)")
  label_axis.legend(fontsize="small")
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray,
                     num_classes: int) -> np.ndarray:
  """`[true class, predicted class]` counts."""
  counts = np.zeros((num_classes, num_classes), np.int64)
  np.add.at(counts, (np.asarray(labels), np.asarray(predictions)), 1)
  return counts


def principal_components(points: np.ndarray, count: int = 2) -> np.ndarray:
  """`points` projected on their first `count` principal axes."""
  centred = np.asarray(points, np.float64) - np.mean(points, axis=0)
  _, _, axes = np.linalg.svd(centred, full_matrices=False)
  return centred @ axes[:count].T


def plot_predictions(labels: np.ndarray, logits: np.ndarray, path: os.PathLike,
                     title: str = "") -> None:
  """Test predictions: the confusion matrix (left) and the nodes' output
  logits projected on their two principal axes, coloured by true class
  (right)."""
  num_classes = logits.shape[1]
  counts = confusion_matrix(labels, logits.argmax(axis=1), num_classes)
  figure, (matrix_axis, embedding_axis) = plt.subplots(1, 2,
                                                       figsize=(11, 4.5))
  image = matrix_axis.imshow(counts, cmap="Blues")
  for (true, predicted), count in np.ndenumerate(counts):
    if count:
      matrix_axis.text(predicted, true, str(count), ha="center", va="center",
                       fontsize="x-small",
                       color="white" if count > counts.max() / 2 else "black")
  matrix_axis.set_xlabel("predicted class")
  matrix_axis.set_ylabel("true class")
  matrix_axis.set_xticks(range(num_classes))
  matrix_axis.set_yticks(range(num_classes))
  accuracy = np.trace(counts) / max(counts.sum(), 1)
  matrix_axis.set_title(f"confusion matrix (accuracy {accuracy:.3f})")
  figure.colorbar(image, ax=matrix_axis, fraction=0.046)
  points = principal_components(logits)
  scatter = embedding_axis.scatter(points[:, 0], points[:, 1], c=labels,
                                   cmap="tab10", s=6, alpha=0.7,
                                   vmin=0, vmax=max(num_classes - 1, 1))
  embedding_axis.set_xlabel("principal axis 1")
  embedding_axis.set_ylabel("principal axis 2")
  embedding_axis.set_title("output logits, coloured by true class")
  embedding_axis.legend(*scatter.legend_elements(), title="class",
                        fontsize="x-small", loc="best")
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def plot_label_average_precision(labels: np.ndarray, scores: np.ndarray,
                                 path: os.PathLike, title: str = "") -> None:
  """Multi-label test predictions: each label's average precision next to
  its prevalence (the AP of a random ranking), labels by frequency."""
  from graph_models.tasks.multilabel_metrics import label_average_precision  # pylint: disable=g-import-not-at-top
  labels = np.asarray(labels) > 0
  order = np.argsort(-labels.sum(axis=0), kind="stable")
  ap, has_positive = label_average_precision(labels, scores)
  figure, axis = plt.subplots(figsize=(max(6, 0.35 * labels.shape[1]), 4))
  positions = np.arange(labels.shape[1])
  axis.bar(positions, np.where(has_positive, ap, 0)[order],
           label="average precision")
  axis.plot(positions, labels.mean(axis=0)[order], "k_", markersize=12,
            label="prevalence (random ranking)")
  axis.set_xticks(positions, [str(c) for c in order], fontsize="x-small")
  axis.set_xlabel("label (most frequent first)")
  axis.set_ylabel("average precision")
  axis.set_ylim(0, 1.2)
  axis.set_yticks(np.linspace(0, 1, 6))
  label_map = float(ap[has_positive].mean()) if has_positive.any() else 0.0
  axis.set_title(f"per-label AP (mAP {label_map:.3f})")
  axis.legend(fontsize="small", ncol=2, loc="upper center")
  axis.grid(alpha=0.3, axis="y")
  if title:
    figure.suptitle(title)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)
