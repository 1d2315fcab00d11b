"""Baselines of the missing-tag task (`graph_models.tasks.missing_tags`).

Both score, for every image, each vocabulary tag as a candidate missing tag,
from the image's observed tags only; a tag the image already has is never a
candidate and scores `EXCLUDED_SCORE` (-inf), so it ranks last in every
metric. Scores are `[images, vocabulary]` float32 numpy arrays, the `y_pred`
of the Keras metrics of `graph_models.tasks.multilabel_metrics`.

* `MostFrequentTags`: the most frequent tags first, the "Frequent_tags"
  baseline of Salehi & Kaitha, "Image Tag Recommendation by Exploiting
  Social-Network Metadata" (every image gets the overall most frequent
  tags). A tag's score is the share of images carrying it among the fitted
  observed tags.
* `NaiveBayesTags`: the Flickr missing-tag prediction study's baseline
  (section 5), a Naive Bayes classifier with add-one (Laplace) smoothing
  over the counts of tags and of pairs of tags on the same image. With O
  the observed tags of an image, a candidate t scores

      log P(t) + sum over o in O of log P(o | t),

  the log of its posterior P(t | O) up to a constant of the image. The paper
  does not spell out its event model; this is the multinomial one (the
  "pairs of feature values" of the paper are draws of a tag co-occurring
  with t). With N_t the images carrying t, C[o, t] the images carrying both
  o and t (o != t), M_t = sum over o != t of C[o, t], V the vocabulary size
  and alpha the pseudo-count (1: add-one):

      P(t)     = (N_t + alpha) / (sum over s of N_s + alpha V)
      P(o | t) = (C[o, t] + alpha) / (M_t + alpha (V - 1))

  a distribution over the V tags and, for each t, over the V - 1 others.
  The Bernoulli reading, P(o | t) = (C[o, t] + 1) / (N_t + 2), was tried
  and rejected: a tag never observed gets P(o | t) = 1/2 for every o and
  outranks real evidence (per-image mAP 0.04 against 0.19 on the 2,000-image
  synthetic graph).

Counts come from sparse products (C = X^T X for the 0/1 observed matrix X)
and scores from `X @ log1p(C / alpha)` plus rank-one terms, computed in
blocks of rows so that memory stays at a block's worth beyond the
`[images, vocabulary]` result. 100,000 images x 2,000 tags score in a few
seconds.

`evaluate_tag_scores` computes the multi-label metrics of a score matrix.

Example:
  >>> import scipy.sparse as sp
  >>> observed = sp.csr_matrix([[1, 1, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0]])
  >>> model = NaiveBayesTags().fit(observed)
  >>> model.predict_scores(sp.csr_matrix([[0, 1, 0]])).argmax(axis=1)
  array([0])
"""

from __future__ import annotations

import math
import numbers
from typing import Dict, Optional, Union

import numpy as np
import scipy.sparse as sp

from graph_models.tasks import multilabel_metrics as mm
from graph_models.tasks.missing_tags import TagMatrix, check_tag_matrix

EXCLUDED_SCORE = -np.inf
# Rows scored at once: a block's float64 scratch is this x vocabulary x 8
# bytes (64 MiB for 2,000 tags), small next to the float32 result.
DEFAULT_BLOCK_ROWS = 4096
# Up to this many tags Naive Bayes keeps its V x V log-ratio table dense
# (128 MiB at the limit).
_DENSE_VOCABULARY = 4096


def _check_positive_int(value, name: str) -> int:
  if isinstance(value, bool) or not isinstance(value, numbers.Integral) or (
      value < 1):
    raise ValueError(f"{name} must be a positive integer, got {value!r}")
  return int(value)


class _TagScorer:
  """`fit` / `predict_scores` plumbing; subclasses score a block of rows."""

  num_tags_: Optional[int] = None

  def fit(self, observed_tags: TagMatrix) -> "_TagScorer":
    matrix = check_tag_matrix(observed_tags, "observed_tags")
    self.num_tags_ = matrix.shape[1]
    self._fit(matrix)
    return self

  def _fit(self, observed: sp.csr_matrix) -> None:
    raise NotImplementedError

  def _score_block(self, observed: sp.csr_matrix) -> np.ndarray:
    """float64 scores `[rows, vocabulary]` before excluding observed tags."""
    raise NotImplementedError

  def _checked_input(self, observed_tags: TagMatrix) -> sp.csr_matrix:
    if self.num_tags_ is None:
      raise ValueError(f"{type(self).__name__} is not fitted: call fit first")
    # Scoring no image, or images with nothing observed, is fine.
    matrix = check_tag_matrix(observed_tags, "observed_tags",
                              allow_empty=True)
    if matrix.shape[1] != self.num_tags_:
      raise ValueError(
          f"observed_tags has {matrix.shape[1]} tags but "
          f"{type(self).__name__} was fitted on {self.num_tags_}")
    return matrix

  def predict_scores(self, observed_tags: TagMatrix,
                     block_rows: int = DEFAULT_BLOCK_ROWS) -> np.ndarray:
    """Scores `[images, vocabulary]` (float32) of every candidate tag.

    Higher is more likely missing; each image's observed tags score
    `EXCLUDED_SCORE`. `block_rows` images are scored at a time. float32
    halves the memory of 100,000 x 2,000 scores (800 MB); log scores near
    -50 keep a resolution of ~4e-6, so only near-exact ties can merge.
    """
    matrix = self._checked_input(observed_tags)
    block_rows = _check_positive_int(block_rows, "block_rows")
    scores = np.empty(matrix.shape, dtype=np.float32)
    for start in range(0, matrix.shape[0], block_rows):
      block = matrix[start:start + block_rows]
      part = scores[start:start + block.shape[0]]
      part[...] = self._score_block(block)
      # An image's own tags are not missing: rank them below any candidate.
      rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
      part[rows, block.indices] = EXCLUDED_SCORE
    return scores


class MostFrequentTags(_TagScorer):
  """Ranks candidate tags by their frequency among the observed tags.

  Salehi & Kaitha's "Frequent_tags" baseline, minus each image's own
  tags. After `fit`, `frequencies_[t]` is the share of images carrying t.

  Example:
    >>> import scipy.sparse as sp
    >>> model = MostFrequentTags().fit(
    ...     sp.csr_matrix([[1, 1, 0], [1, 0, 0], [1, 0, 1], [0, 1, 0]]))
    >>> model.frequencies_.tolist()  # tag 0 on 3 of 4 images, 1 on 2, 2 on 1
    [0.75, 0.5, 0.25]
    >>> model.predict_scores(sp.csr_matrix([[1, 0, 0]])).tolist()
    [[-inf, 0.5, 0.25]]
  """

  frequencies_: Optional[np.ndarray] = None

  def fit(self, observed_tags: TagMatrix) -> "MostFrequentTags":
    """Counts the tags of `observed_tags` (`[images, vocabulary]`, 0/1)."""
    return super().fit(observed_tags)

  def _fit(self, observed: sp.csr_matrix) -> None:
    counts = np.bincount(observed.indices, minlength=observed.shape[1])
    self.frequencies_ = counts / observed.shape[0]

  def _score_block(self, observed: sp.csr_matrix) -> np.ndarray:
    return np.broadcast_to(self.frequencies_, observed.shape)


class NaiveBayesTags(_TagScorer):
  """The Flickr missing-tag prediction study's Naive Bayes baseline
  (formulas: module docstring).

  Args:
    alpha: the pseudo-count added to every count (1: add-one smoothing, the
      paper's).

  After `fit`: `tag_counts_` (N_t), `cooccurrence_` (C as a CSR matrix with
  a zero diagonal), `log_prior_` (log P(t)) and `log_denominator_`
  (log(M_t + alpha (V - 1))).

  Example:
    >>> import scipy.sparse as sp
    >>> model = NaiveBayesTags().fit(
    ...     sp.csr_matrix([[1, 1, 0], [1, 1, 0], [0, 1, 1], [1, 0, 0]]))
    >>> model.log_prior_.round(4).tolist()  # log([4, 4, 2] / 10)
    [-0.9163, -0.9163, -1.6094]
  """

  def __init__(self, alpha: float = 1.0):
    if (isinstance(alpha, bool) or not isinstance(alpha, numbers.Real)
        or not math.isfinite(alpha) or alpha <= 0):
      raise ValueError("alpha (the smoothing pseudo-count) must be a finite "
                       f"number > 0, got {alpha!r}")
    self.alpha = float(alpha)
    self.tag_counts_: Optional[np.ndarray] = None
    self.cooccurrence_: Optional[sp.csr_matrix] = None
    self.log_prior_: Optional[np.ndarray] = None
    self.log_denominator_: Optional[np.ndarray] = None
    self._log_ratio: Optional[sp.csr_matrix] = None

  def fit(self, observed_tags: TagMatrix) -> "NaiveBayesTags":
    """Counts tags and tag pairs of `observed_tags` (`[images, vocab]`)."""
    return super().fit(observed_tags)

  def _fit(self, observed: sp.csr_matrix) -> None:
    vocabulary, alpha = observed.shape[1], self.alpha
    counts = np.bincount(observed.indices, minlength=vocabulary)
    # int64 products: float32 counts lose exactness above 2**24 pairs.
    ones = sp.csr_matrix(
        (np.ones(observed.nnz, np.int64), observed.indices, observed.indptr),
        shape=observed.shape)
    pairs = (ones.T @ ones).tocsr()
    pairs.setdiag(0)  # a tag does not co-occur with itself.
    pairs.eliminate_zeros()
    pairs.sort_indices()
    mass = np.asarray(pairs.sum(axis=0)).ravel()  # M_t, column sums.
    self.tag_counts_ = counts.astype(np.int64)
    self.cooccurrence_ = pairs
    self.log_prior_ = np.log((counts + alpha)
                             / (counts.sum() + alpha * vocabulary))
    self.log_denominator_ = np.log(mass + alpha * (vocabulary - 1))
    # log(C + alpha) = log(alpha) + log1p(C / alpha), whose second term is
    # as sparse as C.
    ratio = pairs.astype(np.float64)
    ratio.data = np.log1p(ratio.data / alpha)
    # A sparse x dense product is ~3x faster than sparse x sparse on 2,000
    # tags; the sparse form keeps large vocabularies within memory.
    self._log_ratio = (ratio.toarray() if vocabulary <= _DENSE_VOCABULARY
                       else ratio)

  def _score_block(self, observed: sp.csr_matrix) -> np.ndarray:
    # sum_o log P(o | t) = m log(alpha) - m log(M_t + alpha (V - 1))
    #                      + sum_o log1p(C[o, t] / alpha), m = |O|.
    num_observed = np.diff(observed.indptr).astype(np.float64)[:, None]
    scores = observed.astype(np.float64) @ self._log_ratio
    if sp.issparse(scores):
      scores = scores.toarray()
    scores += self.log_prior_
    scores += num_observed * (math.log(self.alpha) - self.log_denominator_)
    return scores


def evaluate_tag_scores(
    targets: TagMatrix, scores: np.ndarray, k: int = 3,
    batch_size: int = 4096,
    label_map: bool = True) -> Dict[str, Union[float, int]]:
  """Multi-label metrics of `scores` against `targets`, both `[images, tags]`.

  Runs the Keras metrics of `graph_models.tasks.multilabel_metrics` eagerly,
  in batches of `batch_size` images, then per-label mAP on all the scores
  (`label_mean_average_precision`), and adds the missing-tag study's exact
  match.

  Args:
    targets: the dropped tags, 0/1 (CSR or dense), e.g.
      `MissingTagTask.eval_dropped`.
    scores: float scores of the same shape, higher first (`-inf` allowed).
    k: the cut of precision / recall / accuracy@k.
    batch_size: images per metric update.
    label_map: whether to compute per-label mAP, which sorts each label's
      column (the slowest part: ~30 s for 60,000
      images x 2,000 tags on one CPU core, against ~12 s for the rest).

  Returns:
    `precision_at_k`, `recall_at_k`, `accuracy_at_k` (k the given k),
    `label_map` (per-label mAP over the labels with a positive image),
    `image_map` (per-image mAP), `exact_match` (the share of images whose
    |targets| highest-scored tags are exactly their targets: the seed
    study's accuracy, which gives the model the number of missing tags;
    ties go to the lower tag index as in the metrics), `num_images`,
    `num_empty_images` (images without a target: 0 in precision / accuracy,
    left out of recall, image mAP and exact match) and
    `num_labels_without_positive` (left out of label mAP; both label keys
    only if `label_map`).

  Example:
    >>> r = evaluate_tag_scores(np.array([[0, 1, 0], [1, 0, 1]]),
    ...                         np.array([[.1, .9, -np.inf], [.2, .5, .3]]),
    ...                         k=1)
    >>> r["precision_at_1"], r["exact_match"]  # hits 1 and 0; 1 and 0
    (0.5, 0.5)
  """
  k = _check_positive_int(k, "k")
  batch_size = _check_positive_int(batch_size, "batch_size")
  relevant = (targets.toarray() if sp.issparse(targets)
              else np.asarray(targets)) > 0.5
  scores = np.asarray(scores)
  if scores.ndim != 2 or relevant.shape != scores.shape:
    raise ValueError(f"targets {relevant.shape} and scores {scores.shape} must "
                     "be 2-D arrays of the same shape")
  if np.isnan(scores).any() or np.isposinf(scores).any():
    raise ValueError("scores must not hold NaN or +inf")
  if k > scores.shape[1]:
    raise ValueError(f"k={k} exceeds the number of tags ({scores.shape[1]})")
  metrics = {
      f"precision_at_{k}": mm.PrecisionAtK(k),
      f"recall_at_{k}": mm.RecallAtK(k),
      f"accuracy_at_{k}": mm.AccuracyAtK(k),
      "image_map": mm.MeanAveragePrecision(mode="image"),
  }
  y_true = relevant.astype(np.float32)
  for start in range(0, scores.shape[0], batch_size):
    stop = start + batch_size
    for metric in metrics.values():
      metric.update_state(y_true[start:stop], scores[start:stop])
  results: Dict[str, Union[float, int]] = {
      name: float(metric.result()) for name, metric in metrics.items()}
  results["exact_match"] = _exact_match(relevant, scores)
  results["num_images"] = int(scores.shape[0])
  results["num_empty_images"] = int(np.count_nonzero(~relevant.any(axis=1)))
  if label_map:
    per_label = mm.label_mean_average_precision(y_true, scores)
    results["label_map"] = per_label["map"]
    results["num_labels_without_positive"] = per_label["num_excluded"]
  return results


def _exact_match(relevant: np.ndarray, scores: np.ndarray) -> float:
  """Share of images with targets whose top |targets| are the targets.

  That holds when the worst-ranked target ranks ahead of the best-ranked
  other tag, ranking by score, then lower index: no sort needed.
  """
  has_target = relevant.any(axis=1)
  if not has_target.any():
    return 0.0
  relevant, scores = relevant[has_target], scores[has_target].astype(
      np.float64)
  tags = scores.shape[1]
  index = np.arange(tags)
  worst_score = np.where(relevant, scores, np.inf).min(axis=1)
  # Among targets at the worst score, the highest index ranks last.
  worst_index = np.where(relevant & (scores == worst_score[:, None]), index,
                         -1).max(axis=1)
  other = ~relevant
  best_score = np.where(other, scores, -np.inf).max(axis=1)
  best_index = np.where(other & (scores == best_score[:, None]), index,
                        tags).min(axis=1)
  no_other = ~other.any(axis=1)
  ahead = (worst_score > best_score) | (
      (worst_score == best_score) & (worst_index < best_index))
  return float(np.mean(ahead | no_other))
