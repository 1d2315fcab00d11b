"""Single-label and multi-label node classification: what changes between them.

A graph's label table is either class ids `[nodes]` (one class per node) or
multi-hot rows `[nodes, num_classes]` (a set of classes per node, as the
NUS-WIDE / MIRFLICKR concepts or Flickr tags); `UNLABELED` marks a node
without a label (a whole row of it when multi-hot). Everything that depends
on the kind lives here:

* outputs: softmax over classes vs an independent sigmoid per class;
* loss: sparse categorical cross-entropy vs sigmoid cross-entropy averaged
  over classes, with an optional weight on positive entries for sparse label
  sets (`tf.nn.weighted_cross_entropy_with_logits`: each positive term is
  multiplied by `positive_weight`);
* scores: accuracy vs per-label mAP (the headline of the tagging papers),
  per-image mAP and precision@k;
* agreement of two labels (GAM's agreement model target) lives with the
  label table itself (`graph_models.label_table`).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import keras
import numpy as np
import scipy.sparse as sp
import scipy.special
import tensorflow as tf

from graph_models.tasks import multilabel_metrics
from graph_models.tasks.tag_baselines import MostFrequentTags, evaluate_tag_scores

TOP_K = 3


def probabilities(logits: np.ndarray, multilabel: bool) -> np.ndarray:
  """Class probabilities (softmax) or per-class probabilities (sigmoid)."""
  logits = np.asarray(logits, dtype=np.float64)
  if multilabel:
    return scipy.special.expit(logits)
  return scipy.special.softmax(logits, axis=1)


def score_name(multilabel: bool) -> str:
  """The score rounds and runs are compared by."""
  return "label_map" if multilabel else "accuracy"


def monitor_name(multilabel: bool) -> str:
  """The Keras metric epochs are early-stopped on (`val_<name>`).

  Per-image mAP for multi-label: per-label mAP needs every score at once
  (see `MeanAveragePrecision`).
  """
  return "image_map" if multilabel else "accuracy"


def split_scores(probabilities_: np.ndarray,
                 labels: np.ndarray) -> Dict[str, float]:
  """Scores of predictions against true labels of the same nodes.

  Single-label: `accuracy`. Multi-label: `label_map`, `image_map`,
  `precision_at_3`, `recall_at_3`, `accuracy_at_3` (k = 3, or the class
  count if smaller) and `num_labels_without_positive` (left out of
  `label_map`).
  """
  labels = np.asarray(labels)
  if labels.ndim == 1:
    return {"accuracy": float(np.mean(probabilities_.argmax(axis=1)
                                      == labels))}
  k = min(TOP_K, labels.shape[1])
  results = evaluate_tag_scores(labels, probabilities_, k=k)
  keep = ("label_map", "image_map", f"precision_at_{k}", f"recall_at_{k}",
          f"accuracy_at_{k}", "num_labels_without_positive")
  return {key: results[key] for key in keep}


def most_frequent_scores(graph, split: str = "test") -> Dict[str, float]:
  """`split_scores` of the most-frequent-concepts baseline ("Frequent_tags"
  of Salehi & Kaitha, "Image Tag Recommendation by Exploiting
  Social-Network Metadata"): every node of `split` ranks the classes by their
  frequency among the training label sets. The floor a multi-label model
  must beat."""
  nodes = graph.split_nodes(split)
  scores = MostFrequentTags().fit(
      graph.labels[graph.split_nodes("train")]).predict_scores(
          sp.csr_matrix((nodes.size, graph.num_classes)))
  return split_scores(scores, graph.labels[nodes])


@keras.saving.register_keras_serializable(package="graph_models")
class SigmoidCrossEntropy(keras.losses.Loss):
  """Binary cross-entropy on logits, averaged over classes; positive
  entries weighted by `positive_weight` (> 1 for sparse label sets).

  Example:
    >>> loss = SigmoidCrossEntropy(positive_weight=5.0)
    >>> float(loss([[1., 0.]], [[0., 0.]]))  # (5 log 2 + log 2) / 2
    2.0794...
  """

  def __init__(self, positive_weight: float = 1.0,
               name: str = "sigmoid_cross_entropy", **kwargs):
    super().__init__(name=name, **kwargs)
    if not np.isfinite(positive_weight) or positive_weight <= 0:
      raise ValueError(f"positive_weight must be a finite number > 0, got "
                       f"{positive_weight!r}")
    self.positive_weight = float(positive_weight)

  def call(self, y_true, y_pred):
    logits = tf.convert_to_tensor(y_pred)
    return tf.reduce_mean(tf.nn.weighted_cross_entropy_with_logits(
        labels=tf.cast(y_true, logits.dtype), logits=logits,
        pos_weight=self.positive_weight), axis=-1)

  def get_config(self):
    return {**super().get_config(), "positive_weight": self.positive_weight}


def loss_and_metrics(multilabel: bool, num_classes: Optional[int] = None,
                     positive_weight: float = 1.0
                     ) -> Tuple[keras.losses.Loss, List[keras.metrics.Metric]]:
  """The loss on logits and the (weighted) metrics to compile with.

  Multi-label metrics are per-image mAP and precision@k, k = 3 or
  `num_classes` if smaller (unknown: 3, checked against the outputs when
  the metric runs), which work in any `tf.distribute` context; per-label
  mAP comes from `split_scores`.
  """
  if not multilabel:
    if positive_weight != 1.0:
      raise ValueError("positive_weight is for multi-label graphs")
    return (keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            [keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
  k = min(TOP_K, num_classes) if num_classes else TOP_K
  return (SigmoidCrossEntropy(positive_weight),
          [multilabel_metrics.MeanAveragePrecision(mode="image",
                                                   name="image_map"),
           multilabel_metrics.PrecisionAtK(k, name=f"precision_at_{k}")])
