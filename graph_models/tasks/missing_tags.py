"""The missing-metadata task of the Flickr tag-prediction study.

The Flickr missing-tag prediction study ("missing node feature prediction"
on the Flickr graph of McAuley & Leskovec, 2012, sections 4-5 and 7.2)
builds its task as follows:
keep the 2,000 most common metadata values, remove each value of each photo
independently with probability 0.2, and ask a model that sees the remaining
(observed) values to predict the removed ones. `make_missing_tag_task`
builds that task from a 0/1 image x tag incidence matrix, such as
`FlickrMetadata.image_tags` of `gam_datasets.synthetic`.

Choices (each documented on the field or argument it concerns):

* Vocabulary: the `vocabulary_size` tags carried by the most images, among
  those carried by at least `min_count` images, computed on the full matrix
  before anything is dropped (as in the missing-tag study, which filters first).
  Column j of the task is original tag `vocabulary[j]`; columns run from the
  most to the least common tag, ties going to the lower original id, so the
  metrics' tie rule (lower column first) favours the more common tag.
  Assignments of tags outside the vocabulary are discarded (counted in
  `num_out_of_vocabulary`).
* Dropping: every (image, vocabulary tag) assignment is dropped independently
  with probability `drop_probability`, from `numpy.random.default_rng(seed)`
  drawing one uniform number per assignment in row-major order of the
  vocabulary columns, so the task depends only on the matrix and the
  arguments.
* Evaluation images (`eval_images`): the images with at least one dropped tag.
  Images with nothing dropped have nothing to predict (the missing-tag study
  reports that they make its accuracy trivially high), so they are left out and
  counted in `num_images_nothing_dropped`; images with no vocabulary tag at
  all are among them and also counted in `num_untagged_images`. Images whose
  every tag was dropped stay in: a model must then predict from nothing
  (`num_images_nothing_observed` counts them).
* Observed and dropped tags are disjoint and together make the (vocabulary
  restricted) original matrix; both are float32 0/1 CSR matrices with sorted
  indices. A model may be fitted on `observed` of every image without seeing
  any target: the dropped tags appear nowhere in it.

Example:
  >>> import scipy.sparse as sp
  >>> tags = sp.csr_matrix([[1, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]])
  >>> task = make_missing_tag_task(tags, drop_probability=0.5, seed=0)
  >>> task.vocabulary.tolist()  # tags 0, 1 on 2 images, tags 2, 3 on 1
  [0, 1, 2, 3]
  >>> (task.observed + task.dropped).toarray().astype(int).tolist()
  [[1, 1, 0, 1], [0, 1, 1, 0], [1, 0, 0, 0]]
  >>> task.eval_images.tolist(), task.num_images_nothing_dropped
  ([0, 1], 1)
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from typing import Union

import numpy as np
import scipy.sparse as sp

# The missing-tag study keeps the 2,000 most common metadata values and drops
# each with probability 0.2.
DEFAULT_VOCABULARY_SIZE = 2000
DEFAULT_DROP_PROBABILITY = 0.2

TagMatrix = Union[sp.spmatrix, sp.sparray, np.ndarray]


def _read_only(array: np.ndarray) -> np.ndarray:
  array.flags.writeable = False
  return array


def _frozen_csr(matrix: sp.csr_matrix) -> sp.csr_matrix:
  """The task's matrices are shared by every consumer: writes would corrupt
  them silently, so their arrays are made read-only."""
  matrix.has_sorted_indices = True
  for array in (matrix.data, matrix.indices, matrix.indptr):
    _read_only(array)
  return matrix


@dataclasses.dataclass(frozen=True, eq=False)
class MissingTagTask:
  """Observed and dropped tags of every image (see the module docstring).

  Attributes:
    observed: `[num_images, vocabulary_size]` 0/1 float32 CSR, the tags a
      model sees.
    dropped: same shape, the dropped tags: the multi-hot targets.
    vocabulary: `[vocabulary_size]` int64, the original tag id of each column.
    tag_counts: `[vocabulary_size]` int64, images carrying each vocabulary
      tag before dropping.
    eval_images: sorted int64 ids of the images with at least one dropped tag,
      the only images evaluated.
    drop_probability: the chance that an assignment was dropped.
    seed: the seed of the drop.
    num_out_of_vocabulary: assignments of tags outside the vocabulary,
      discarded.
    num_untagged_images: images without any vocabulary tag.
  """

  observed: sp.csr_matrix
  dropped: sp.csr_matrix
  vocabulary: np.ndarray
  tag_counts: np.ndarray
  eval_images: np.ndarray
  drop_probability: float
  seed: int
  num_out_of_vocabulary: int
  num_untagged_images: int

  @property
  def num_images(self) -> int:
    return self.observed.shape[0]

  @property
  def vocabulary_size(self) -> int:
    return self.observed.shape[1]

  @property
  def num_images_nothing_dropped(self) -> int:
    """Images left out of evaluation: nothing of theirs was dropped."""
    return self.num_images - self.eval_images.size

  @property
  def num_images_nothing_observed(self) -> int:
    """Evaluation images all of whose tags were dropped."""
    return int(np.count_nonzero(np.diff(self.observed.indptr)[
        self.eval_images] == 0))

  @property
  def drop_rate(self) -> float:
    """The share of vocabulary assignments actually dropped."""
    total = self.observed.nnz + self.dropped.nnz
    return self.dropped.nnz / total

  @property
  def eval_observed(self) -> sp.csr_matrix:
    """`observed` of the evaluation images, row r being `eval_images[r]`."""
    return self.observed[self.eval_images]

  @property
  def eval_dropped(self) -> sp.csr_matrix:
    """`dropped` of the evaluation images: the targets to score."""
    return self.dropped[self.eval_images]


def _check_int(value, name: str, minimum: int) -> int:
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or value < minimum):
    raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
  return int(value)


def check_tag_matrix(image_tags: TagMatrix, name: str = "image_tags",
                     allow_empty: bool = False) -> sp.csr_matrix:
  """Returns `image_tags` as a new canonical float32 0/1 CSR matrix.

  Explicit zeros are dropped; duplicate entries of a COO-built matrix are
  summed first, so a tag listed twice for an image is reported as a 2.
  `allow_empty` accepts no rows or no non-zero entry (images to score that
  have nothing observed); a matrix without columns is always refused.

  Raises:
    TypeError: `image_tags` is neither a scipy sparse matrix nor a numpy
      array.
    ValueError: it is not 2-D, has no columns, or (unless `allow_empty`) no
      rows or no non-zero entry, or holds a value other than 0 and 1 (the
      message names the first one).

  Example:
    >>> check_tag_matrix(np.array([[1, 0], [0, 1]])).nnz
    2
  """
  if not (sp.issparse(image_tags) or isinstance(image_tags, np.ndarray)):
    raise TypeError(f"{name} must be a scipy sparse matrix or a numpy array, "
                    f"got {type(image_tags).__name__}")
  if image_tags.ndim != 2:
    raise ValueError(f"{name} must be a 2-D [images, tags] matrix, got "
                     f"shape {image_tags.shape}")
  # A copy: canonicalising below must not touch the caller's matrix.
  matrix = sp.csr_matrix(image_tags, copy=True)
  if matrix.shape[1] == 0 or (matrix.shape[0] == 0 and not allow_empty):
    raise ValueError(f"{name} is empty: shape {matrix.shape}")
  matrix.sum_duplicates()
  matrix.eliminate_zeros()
  if matrix.nnz == 0 and not allow_empty:
    raise ValueError(f"{name} is empty: its {matrix.shape[0]} images carry no "
                     "tag (every entry is 0)")
  bad = np.flatnonzero(matrix.data != 1)  # NaN is != 1 too.
  if bad.size:
    row = int(np.searchsorted(matrix.indptr, bad[0], side="right") - 1)
    raise ValueError(
        f"{name} must hold only 0 and 1, got {bad.size} other value(s), the "
        f"first {matrix.data[bad[0]].item()!r} at (image {row}, tag "
        f"{int(matrix.indices[bad[0]])})")
  return sp.csr_matrix(
      (np.ones(matrix.nnz, np.float32), matrix.indices.astype(np.int32),
       matrix.indptr.astype(np.int64)), shape=matrix.shape)


def _rows_of(matrix: sp.csr_matrix) -> np.ndarray:
  return np.repeat(np.arange(matrix.shape[0], dtype=np.int64),
                   np.diff(matrix.indptr))


def _csr_from_sorted(rows: np.ndarray, cols: np.ndarray,
                     shape) -> sp.csr_matrix:
  """0/1 CSR of (row, col) pairs already sorted by row then column."""
  indptr = np.zeros(shape[0] + 1, dtype=np.int64)
  np.cumsum(np.bincount(rows, minlength=shape[0]), out=indptr[1:])
  return sp.csr_matrix(
      (np.ones(rows.size, np.float32), cols.astype(np.int32), indptr),
      shape=shape)


def select_vocabulary(image_tags: sp.csr_matrix, vocabulary_size: int,
                      min_count: int = 1) -> np.ndarray:
  """Ids of the `vocabulary_size` most common tags with >= `min_count` images.

  Ordered by decreasing count, ties by increasing id; fewer ids if fewer tags
  reach `min_count`. `image_tags` must be 0/1 (`check_tag_matrix`).

  Example:
    >>> tags = sp.csr_matrix([[0, 1, 1], [0, 1, 0], [0, 0, 1]])
    >>> select_vocabulary(tags, 5).tolist()  # tags 1, 2 tie; tag 0 unused
    [1, 2]
  """
  counts = np.bincount(image_tags.indices, minlength=image_tags.shape[1])
  candidates = np.flatnonzero(counts >= min_count)
  # lexsort: last key first, so by count descending then by id ascending.
  order = np.lexsort((candidates, -counts[candidates]))
  return candidates[order[:vocabulary_size]].astype(np.int64)


def make_missing_tag_task(
    image_tags: TagMatrix,
    drop_probability: float = DEFAULT_DROP_PROBABILITY,
    seed: int = 0,
    vocabulary_size: int = DEFAULT_VOCABULARY_SIZE,
    min_count: int = 1) -> MissingTagTask:
  """Drops tags at random from the most common ones (as the Flickr
  missing-tag prediction study does).

  Args:
    image_tags: `[num_images, num_tags]` 0/1 incidence (scipy sparse or
      numpy), e.g. `FlickrMetadata.image_tags`. Not modified.
    drop_probability: the chance, in (0, 1), that each (image, tag)
      assignment is dropped; 0.2 in the missing-tag study.
    seed: non-negative integer seed of the drop.
    vocabulary_size: how many of the most common tags to keep (2,000 in the
      missing-tag study); fewer are kept if fewer tags reach `min_count`.
    min_count: the fewest images a kept tag must be on. The default 1 only
      excludes unused tags, as the missing-tag study's pure top-N filter; 2
      keeps only tags that can still be seen on another image once dropped.

  Returns:
    The `MissingTagTask`.

  Raises:
    TypeError, ValueError: bad input (see `check_tag_matrix`), a probability
      outside (0, 1), or sizes / seed below their minimum, or no tag on
      `min_count` images; the message names the problem.

  Example:
    >>> from gam_datasets.synthetic import generate_flickr_like_with_metadata
    >>> _, meta = generate_flickr_like_with_metadata(
    ...     num_nodes=500, num_val=100, num_test=200)
    >>> task = make_missing_tag_task(meta.image_tags, seed=1)
    >>> task.observed.shape == task.dropped.shape
    True
  """
  if (isinstance(drop_probability, bool)
      or not isinstance(drop_probability, numbers.Real)
      or not math.isfinite(drop_probability)
      or not 0.0 < drop_probability < 1.0):
    raise ValueError("drop_probability must be a number in (0, 1) (exclusive: "
                     "0 drops nothing and 1 leaves nothing observed), got "
                     f"{drop_probability!r}")
  seed = _check_int(seed, "seed", 0)
  vocabulary_size = _check_int(vocabulary_size, "vocabulary_size", 1)
  min_count = _check_int(min_count, "min_count", 1)
  matrix = check_tag_matrix(image_tags)

  vocabulary = select_vocabulary(matrix, vocabulary_size, min_count)
  if vocabulary.size == 0:
    most = int(np.bincount(matrix.indices).max())
    raise ValueError(f"no tag is on min_count={min_count} images (the most "
                     f"common is on {most}); lower min_count")
  column = np.full(matrix.shape[1], -1, dtype=np.int64)
  column[vocabulary] = np.arange(vocabulary.size)
  new_cols = column[matrix.indices]
  kept = new_cols >= 0
  rows, cols = _rows_of(matrix)[kept], new_cols[kept]
  # Row-major order of the new columns: the order the drop draws follow.
  order = np.lexsort((cols, rows))
  rows, cols = rows[order], cols[order]

  rng = np.random.default_rng(seed)
  drop = rng.random(rows.size) < drop_probability
  shape = (matrix.shape[0], vocabulary.size)
  observed = _csr_from_sorted(rows[~drop], cols[~drop], shape)
  dropped = _csr_from_sorted(rows[drop], cols[drop], shape)
  tagged = np.zeros(shape[0], dtype=bool)
  tagged[rows] = True
  eval_images = np.flatnonzero(np.diff(dropped.indptr) > 0).astype(np.int64)
  return MissingTagTask(
      observed=_frozen_csr(observed), dropped=_frozen_csr(dropped),
      vocabulary=_read_only(vocabulary),
      tag_counts=_read_only(np.bincount(cols, minlength=vocabulary.size)
                            .astype(np.int64)),
      eval_images=_read_only(eval_images),
      drop_probability=float(drop_probability), seed=seed,
      num_out_of_vocabulary=int(np.count_nonzero(~kept)),
      num_untagged_images=int(np.count_nonzero(~tagged)))
