"""Keras 3 metrics of multi-label image tagging.

Every metric takes `y_true`, multi-hot `[batch, num_labels]` (entries > 0.5
are true labels), `y_pred`, scores of the same shape (logits or
probabilities), and an optional per-image `sample_weight` of shape `[batch]`.
With T_i the true labels of image i and top_k(i) its k highest-scored labels:

* precision@k = |top_k(i) ∩ T_i| / k and recall@k = |top_k(i) ∩ T_i| / |T_i|
  (Manning, Raghavan & Schütze, "Introduction to Information Retrieval",
  2008, ch. 8); accuracy@k = 1 if top_k(i) ∩ T_i is not empty, else 0
  (Denton et al., "User conditional hashtag prediction for images", KDD
  2015). Each is averaged over images.
* Average precision (AP) of a ranking: the mean, over its relevant items, of
  the precision of the ranking cut at that item (Manning et al., ch. 8). mAP
  averages it over labels, each ranking the images (the PASCAL VOC and
  MS-COCO tagging protocol), or over images, each ranking the labels.
* CP, CR (per-class precision and recall averaged over classes), OP, OR
  (overall, from counts pooled over classes), CF1 = 2 CP CR / (CP + CR) and
  OF1 = 2 OP OR / (OP + OR), an image's predicted labels being its top k
  (Gong et al., "Deep convolutional ranking for multilabel image
  annotation", ICLR 2014; Wang et al., "CNN-RNN", CVPR 2016; Chen et al.,
  "Multi-label image recognition with graph convolutional networks",
  CVPR 2019).
* Micro F1 = 2 TP / (2 TP + FP + FN) over all (image, label) pairs.

Conventions:

* Ties in top-k: equal scores are ordered by label index, lower first (the
  rule of `tf.math.top_k`), so which tied label takes the last slot is fixed.
* Ties in AP are pessimistic: every item scoring the same as a relevant item
  counts as ranked ahead of it, so the precision at a relevant item is taken
  over all items scoring at least as much. This is the value of
  `sklearn.metrics.average_precision_score`, which takes one threshold per
  distinct score, and it does not depend on the order of the inputs.
* Images without a true label score 0 in precision@k and accuracy@k (none of
  their top k can be right) and are left out of recall@k and of per-image
  mAP; `num_empty_images` counts them. Labels without a positive image are
  left out of per-label mAP; `num_excluded` counts them. A mean over nothing
  is 0.
* Ratios 0 / 0 in CP, CR, OP, OR and F1 count as 0 (a class never predicted
  has precision 0, as `zero_division=0` in scikit-learn).
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import keras
import numpy as np
import tensorflow as tf


F1_STATISTICS = ("CP", "CR", "CF1", "OP", "OR", "OF1")


def _check_positive_int(value, what: str) -> None:
  if isinstance(value, bool) or not isinstance(value, int) or value < 1:
    raise ValueError(f"{what} must be a positive integer, got {value!r}")


def _top_k_indices(scores: tf.Tensor, k: int) -> tf.Tensor:
  # top_k puts the lower index first among equal scores: the documented rule.
  return tf.math.top_k(scores, k=k, sorted=True).indices


def _top_k_mask(scores: tf.Tensor, k: int) -> tf.Tensor:
  """1 where a label is among its image's top k, else 0; `[batch, labels]`."""
  one_hot = tf.one_hot(_top_k_indices(scores, k), tf.shape(scores)[-1],
                       dtype=scores.dtype)
  return tf.reduce_sum(one_hot, axis=1)


def _f1(precision: tf.Tensor, recall: tf.Tensor) -> tf.Tensor:
  return tf.math.divide_no_nan(2 * precision * recall, precision + recall)


def average_precision(relevant: tf.Tensor, scores: tf.Tensor,
                      weights: tf.Tensor) -> Tuple[tf.Tensor, tf.Tensor]:
  """AP of each row's ranking, ties pessimistic (see the module docstring).

  Args:
    relevant: `[rows, items]`, 1 for a relevant item, else 0.
    scores: `[rows, items]`; higher ranks first.
    weights: `[rows, items]` weights of the items.

  Returns:
    `(ap, has_relevant)`, both `[rows]`: a row without relevant item (of
    non-zero weight) has AP 0 and `has_relevant` False.
  """
  order = tf.argsort(scores, axis=-1, direction="DESCENDING")
  ranked = tf.gather(scores, order, batch_dims=1)
  weight = tf.gather(weights, order, batch_dims=1)
  hit = tf.gather(relevant, order, batch_dims=1) * weight
  # An item's precision counts everything up to the end of its tie block:
  # the number of items scoring at least as much.
  block_end = tf.searchsorted(-ranked, -ranked, side="right") - 1
  hits_above = tf.gather(tf.cumsum(hit, axis=-1), block_end, batch_dims=1)
  weight_above = tf.gather(tf.cumsum(weight, axis=-1), block_end,
                           batch_dims=1)
  precision = tf.math.divide_no_nan(hits_above, weight_above)
  total = tf.reduce_sum(hit, axis=-1)
  ap = tf.math.divide_no_nan(tf.reduce_sum(hit * precision, axis=-1), total)
  return ap, total > 0


class _MultiLabelMetric(keras.metrics.Metric):
  """Input checks shared by the metrics below.

  `k` (the labels an image predicts, None if the metric has no k) must not
  exceed the label count; `num_labels`, when given, fixes that count.
  """

  def __init__(self, k: Optional[int], num_labels: Optional[int],
               name: Optional[str], dtype: Optional[str]):
    if num_labels is not None:
      _check_positive_int(num_labels, "num_labels")
    if k is not None:
      _check_positive_int(k, "k")
      if num_labels is not None and k > num_labels:
        raise ValueError(
            f"k={k} exceeds the number of labels (num_labels={num_labels})")
    super().__init__(name=name, dtype=dtype)
    self.k = k
    self.num_labels = num_labels

  def _prepare(self, y_true, y_pred,
               sample_weight) -> Tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Checked `(relevant, scores, weights)`: 0/1 and scores `[batch,
    labels]` and per-image weights `[batch]`, all of the metric's dtype."""
    scores = tf.cast(tf.convert_to_tensor(y_pred), self.dtype)
    y_true = tf.cast(tf.convert_to_tensor(y_true), self.dtype)
    what = type(self).__name__
    if scores.shape.rank is not None and scores.shape.rank != 2:
      raise ValueError(f"{what} expects y_pred of shape [batch, num_labels], "
                       f"got shape {scores.shape}")
    if not y_true.shape.is_compatible_with(scores.shape):
      raise ValueError(f"{what}: y_true has shape {y_true.shape} but y_pred "
                       f"has shape {scores.shape}; they must be equal")
    labels = scores.shape[-1]
    if self.num_labels is not None and labels not in (None, self.num_labels):
      raise ValueError(f"{what} was built for num_labels={self.num_labels}, "
                       f"got y_pred with {labels} labels")
    if self.k is not None and labels is not None and self.k > labels:
      raise ValueError(
          f"k={self.k} exceeds the number of labels in y_pred ({labels})")
    # Shapes unknown while tracing are checked when the step runs.
    checks = [tf.debugging.assert_equal(
        tf.shape(y_true), tf.shape(scores),
        message=f"{what}: y_true and y_pred must have the same shape")]
    if self.k is not None:
      checks.append(tf.debugging.assert_less_equal(
          self.k, tf.shape(scores)[-1],
          message=f"k={self.k} exceeds the number of labels in y_pred"))
    with tf.control_dependencies(checks):
      scores = tf.identity(scores)
    relevant = tf.cast(y_true > 0.5, self.dtype)
    batch = tf.shape(scores)[:1]
    if sample_weight is None:
      weights = tf.ones(batch, self.dtype)
    else:
      weights = tf.broadcast_to(
          tf.reshape(tf.cast(sample_weight, self.dtype), [-1]), batch)
    return relevant, scores, weights

  def get_config(self) -> dict:
    return {**super().get_config(), "num_labels": self.num_labels}


class _ImageAverage(_MultiLabelMetric):
  """Weighted mean of a per-image score (`_image_scores`)."""

  # Whether images without a true label are left out of the mean.
  skips_empty_images = False

  def __init__(self, k: Optional[int], num_labels: Optional[int],
               name: Optional[str], dtype: Optional[str]):
    super().__init__(k=k, num_labels=num_labels, name=name, dtype=dtype)
    self.total = self.add_variable((), "zeros", name="total")
    self.weight = self.add_variable((), "zeros", name="weight")
    self.empty_images = self.add_variable((), "zeros", name="empty_images")

  def _image_scores(self, relevant: tf.Tensor,
                    scores: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def update_state(self, y_true, y_pred, sample_weight=None) -> None:
    relevant, scores, weights = self._prepare(y_true, y_pred, sample_weight)
    empty = tf.reduce_sum(relevant, axis=-1) == 0
    if self.skips_empty_images:
      weights = tf.where(empty, tf.zeros_like(weights), weights)
    self.total.assign_add(
        tf.reduce_sum(weights * self._image_scores(relevant, scores)))
    self.weight.assign_add(tf.reduce_sum(weights))
    self.empty_images.assign_add(tf.reduce_sum(tf.cast(empty, self.dtype)))

  def result(self) -> tf.Tensor:
    return tf.math.divide_no_nan(self.total, self.weight)

  @property
  def num_empty_images(self) -> int:
    """Images seen so far without any true label."""
    return int(self.empty_images.numpy())


class _AtK(_ImageAverage):
  """A per-image score of the top k labels' hits."""

  prefix = ""

  def __init__(self, k: int, num_labels: Optional[int] = None,
               name: Optional[str] = None, dtype: Optional[str] = None):
    super().__init__(k=k, num_labels=num_labels,
                     name=name or f"{self.prefix}_at_{k}", dtype=dtype)

  def _score(self, hits: tf.Tensor, num_true: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def _image_scores(self, relevant, scores):
    hits = tf.reduce_sum(
        tf.gather(relevant, _top_k_indices(scores, self.k), batch_dims=1),
        axis=-1)
    return self._score(hits, tf.reduce_sum(relevant, axis=-1))

  def get_config(self) -> dict:
    return {**super().get_config(), "k": self.k}


@keras.saving.register_keras_serializable(package="graph_models")
class PrecisionAtK(_AtK):
  """Mean over images of the share of their top k labels that are true.

  Images without a true label count, with precision 0. The value is
  `keras.metrics.Precision(top_k=k)`'s (test); this class adds the checks
  and the family the other @k metrics share.

  Example:
    >>> m = PrecisionAtK(k=2)
    >>> m.update_state([[1, 0, 1], [0, 0, 1]], [[.9, .8, .1], [.3, .2, .1]])
    >>> float(m.result())  # (1/2 + 0/2) / 2
    0.25
  """

  prefix = "precision"

  def _score(self, hits, num_true):
    return hits / self.k


@keras.saving.register_keras_serializable(package="graph_models")
class RecallAtK(_AtK):
  """Mean over images of the share of their true labels in their top k.

  Images without a true label are left out (`num_empty_images` counts them).

  Example:
    >>> m = RecallAtK(k=1)
    >>> m.update_state([[1, 0, 1], [0, 0, 0]], [[.9, .8, .1], [.3, .2, .1]])
    >>> float(m.result()), m.num_empty_images  # 1/2 from the first image
    (0.5, 1)
  """

  prefix = "recall"
  skips_empty_images = True

  def _score(self, hits, num_true):
    return tf.math.divide_no_nan(hits, num_true)


@keras.saving.register_keras_serializable(package="graph_models")
class AccuracyAtK(_AtK):
  """Share of images with at least one true label among their top k.

  Images without a true label count, with accuracy 0.

  Example:
    >>> m = AccuracyAtK(k=2)
    >>> m.update_state([[0, 1, 0], [0, 0, 1]], [[.9, .8, .1], [.3, .2, .1]])
    >>> float(m.result())  # (1 + 0) / 2
    0.5
  """

  prefix = "accuracy"

  def _score(self, hits, num_true):
    return tf.cast(hits > 0, self.dtype)


@keras.saving.register_keras_serializable(package="graph_models")
class MeanAveragePrecision(_ImageAverage):
  """Per-image mean average precision: the AP of each image's ranking of
  the labels, averaged over the images with at least one true label
  (`num_excluded` counts the others). Constant memory, any context.

  Per-label mAP ranks every image for each label, so it needs all the
  scores at once: compute it from the predictions with
  `label_mean_average_precision` (a streaming metric would have to keep
  every score, which XLA cannot compile and replicas cannot share).

  Ties are pessimistic (see the module docstring).

  Example:
    >>> m = MeanAveragePrecision()
    >>> m.update_state([[0, 1, 0, 1]], [[.9, .5, .5, .1]])
    >>> round(float(m.result()), 4)  # (1/3 + 2/4) / 2
    0.4167
  """

  skips_empty_images = True

  def __init__(self, mode: str = "image", num_labels: Optional[int] = None,
               name: Optional[str] = None, dtype: Optional[str] = None):
    if mode == "label":
      raise ValueError(
          "per-label mAP needs every score at once: compute it from the "
          "predictions with label_mean_average_precision(y_true, scores)")
    if mode != "image":
      raise ValueError(f"mode must be 'image', got {mode!r}")
    super().__init__(k=None, num_labels=num_labels,
                     name=name or "image_map", dtype=dtype)
    self.mode = mode

  def _image_scores(self, relevant, scores):
    return average_precision(relevant, scores, tf.ones_like(scores))[0]

  @property
  def num_excluded(self) -> int:
    """Images seen so far without a true label, left out of the mean."""
    return self.num_empty_images

  def result_dict(self) -> Dict[str, float]:
    """`{"map": ..., "num_excluded": ...}` as Python numbers."""
    return {"map": float(self.result()), "num_excluded": self.num_excluded}

  def get_config(self) -> dict:
    return {**super().get_config(), "mode": self.mode}


def label_average_precision(y_true, scores, sample_weight=None
                            ) -> Tuple[np.ndarray, np.ndarray]:
  """Each label's AP over its ranking of all the images, and whether it has
  a positive image (its AP is 0 if not).

  `y_true` multi-hot and `scores` are `[images, labels]`; `sample_weight`
  (`[images]`) weighs the images. Ties are pessimistic (module docstring).
  Label 0 below: its positives rank 1st and 3rd, AP (1 + 2/3) / 2; label 1:
  its positive ranks 2nd, AP 1/2.

  Example:
    >>> ap, has_positive = label_average_precision(
    ...     [[1, 0], [0, 0], [1, 1]], [[.9, .2], [.5, .4], [.1, .3]])
    >>> [round(float(a), 4) for a in ap], has_positive.tolist()
    ([0.8333, 0.5], [True, True])
  """
  relevant = np.asarray(y_true, np.float32) > 0.5
  scores = np.asarray(scores, np.float32)
  if scores.ndim != 2 or relevant.shape != scores.shape:
    raise ValueError(f"y_true {relevant.shape} and scores {scores.shape} must "
                     "be [images, labels] arrays of the same shape")
  weights = (np.ones(scores.shape[0], np.float32) if sample_weight is None
             else np.asarray(sample_weight, np.float32).reshape(-1))
  if weights.shape != scores.shape[:1]:
    raise ValueError(f"sample_weight has {weights.size} values for "
                     f"{scores.shape[0]} images")
  ap, has_positive = average_precision(
      tf.constant(relevant.T, tf.float32), tf.constant(scores.T),
      tf.constant(np.broadcast_to(weights, scores.T.shape)))
  return ap.numpy(), has_positive.numpy()


def label_mean_average_precision(y_true, scores, sample_weight=None
                                 ) -> Dict[str, float]:
  """Per-label mAP (the PASCAL VOC and MS-COCO tagging protocol):
  `{"map": the mean of `label_average_precision` over the labels with a
  positive image, "num_excluded": the labels without one}` (0 if none has).

  Example:
    >>> round(label_mean_average_precision(
    ...     [[1, 0], [0, 0], [1, 1]], [[.9, .2], [.5, .4], [.1, .3]])["map"], 4)
    0.6667
  """
  ap, has_positive = label_average_precision(y_true, scores, sample_weight)
  return {"map": float(ap[has_positive].mean()) if has_positive.any()
          else 0.0, "num_excluded": int((~has_positive).sum())}


class _LabelCounts(_MultiLabelMetric):
  """Per-label counts of predicted, correct and true (image, label) pairs,
  the predictions coming from `_predictions`."""

  def __init__(self, k: Optional[int], num_labels: Optional[int],
               name: Optional[str], dtype: Optional[str]):
    super().__init__(k=k, num_labels=num_labels, name=name, dtype=dtype)
    self._counts = None
    if num_labels is not None:
      self._build_counts(num_labels)

  def _build_counts(self, num_labels: int) -> None:
    self._counts = tuple(self.add_variable((num_labels,), "zeros", name=name)
                         for name in ("predicted", "correct", "true"))

  def _predictions(self, scores: tf.Tensor) -> tf.Tensor:
    raise NotImplementedError

  def update_state(self, y_true, y_pred, sample_weight=None) -> None:
    relevant, scores, weights = self._prepare(y_true, y_pred, sample_weight)
    labels = scores.shape[-1]
    if self._counts is None:
      if labels is None:
        raise ValueError(f"{type(self).__name__}: the number of labels of "
                         "y_pred is unknown; pass num_labels")
      self._build_counts(labels)
    elif labels not in (None, self._counts[0].shape[0]):
      raise ValueError(f"{type(self).__name__} has seen "
                       f"{self._counts[0].shape[0]} labels, got {labels}")
    predicted = self._predictions(scores) * weights[:, None]
    for count, value in zip(self._counts, (predicted, predicted * relevant,
                                           relevant * weights[:, None])):
      count.assign_add(tf.reduce_sum(value, axis=0))

  def _statistics(self) -> Dict[str, tf.Tensor]:
    """CP, CR, CF1, OP, OR and OF1 of the counts so far (0 before any)."""
    if self._counts is None:
      return {stat: tf.zeros((), self.dtype) for stat in F1_STATISTICS}
    predicted, correct, true = self._counts
    cp = tf.reduce_mean(tf.math.divide_no_nan(correct, predicted))
    cr = tf.reduce_mean(tf.math.divide_no_nan(correct, true))
    op = tf.math.divide_no_nan(tf.reduce_sum(correct),
                               tf.reduce_sum(predicted))
    o_r = tf.math.divide_no_nan(tf.reduce_sum(correct), tf.reduce_sum(true))
    return {"CP": cp, "CR": cr, "CF1": _f1(cp, cr), "OP": op, "OR": o_r,
            "OF1": _f1(op, o_r)}


@keras.saving.register_keras_serializable(package="graph_models")
class TopKPrecisionRecallF1(_LabelCounts):
  """CP, CR, CF1, OP, OR and OF1 with each image predicting its top k labels.

  `result()` is a dict whose keys are the metric's name, "_" and the
  statistic ("top_3_CP", ...); `model.evaluate(return_dict=True)` reports
  the six entries. CP and CR average over all `num_labels` classes, 0 / 0
  counting as 0; CF1 is computed from CP and CR (not the mean of per-class
  F1s).

  Example:
    >>> m = TopKPrecisionRecallF1(k=1)
    >>> m.update_state([[1, 0], [1, 1]], [[.9, .1], [.2, .8]])
    >>> r = m.result()  # CP (1/1 + 1/1) / 2, CR (1/2 + 1/1) / 2, OR 2/3
    >>> [round(float(r["top_1_" + stat]), 4) for stat in ("CP", "CR", "OR")]
    [1.0, 0.75, 0.6667]
  """

  def __init__(self, k: int = 3, num_labels: Optional[int] = None,
               name: Optional[str] = None, dtype: Optional[str] = None):
    super().__init__(k=k, num_labels=num_labels, name=name or f"top_{k}",
                     dtype=dtype)

  def _predictions(self, scores):
    return _top_k_mask(scores, self.k)

  def result(self) -> Dict[str, tf.Tensor]:
    return {f"{self.name}_{stat}": value
            for stat, value in self._statistics().items()}

  def get_config(self) -> dict:
    return {**super().get_config(), "k": self.k}


@keras.saving.register_keras_serializable(package="graph_models")
class MicroF1(_LabelCounts):
  """F1 of all (image, label) pairs pooled: 2 TP / (2 TP + FP + FN).

  An image predicts either its `top_k` labels or, by default, the labels
  whose probability is at least `threshold` (0.5 unless given), the
  probability being `sigmoid(y_pred)` if `from_logits` else `y_pred`. With
  `top_k` this equals `TopKPrecisionRecallF1(top_k)`'s OF1.

  Example:
    >>> m = MicroF1()  # logits >= 0, i.e. sigmoid >= 0.5
    >>> m.update_state([[1, 0, 1]], [[2., 1., -1.]])
    >>> float(m.result())  # TP 1, FP 1, FN 1: 2 / (2 + 1 + 1)
    0.5
  """

  def __init__(self, threshold: Optional[float] = None,
               top_k: Optional[int] = None, from_logits: bool = True,
               num_labels: Optional[int] = None, name: str = "micro_f1",
               dtype: Optional[str] = None):
    if threshold is not None and top_k is not None:
      raise ValueError("give MicroF1 a threshold or a top_k, not both")
    if threshold is not None and not 0 < threshold < 1:
      raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    super().__init__(k=top_k, num_labels=num_labels, name=name, dtype=dtype)
    self.threshold = threshold
    self.from_logits = from_logits

  def _predictions(self, scores):
    if self.k is not None:
      return _top_k_mask(scores, self.k)
    probabilities = tf.sigmoid(scores) if self.from_logits else scores
    threshold = 0.5 if self.threshold is None else self.threshold
    return tf.cast(probabilities >= threshold, self.dtype)

  def result(self) -> tf.Tensor:
    return self._statistics()["OF1"]

  def get_config(self) -> dict:
    return {**super().get_config(), "threshold": self.threshold,
            "top_k": self.k, "from_logits": self.from_logits}
