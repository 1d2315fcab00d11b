"""Tests for the blockwise Jaccard top-k neighbour graph."""

from __future__ import annotations

import doctest
import fractions
from typing import List, Optional, Tuple

import numpy as np
import pytest
import scipy.sparse as sp

from gam_datasets import jaccard_graph, tag_files
from gam_datasets.flickr_cooccurrence import make_tag_dummy_data
from gam_datasets.jaccard_graph import jaccard_top_k
from graph_models.graph import Graph


def _brute_force(tags: np.ndarray, k: int, min_similarity: float = 0.0,
                 rows: Optional[List[int]] = None
                 ) -> Tuple[List[int], List[int], List[fractions.Fraction]]:
  """Every pair's exact Jaccard similarity, sorted by (-similarity, id)."""
  sets = [set(np.flatnonzero(row).tolist()) for row in tags]
  senders, receivers, weights = [], [], []
  for image in range(len(sets)) if rows is None else rows:
    scored = []
    for other, tag_set in enumerate(sets):
      union = len(sets[image] | tag_set)
      if other == image or not union:
        continue
      similarity = fractions.Fraction(len(sets[image] & tag_set), union)
      if similarity > 0 and similarity > min_similarity:
        scored.append((-similarity, other))
    for negative, other in sorted(scored)[:k]:
      senders.append(other)
      receivers.append(image)
      weights.append(-negative)
  return senders, receivers, weights


def _random_tags(num_images: int, num_tags: int, density: float,
                 seed: int) -> np.ndarray:
  rng = np.random.default_rng(seed)
  return (rng.random((num_images, num_tags)) < density).astype(np.float32)


def _assert_matches_brute_force(tags: np.ndarray, k: int, **kwargs) -> None:
  senders, receivers, weights = jaccard_top_k(sp.csr_matrix(tags), k,
                                              **kwargs)
  expected = _brute_force(tags, k, kwargs.get("min_similarity", 0.0),
                          kwargs.get("rows"))
  assert senders.tolist() == expected[0]
  assert receivers.tolist() == expected[1]
  np.testing.assert_array_equal(
      weights, np.array([float(w) for w in expected[2]], dtype=np.float32))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("k", [1, 3, 10])
def test_matches_brute_force_on_random_tags(seed, k):
  # Few tags make many equal similarities, so tie-breaking is exercised.
  _assert_matches_brute_force(_random_tags(60, 6, 0.3, seed), k)


def test_matches_brute_force_with_many_tags():
  _assert_matches_brute_force(_random_tags(80, 200, 0.05, seed=7), 5)


def test_close_similarities_are_ranked_exactly():
  # Image 0 has 1,500 tags and image j the first 700 + j of them, so the
  # similarities (700 + j) / 1500 differ by less than one 1/1024 bucket.
  tags = np.zeros((9, 1500), dtype=np.float32)
  tags[0] = 1
  for image in range(1, 9):
    tags[image, :700 + (image * 5) % 9] = 1
  _assert_matches_brute_force(tags, 3, rows=[0])


def test_ties_go_to_the_smaller_image_id():
  tags = np.array([[1, 0], [1, 0], [1, 0], [1, 0], [1, 1]])
  senders, receivers, weights = jaccard_top_k(sp.csr_matrix(tags), k=2)
  assert receivers.tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
  assert senders.tolist() == [1, 2, 0, 2, 0, 1, 0, 1, 0, 1]
  assert weights.tolist() == [1, 1, 1, 1, 1, 1, 1, 1, 0.5, 0.5]


@pytest.mark.parametrize("order", [(1, 2), (2, 1)])
def test_equal_fractions_tie(order):
  # 1/2 ({0} against {0, 1}) equals 2/4 ({0, 1, 2, 3} against {0, 1}): the
  # smaller id wins whichever of the two has the larger intersection.
  tags = np.zeros((3, 4))
  tags[0, :2] = 1
  tags[order[0], :1] = 1
  tags[order[1], :4] = 1
  senders, receivers, weights = jaccard_top_k(sp.csr_matrix(tags), k=1,
                                              rows=np.array([0]))
  assert (senders.tolist(), receivers.tolist()) == ([1], [0])
  assert weights.tolist() == [0.5]


def test_min_similarity_excludes_pairs_at_or_below_it():
  tags = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 0], [0, 0, 0, 1]])
  # Image 0's similarities: 1/2 to image 1, 2/3 to image 2, 0 to image 3.
  senders, _, weights = jaccard_top_k(sp.csr_matrix(tags), k=3,
                                      min_similarity=0.5, rows=[0])
  assert senders.tolist() == [2]
  np.testing.assert_allclose(weights, [2 / 3])
  for threshold in (0.0, 0.2, 0.5, 0.7, 1.0):
    _assert_matches_brute_force(_random_tags(40, 5, 0.4, seed=3), 4,
                                min_similarity=threshold)


def test_zero_similarity_never_makes_an_edge():
  tags = np.array([[1, 0], [0, 1], [0, 1]])
  senders, receivers, _ = jaccard_top_k(sp.csr_matrix(tags), k=5)
  assert list(zip(senders.tolist(), receivers.tolist())) == [(2, 1), (1, 2)]


def test_images_without_tags_get_and_give_no_edges():
  tags = _random_tags(30, 4, 0.5, seed=1)
  tags[[3, 17]] = 0
  senders, receivers, _ = jaccard_top_k(sp.csr_matrix(tags), k=4)
  assert not np.isin([3, 17], senders).any()
  assert not np.isin([3, 17], receivers).any()
  _assert_matches_brute_force(tags, 4)


@pytest.mark.parametrize("block_size,max_pairs",
                         [(1, 1 << 20), (3, 1 << 20), (7, 5), (1000, 1),
                          (1000, 40), (4096, 1 << 20)])
def test_blocking_does_not_change_the_result(block_size, max_pairs):
  tags = sp.csr_matrix(_random_tags(50, 8, 0.25, seed=5))
  expected = jaccard_top_k(tags, 3)
  found = jaccard_top_k(tags, 3, block_size=block_size, max_pairs=max_pairs)
  for want, got in zip(expected, found):
    np.testing.assert_array_equal(got, want)


def test_full_result_is_the_concatenation_of_row_blocks():
  tags = sp.csr_matrix(_random_tags(45, 7, 0.3, seed=2))
  full = jaccard_top_k(tags, 4)
  parts = [jaccard_top_k(tags, 4, rows=np.arange(start, min(start + 10, 45)))
           for start in range(0, 45, 10)]
  for column, want in enumerate(full):
    got = np.concatenate([part[column] for part in parts])
    np.testing.assert_array_equal(got, want)
    assert got.dtype == want.dtype


def test_rows_subset_in_any_order():
  tags = _random_tags(40, 6, 0.3, seed=4)
  rows = [31, 2, 17, 2, 0]
  _assert_matches_brute_force(tags, 3, rows=rows)
  singles = [jaccard_top_k(sp.csr_matrix(tags), 3, rows=[row])
             for row in rows]
  subset = jaccard_top_k(sp.csr_matrix(tags), 3, rows=np.array(rows))
  for column, got in enumerate(subset):
    np.testing.assert_array_equal(
        got, np.concatenate([single[column] for single in singles]))


def test_any_stored_nonzero_is_a_tag():
  tags = sp.csr_matrix(np.array([[3.0, 0.0], [1.0, 2.0], [0.0, 0.5]]))
  tags.data[tags.data == 2.0] = 0.0  # an explicitly stored zero
  senders, receivers, weights = jaccard_top_k(tags, k=2)
  assert senders.tolist() == [1, 0]
  assert receivers.tolist() == [0, 1]
  assert weights.tolist() == [1.0, 1.0]


def test_output_types_and_empty_inputs():
  senders, receivers, weights = jaccard_top_k(
      sp.csr_matrix(_random_tags(10, 3, 0.5, seed=0)), 2)
  assert (senders.dtype, receivers.dtype, weights.dtype) == (
      np.int64, np.int64, np.float32)
  for tags, rows in ((sp.csr_matrix((0, 4)), None),
                     (sp.csr_matrix(np.eye(3)), np.zeros(0, np.int64))):
    senders, receivers, weights = jaccard_top_k(tags, 2, rows=rows)
    assert senders.size == receivers.size == weights.size == 0
    assert (senders.dtype, weights.dtype) == (np.int64, np.float32)


@pytest.mark.parametrize("kwargs,message", [
    ({"k": 0}, "k, block_size and max_pairs must be >= 1"),
    ({"k": 2, "block_size": 0}, "block_size=0"),
    ({"k": 2, "max_pairs": 0}, "max_pairs=0"),
    ({"k": 2, "min_similarity": -0.1}, "min_similarity must be >= 0"),
    ({"k": 2, "rows": [0, 5, -1, 9]}, r"outside \[0, 5\): \[5, -1, 9\]"),
    ({"k": 2, "rows": [[0, 1]]}, "1-D array of image ids"),
    ({"k": 2, "rows": [0.5]}, "1-D array of image ids"),
])
def test_rejects_bad_arguments(kwargs, message):
  with pytest.raises(ValueError, match=message):
    jaccard_top_k(sp.csr_matrix(np.eye(5)), **kwargs)


def test_rejects_dense_tags():
  with pytest.raises(ValueError, match="scipy sparse"):
    jaccard_top_k(np.eye(3), 1)


def test_docstring_example():
  assert doctest.testmod(jaccard_graph).failed == 0


def test_dummy_tag_graph_links_images_of_the_same_concept(tmp_path):
  make_tag_dummy_data.write_nus_wide_files(tmp_path)
  images = tag_files.read_nus_wide(tmp_path)
  senders, receivers, weights = jaccard_top_k(images.tags, k=3)
  graph = Graph.from_edges(
      features=images.tags, senders=senders, receivers=receivers,
      weights=weights, labels=np.zeros(images.num_images, np.int64),
      num_classes=1).symmetrized()
  sources, targets, _ = graph.edges()
  shared = (images.concepts[sources] & images.concepts[targets]).any(axis=1)
  pairs = images.concepts.astype(int) @ images.concepts.T.astype(int)
  chance = (pairs[~np.eye(images.num_images, dtype=bool)] > 0).mean()
  assert shared.mean() > chance + 0.2
