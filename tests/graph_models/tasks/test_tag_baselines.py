"""Tests of the missing-tag baselines and their evaluation."""

import doctest
import math

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.tasks import tag_baselines
from graph_models.tasks.missing_tags import make_missing_tag_task
from gam_datasets.synthetic import generate_flickr_like_with_metadata
from graph_models.tasks.tag_baselines import (EXCLUDED_SCORE, MostFrequentTags,
                                        NaiveBayesTags, evaluate_tag_scores)

INF = math.inf

# Four images, three tags: N = (3, 3, 1) images per tag, 7 assignments.
# Pairs off the diagonal: C[0, 1] = 2 (images 0, 1), C[1, 2] = 1 (image 2),
# C[0, 2] = 0; so M_t = sum over o != t of C[o, t] = (2, 3, 1).
OBSERVED = sp.csr_matrix([[1, 1, 0],
                          [1, 1, 0],
                          [0, 1, 1],
                          [1, 0, 0]])
# Images to score: {1}, {0}, {2}, {} and {0, 2}.
QUERIES = sp.csr_matrix([[0, 1, 0],
                         [1, 0, 0],
                         [0, 0, 1],
                         [0, 0, 0],
                         [1, 0, 1]])


@pytest.fixture(scope="module")
def synthetic_task():
  _, meta = generate_flickr_like_with_metadata(num_nodes=2000, num_val=200,
                                               num_test=400)
  return make_missing_tag_task(meta.image_tags, drop_probability=0.2, seed=0)


def _reference_naive_bayes(train: np.ndarray, queries: np.ndarray,
                           alpha: float) -> np.ndarray:
  """The module docstring's formulas, one image and one tag at a time."""
  vocabulary = train.shape[1]
  counts = train.sum(axis=0)
  pairs = train.T @ train
  np.fill_diagonal(pairs, 0)
  mass = pairs.sum(axis=0)
  scores = np.full(queries.shape, -np.inf)
  for i, row in enumerate(queries):
    seen = np.flatnonzero(row)
    for t in range(vocabulary):
      if t in seen:
        continue
      score = math.log((counts[t] + alpha)
                       / (counts.sum() + alpha * vocabulary))
      for o in seen:
        score += math.log((pairs[o, t] + alpha)
                          / (mass[t] + alpha * (vocabulary - 1)))
      scores[i, t] = score
  return scores


def test_docstring_examples():
  assert doctest.testmod(tag_baselines).failed == 0


def test_most_frequent_hand_computed():
  model = MostFrequentTags().fit(OBSERVED)
  np.testing.assert_allclose(model.frequencies_, [3 / 4, 3 / 4, 1 / 4])
  scores = model.predict_scores(QUERIES)
  np.testing.assert_allclose(scores, [[.75, -INF, .25],
                                      [-INF, .75, .25],
                                      [.75, .75, -INF],
                                      [.75, .75, .25],
                                      [-INF, .75, -INF]])
  assert scores.dtype == np.float32


def test_naive_bayes_hand_computed():
  model = NaiveBayesTags().fit(OBSERVED)
  # P(t) = (N_t + 1) / (7 + 3) = (4, 4, 2) / 10.
  np.testing.assert_allclose(model.log_prior_, np.log([.4, .4, .2]))
  np.testing.assert_array_equal(model.tag_counts_, [3, 3, 1])
  np.testing.assert_array_equal(model.cooccurrence_.toarray(),
                                [[0, 2, 0], [2, 0, 1], [0, 1, 0]])
  # P(o | t) = (C[o, t] + 1) / (M_t + 2):
  #   t0: P(1|0) = 3/4, P(2|0) = 1/4      (M_0 = 2)
  #   t1: P(0|1) = 3/5, P(2|1) = 2/5      (M_1 = 3)
  #   t2: P(0|2) = 1/3, P(1|2) = 2/3      (M_2 = 1)
  np.testing.assert_allclose(model.log_denominator_, np.log([4, 5, 3]))
  # P(t) * prod P(o | t); 1 marks an observed tag, excluded below.
  expected = np.log([
      # {1}: t0 .4 * 3/4 = .3, t2 .2 * 2/3 = 2/15.
      [.3, 1, 2 / 15],
      # {0}: t1 .4 * 3/5 = .24, t2 .2 * 1/3 = 1/15.
      [1, .24, 1 / 15],
      # {2}: t0 .4 * 1/4 = .1, t1 .4 * 2/5 = .16.
      [.1, .16, 1],
      # {}: the prior.
      [.4, .4, .2],
      # {0, 2}: t1 .4 * 3/5 * 2/5 = .096.
      [1, .096, 1]])
  expected[[0, 1, 2, 4, 4], [1, 0, 2, 0, 2]] = -INF
  scores = model.predict_scores(QUERIES)
  np.testing.assert_allclose(scores, expected, rtol=1e-6)
  # Normalised over the candidates of image {1}: P(t0 | {1}) =
  # .3 / (.3 + 2/15) = 9/13 ~ .6923, P(t2 | {1}) = 4/13.
  posterior = np.exp(scores[0] - np.logaddexp.reduce(scores[0]))
  np.testing.assert_allclose(posterior, [9 / 13, 0, 4 / 13], rtol=1e-6)


def test_naive_bayes_other_alpha_hand_computed():
  model = NaiveBayesTags(alpha=0.5).fit(OBSERVED)
  scores = model.predict_scores(QUERIES[:1])
  # alpha .5, V 3: P(t) = (N_t + .5) / (7 + 1.5), P(o | t) =
  # (C[o, t] + .5) / (M_t + 1). Image {1}: t0 3.5/8.5 * 2.5/3 ~ .3431,
  # t2 1.5/8.5 * 1.5/2 ~ .1324.
  np.testing.assert_allclose(
      scores[0], np.log([3.5 / 8.5 * 2.5 / 3, 1, 1.5 / 8.5 * 1.5 / 2])
      + [0, -INF, 0], rtol=1e-6)


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_naive_bayes_matches_loop_reference(alpha, monkeypatch):
  rng = np.random.default_rng(0)
  train = (rng.random((60, 12)) < 0.25).astype(float)
  queries = (rng.random((15, 12)) < 0.25).astype(float)
  expected = _reference_naive_bayes(train, queries, alpha)
  dense = NaiveBayesTags(alpha).fit(train).predict_scores(queries)
  np.testing.assert_allclose(dense, expected, rtol=1e-6)
  # Above the dense limit the log-ratio table stays sparse: same scores.
  monkeypatch.setattr(tag_baselines, "_DENSE_VOCABULARY", 0)
  model = NaiveBayesTags(alpha).fit(train)
  assert sp.issparse(model._log_ratio)
  np.testing.assert_allclose(model.predict_scores(queries, block_rows=4),
                             expected, rtol=1e-6)


def test_blocks_and_repeats_give_the_same_scores(synthetic_task):
  model = NaiveBayesTags().fit(synthetic_task.observed)
  rows = synthetic_task.eval_observed
  whole = model.predict_scores(rows)
  np.testing.assert_array_equal(whole, model.predict_scores(rows,
                                                            block_rows=7))
  refit = NaiveBayesTags().fit(synthetic_task.observed)
  np.testing.assert_array_equal(whole, refit.predict_scores(rows))


@pytest.mark.parametrize("model_class", [MostFrequentTags, NaiveBayesTags])
def test_observed_tags_are_never_predicted(model_class, synthetic_task):
  observed = synthetic_task.eval_observed
  scores = model_class().fit(synthetic_task.observed).predict_scores(observed)
  is_observed = observed.toarray() > 0
  assert np.all(scores[is_observed] == EXCLUDED_SCORE)
  assert np.all(np.isfinite(scores[~is_observed]))
  top = np.argsort(-scores, axis=1, kind="stable")[:, :3]
  assert not np.take_along_axis(is_observed, top, axis=1).any()


def test_naive_bayes_beats_most_frequent_on_synthetic_flickr(synthetic_task):
  targets = synthetic_task.eval_dropped
  results = {}
  for model in (MostFrequentTags(), NaiveBayesTags()):
    scores = model.fit(synthetic_task.observed).predict_scores(
        synthetic_task.eval_observed)
    results[type(model).__name__] = evaluate_tag_scores(targets, scores, k=3)
  frequent, bayes = results["MostFrequentTags"], results["NaiveBayesTags"]
  # Measured (2,000 images, 1,254 with a dropped tag, 1,476 tags):
  # most frequent: image mAP .1427, precision@3 .0731, exact match .0494;
  # Naive Bayes:   image mAP .1905, precision@3 .0960, exact match .0758.
  assert bayes["num_images"] == frequent["num_images"] == 1254
  assert bayes["num_empty_images"] == 0
  assert bayes["image_map"] > frequent["image_map"] + 0.03
  assert bayes["precision_at_3"] > frequent["precision_at_3"] + 0.01
  assert bayes["recall_at_3"] > frequent["recall_at_3"]
  assert bayes["exact_match"] > frequent["exact_match"]


def test_evaluate_hand_computed():
  targets = np.array([[1, 0, 0, 1],
                      [0, 1, 0, 0],
                      [0, 0, 1, 1],
                      [0, 0, 0, 0]])
  scores = np.array([[.9, -INF, .2, .5],  # ranks 0, 3, 2, 1
                     [.3, .1, .4, -INF],  # ranks 2, 0, 1, 3
                     [.6, .6, .1, .6],    # ranks 0, 1, 3 (tied), 2
                     [.1, .2, .3, .4]])   # no target
  r = evaluate_tag_scores(sp.csr_matrix(targets), scores, k=2)
  # Top 2: {0, 3} 2 hits, {2, 0} 0, {0, 1} 0 (ties to the lower index),
  # {3, 2} 0 hits for the empty image.
  assert r["precision_at_2"] == pytest.approx((2 / 2 + 0 + 0 + 0) / 4)
  assert r["recall_at_2"] == pytest.approx((2 / 2 + 0 + 0) / 3)
  assert r["accuracy_at_2"] == pytest.approx((1 + 0 + 0 + 0) / 4)
  # Per image AP, ties pessimistic: image 0 (1/1 + 2/2) / 2 = 1; image 1,
  # target third: 1/3; image 2, target 3 tied with 0, 1 at .6: 1/3, target
  # 2 fourth: 2/4, AP 5/12. Mean (1 + 1/3 + 5/12) / 3 = 7/12.
  assert r["image_map"] == pytest.approx(7 / 12, rel=1e-6)
  # Per label, images ranked by score:
  #   label 0 (.9+, .6, .3, .1): 1
  #   label 1 (.6, .2, .1+, -inf): 1/3
  #   label 2 (.4, .3, .2, .1+): 1/4
  #   label 3 (.6+, .5+, .4, -inf): 1
  # Mean (1 + 1/3 + 1/4 + 1) / 4 = 31/48.
  assert r["label_map"] == pytest.approx(31 / 48, rel=1e-6)
  # Top |targets|: image 0 {0, 3} right; image 1 {2} wrong; image 2
  # {0, 1} wrong; the empty image is left out: 1/3.
  assert r["exact_match"] == pytest.approx(1 / 3)
  assert r["num_images"] == 4
  assert r["num_empty_images"] == 1
  assert r["num_labels_without_positive"] == 0
  fast = evaluate_tag_scores(targets, scores, k=2, batch_size=3,
                             label_map=False)
  assert "label_map" not in fast
  assert fast["image_map"] == pytest.approx(r["image_map"])


def test_exact_match_tie_rule():
  # Equal scores: the lower index takes the slot.
  targets = np.array([[1, 0], [0, 1]])
  scores = np.array([[.5, .5], [.5, .5]])
  assert evaluate_tag_scores(targets, scores, k=1)["exact_match"] == .5


def test_unfitted_and_mismatched_inputs():
  with pytest.raises(ValueError, match="NaiveBayesTags is not fitted"):
    NaiveBayesTags().predict_scores(QUERIES)
  model = MostFrequentTags().fit(OBSERVED)
  with pytest.raises(ValueError, match="observed_tags has 4 tags but "
                     "MostFrequentTags was fitted on 3"):
    model.predict_scores(sp.csr_matrix((2, 4)))
  with pytest.raises(ValueError, match="observed_tags must hold only 0 and 1"):
    model.predict_scores(np.array([[0, 2, 0]]))
  with pytest.raises(ValueError, match="block_rows must be a positive"):
    model.predict_scores(QUERIES, block_rows=0)
  with pytest.raises(ValueError, match="observed_tags is empty"):
    NaiveBayesTags().fit(sp.csr_matrix((3, 3)))
  # No image to score is not an error.
  assert model.predict_scores(sp.csr_matrix((0, 3))).shape == (0, 3)


@pytest.mark.parametrize("alpha", [0, -1, float("nan"), float("inf"), True,
                                   "1"])
def test_bad_alpha(alpha):
  with pytest.raises(ValueError, match="alpha .* must be a finite number > 0"):
    NaiveBayesTags(alpha)


def test_evaluate_bad_inputs():
  targets = np.array([[1, 0, 0]])
  with pytest.raises(ValueError, match="same shape"):
    evaluate_tag_scores(targets, np.zeros((1, 4)))
  with pytest.raises(ValueError, match="NaN or \\+inf"):
    evaluate_tag_scores(targets, np.array([[np.nan, 0, 0]]))
  with pytest.raises(ValueError, match="k=4 exceeds the number of tags"):
    evaluate_tag_scores(targets, np.zeros((1, 3)), k=4)
  with pytest.raises(ValueError, match="k must be a positive integer"):
    evaluate_tag_scores(targets, np.zeros((1, 3)), k=0)
