"""Tests of the missing-tag task: vocabulary, drop, evaluation rows, errors."""

import doctest

import numpy as np
import pytest
import scipy.sparse as sp

from graph_models.tasks import missing_tags
from graph_models.tasks.missing_tags import (check_tag_matrix, make_missing_tag_task,
                                       select_vocabulary)
from gam_datasets.synthetic import generate_flickr_like_with_metadata

# Six images, five tags. Counts per tag: t0 3, t1 4, t2 1, t3 3, t4 0.
TAGS = np.array([[1, 1, 0, 0, 0],
                 [1, 1, 0, 1, 0],
                 [0, 1, 0, 1, 0],
                 [1, 0, 1, 1, 0],
                 [0, 1, 0, 0, 0],
                 [0, 0, 0, 0, 0]])


def _random_tags(images: int, tags: int, density: float,
                 seed: int) -> sp.csr_matrix:
  rng = np.random.default_rng(seed)
  return sp.random(images, tags, density=density, format="csr", rng=rng,
                   data_rvs=np.ones)


def test_docstring_examples():
  assert doctest.testmod(missing_tags).failed == 0


def test_vocabulary_most_common_first_ties_to_lower_id():
  matrix = check_tag_matrix(TAGS)
  # t1 (4), then t0 and t3 tied at 3 (lower id first), t2 (1); t4 unused.
  assert select_vocabulary(matrix, 10).tolist() == [1, 0, 3, 2]
  assert select_vocabulary(matrix, 2).tolist() == [1, 0]
  assert select_vocabulary(matrix, 10, min_count=3).tolist() == [1, 0, 3]


def test_task_is_the_restricted_matrix_split_in_two():
  task = make_missing_tag_task(TAGS, drop_probability=0.5, seed=2,
                               vocabulary_size=3)
  assert task.vocabulary.tolist() == [1, 0, 3]
  assert task.tag_counts.tolist() == [4, 3, 3]
  # t2's one assignment (image 3) falls outside the vocabulary.
  assert task.num_out_of_vocabulary == 1
  assert task.observed.shape == task.dropped.shape == (6, 3)
  restricted = TAGS[:, [1, 0, 3]]
  both = (task.observed + task.dropped).toarray()
  np.testing.assert_array_equal(both, restricted)
  assert task.observed.multiply(task.dropped).nnz == 0  # disjoint
  # Image 5 has no tag at all.
  assert task.num_untagged_images == 1


def test_drop_follows_the_documented_draws():
  task = make_missing_tag_task(TAGS, drop_probability=0.5, seed=2,
                               vocabulary_size=3)
  # Row-major assignments of the vocabulary columns [t1, t0, t3]:
  # image 0: cols 0, 1; image 1: 0, 1, 2; image 2: 0, 2; image 3: 1, 2;
  # image 4: 0. One uniform draw each, dropped when below 0.5.
  rows = np.array([0, 0, 1, 1, 1, 2, 2, 3, 3, 4])
  cols = np.array([0, 1, 0, 1, 2, 0, 2, 1, 2, 0])
  drop = np.random.default_rng(2).random(10) < 0.5
  expected = np.zeros((6, 3))
  expected[rows[drop], cols[drop]] = 1
  np.testing.assert_array_equal(task.dropped.toarray(), expected)
  # The same as literals: default_rng(2) draws
  # .262 .298 .814 .092 .600 .729 .188 .055 .275 .657 (below .5: dropped).
  assert drop.tolist() == [True, True, False, True, False, False, True,
                           True, True, False]
  # Image 0 and 3 lost all their tags, 1 and 2 some, 4 none (5 has none).
  assert task.eval_images.tolist() == [0, 1, 2, 3]
  assert task.num_images_nothing_dropped == 2  # images 4 and 5
  assert task.num_images_nothing_observed == 2  # images 0 and 3
  assert task.drop_rate == pytest.approx(6 / 10)
  np.testing.assert_array_equal(task.eval_dropped.toarray(),
                                expected[[0, 1, 2, 3]])
  np.testing.assert_array_equal(
      task.eval_observed.toarray(),
      [[0, 0, 0], [1, 0, 1], [1, 0, 0], [0, 0, 0]])


def test_same_seed_same_task_other_seed_other_drop():
  tags = _random_tags(500, 80, 0.05, seed=1)
  first = make_missing_tag_task(tags, seed=7)
  again = make_missing_tag_task(tags.copy(), seed=7)
  other = make_missing_tag_task(tags, seed=8)
  for a, b in ((first.observed, again.observed),
               (first.dropped, again.dropped)):
    for field in ("data", "indices", "indptr"):
      np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  np.testing.assert_array_equal(first.eval_images, again.eval_images)
  assert (first.dropped != other.dropped).nnz > 0


def test_drop_rate_close_to_the_probability_on_a_large_matrix():
  tags = _random_tags(20_000, 1000, 0.01, seed=0)  # ~200,000 assignments
  task = make_missing_tag_task(tags, drop_probability=0.2, seed=0,
                               vocabulary_size=1000)
  assignments = task.observed.nnz + task.dropped.nnz
  assert assignments == tags.nnz
  # Binomial sd: sqrt(.2 * .8 / 200,000) ~ .0009; the bound is 5.6 sd.
  assert abs(task.drop_rate - 0.2) < 0.005
  # An image with n tags loses none with probability .8 ** n.
  per_image = np.diff(tags.indptr)
  expected = float(np.sum(0.8 ** per_image))
  sd = float(np.sqrt(np.sum(0.8 ** per_image * (1 - 0.8 ** per_image))))
  assert abs(task.num_images_nothing_dropped - expected) < 5 * sd
  # The rate holds for common and for rare tags alike.
  per_tag = np.asarray(task.dropped.sum(axis=0)).ravel() / task.tag_counts
  assert abs(per_tag[:100].mean() - 0.2) < 0.02
  assert abs(per_tag[-100:].mean() - 0.2) < 0.02


def test_input_is_not_modified_and_task_is_read_only():
  tags = sp.csr_matrix(TAGS.astype(np.float64))
  before = tags.copy()
  task = make_missing_tag_task(tags, seed=0)
  assert (tags != before).nnz == 0
  with pytest.raises(ValueError, match="read-only"):
    task.observed.data[0] = 5
  with pytest.raises(ValueError, match="read-only"):
    task.eval_images[0] = 1


def test_accepts_dense_bool_and_coo_input():
  from_dense = make_missing_tag_task(TAGS.astype(bool), seed=2)
  from_coo = make_missing_tag_task(sp.coo_array(TAGS), seed=2)
  assert (from_dense.dropped != from_coo.dropped).nnz == 0
  assert from_dense.vocabulary.tolist() == [1, 0, 3, 2]


def test_synthetic_metadata_task():
  _, meta = generate_flickr_like_with_metadata(num_nodes=2000, num_val=200,
                                               num_test=400)
  task = make_missing_tag_task(meta.image_tags, seed=0)
  # 1,476 of the 2,000 tags are used at all; every image has a tag.
  assert task.vocabulary_size == 1476
  assert task.num_untagged_images == 0
  assert task.num_images_nothing_dropped + task.eval_images.size == 2000
  assert abs(task.drop_rate - 0.2) < 0.02
  small = make_missing_tag_task(meta.image_tags, seed=0, vocabulary_size=100)
  assert small.vocabulary_size == 100
  assert small.num_out_of_vocabulary > 0


@pytest.mark.parametrize("probability", [0, 1, -0.1, 1.5, float("nan"),
                                         float("inf"), True, "0.2", None])
def test_bad_probability(probability):
  with pytest.raises(ValueError, match="drop_probability must be a number in "
                     r"\(0, 1\)"):
    make_missing_tag_task(TAGS, drop_probability=probability)


@pytest.mark.parametrize("matrix, message", [
    (np.zeros((0, 4)), r"image_tags is empty: shape \(0, 4\)"),
    (np.zeros((4, 0)), r"image_tags is empty: shape \(4, 0\)"),
    (sp.csr_matrix((3, 4)), "its 3 images carry no tag"),
    (np.zeros(4), "must be a 2-D"),
    (np.array([[1, 0], [0, 2]]),
     r"only 0 and 1, got 1 other value\(s\), the first 2 at \(image 1, tag "
     r"1\)"),
    (np.array([[0.5, 1], [np.nan, 1]]),
     r"got 2 other value\(s\), the first 0.5 at \(image 0, tag 0\)"),
    (np.array([[1, -1]]), "the first -1 at"),
    # A tag listed twice for an image sums to 2.
    (sp.coo_matrix(([1, 1], ([0, 0], [1, 1])), shape=(1, 2)),
     r"the first 2 at \(image 0, tag 1\)"),
])
def test_bad_matrix(matrix, message):
  with pytest.raises(ValueError, match=message):
    make_missing_tag_task(matrix)


def test_matrix_of_wrong_type():
  with pytest.raises(TypeError, match="scipy sparse matrix or a numpy array, "
                     "got list"):
    make_missing_tag_task([[1, 0], [0, 1]])


@pytest.mark.parametrize("argument, value, message", [
    ("vocabulary_size", 0, "vocabulary_size must be an integer >= 1, got 0"),
    ("vocabulary_size", -3, "vocabulary_size must be an integer >= 1"),
    ("vocabulary_size", 2.5, "vocabulary_size must be an integer >= 1"),
    ("min_count", 0, "min_count must be an integer >= 1"),
    ("seed", -1, "seed must be an integer >= 0"),
    ("seed", None, "seed must be an integer >= 0"),
    ("min_count", 5, "no tag is on min_count=5 images \\(the most common is "
     "on 4\\)"),
])
def test_bad_sizes(argument, value, message):
  with pytest.raises(ValueError, match=message):
    make_missing_tag_task(TAGS, **{argument: value})
