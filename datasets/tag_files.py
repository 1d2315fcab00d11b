"""Reads NUS-WIDE and MIRFLICKR-25k: each image's tags and concept labels.

Both datasets are Flickr images with the tags their owners gave them and
ground-truth labels for a fixed set of concepts. Their tags are what
`gam_datasets.jaccard_graph` links images by (Johnson et al., "Love thy
neighbors", ICCV 2015). Both are downloaded by hand; the readers take the
directory that holds the files in the layout below.

NUS-WIDE (269,648 images, 1,000 tags, 81 concepts):

  AllTags1k.txt      one line per image: 1,000 whitespace-separated 0/1
                     values, the image's tags among the 1k-tag vocabulary.
  TagList1k.txt      the 1,000 tag names, one a line, in column order
                     (`Final_Tag_List.txt` is read when it is absent).
  Concepts81.txt     the 81 concept names, one a line.
  Groundtruth/AllLabels/Labels_<concept>.txt
                     one 0/1 a line per image, for each concept.
  ImageList/Imagelist.txt
                     optional: the image names, one a line; without it the
                     images are named by their line number, "1", "2", ...

MIRFLICKR-25k (25,000 images, 24 concepts):

  meta/tags/tags<n>.txt
                     the user tags of image n (im<n>.jpg), one a line; an
                     image without tags has an empty file. Images are
                     numbered 1..N without gaps.
  annotations/<concept>.txt
                     the numbers n of the images showing the concept, one a
                     line. `<concept>_r1.txt` (the stricter "relevant"
                     annotation) and `README.txt` are ignored.

An image without tags has no Jaccard neighbour. Both readers refuse such
images unless `allow_empty_tags=True`, which keeps them (they become
isolated nodes of a tag graph). Every other inconsistency raises
`TagFileError` naming the file and the first offending lines or images.

Example:
  >>> images = read_mirflickr("manual/mirflickr", min_tag_count=20)
  ... # doctest: +SKIP
  >>> images.concepts.shape  # doctest: +SKIP
  (25000, 24)
"""

from __future__ import annotations

import dataclasses
import os
import re
from typing import BinaryIO, Iterator, List, Sequence, Tuple, Union

import numpy as np
import scipy.sparse as sp

from graph_models.graph import format_ids
from gam_datasets.safe_pickle import DataFileError

PathLike = Union[str, "os.PathLike[str]"]

NUS_WIDE_URL = ("https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/"
                "nuswide/NUS-WIDE.html")
MIRFLICKR_URL = "https://press.liacs.nl/mirflickr/"

# Folders of the manual download directory that hold each dataset.
NUS_WIDE_SUBDIRECTORY = "nus_wide"
MIRFLICKR_SUBDIRECTORY = "mirflickr"

NUS_WIDE_TAGS = "AllTags1k.txt"
NUS_WIDE_TAG_LISTS = ("TagList1k.txt", "Final_Tag_List.txt")
NUS_WIDE_CONCEPTS = "Concepts81.txt"
NUS_WIDE_LABELS = os.path.join("Groundtruth", "AllLabels")
NUS_WIDE_IMAGE_LIST = os.path.join("ImageList", "Imagelist.txt")
MIRFLICKR_TAGS = os.path.join("meta", "tags")
MIRFLICKR_ANNOTATIONS = "annotations"

NUS_WIDE_INSTRUCTIONS = f"""\
NUS-WIDE: download the tags (NUS_WID_Tags), the concept list, the ground
truth and the image list from {NUS_WIDE_URL} and put these files into
`<manual_dir>/{NUS_WIDE_SUBDIRECTORY}/` (by default
~/tensorflow_datasets/downloads/manual/{NUS_WIDE_SUBDIRECTORY}/):
  AllTags1k.txt                  1,000 0/1 tag values per image, a line each
  TagList1k.txt                  the 1,000 tag names (or Final_Tag_List.txt)
  Concepts81.txt                 the 81 concept names
  Groundtruth/AllLabels/Labels_<concept>.txt   one 0/1 per image, a line each
  ImageList/Imagelist.txt        optional: the image names"""

MIRFLICKR_INSTRUCTIONS = f"""\
MIRFLICKR-25k: download mirflickr25k.zip and the annotations
(mirflickr25k_annotations_v080.zip) from {MIRFLICKR_URL}, unpack the first
into `<manual_dir>/{MIRFLICKR_SUBDIRECTORY}/` (by default
~/tensorflow_datasets/downloads/manual/{MIRFLICKR_SUBDIRECTORY}/) and the
annotations into its `annotations/` folder:
  meta/tags/tags<n>.txt          the tags of image n, one a line
  annotations/<concept>.txt      the numbers of the images of each concept"""


class TagFileError(DataFileError):
  """A tag or label file is malformed or disagrees with the others.

  The message names the file and the first offending lines or images.
  """


class TagFilesNotFoundError(TagFileError, FileNotFoundError):
  """The data directory or some of its files are missing."""


@dataclasses.dataclass(frozen=True, eq=False)
class TagImages:
  """Images with their tag sets and ground-truth concepts.

  Attributes:
    image_names: one name per image.
    tags: [images, tags] float32 CSR matrix, 1 where the image has the tag.
    tag_names: one name per column of `tags`.
    concepts: [images, concepts] bool array, True where the image shows the
      concept.
    concept_names: one distinct name per column of `concepts`.
  """

  image_names: List[str]
  tags: sp.csr_matrix
  tag_names: List[str]
  concepts: np.ndarray
  concept_names: List[str]

  def __post_init__(self):
    for field in ("image_names", "tag_names", "concept_names"):
      object.__setattr__(self, field,
                         [str(name) for name in getattr(self, field)])
    object.__setattr__(self, "tags", self._checked_tags())
    object.__setattr__(self, "concepts", self._checked_concepts())
    if len(set(self.concept_names)) != len(self.concept_names):
      raise ValueError(f"concept names repeat: {self.concept_names}")

  def _checked_tags(self) -> sp.csr_matrix:
    if not sp.issparse(self.tags):
      raise ValueError("tags must be a scipy sparse matrix, got "
                       f"{type(self.tags).__name__}")
    tags = sp.csr_matrix(self.tags, dtype=np.float32, copy=True)
    tags.sum_duplicates()
    tags.eliminate_zeros()
    expected = (len(self.image_names), len(self.tag_names))
    if tags.shape != expected:
      raise ValueError(f"tags has shape {tags.shape}; expected {expected} "
                       "(one row per image name, one column per tag name)")
    bad = tags.data != 1
    if bad.any():
      rows = np.repeat(np.arange(tags.shape[0]), np.diff(tags.indptr))[bad]
      raise ValueError(f"tags must be 0/1; images "
                       f"{format_ids(np.unique(rows))} hold other values")
    return tags

  def _checked_concepts(self) -> np.ndarray:
    concepts = np.asarray(self.concepts)
    expected = (len(self.image_names), len(self.concept_names))
    if concepts.shape != expected:
      raise ValueError(f"concepts has shape {concepts.shape}; expected "
                       f"{expected} (one row per image name, one column per "
                       "concept name)")
    bad = ~np.isin(concepts, (0, 1))
    if bad.any():
      raise ValueError("concepts must be 0/1 or bool; images "
                       f"{format_ids(np.flatnonzero(bad.any(axis=1)))} hold "
                       "other values")
    return concepts.astype(bool)

  @property
  def num_images(self) -> int:
    return len(self.image_names)

  def untagged_images(self) -> np.ndarray:
    """Indices of the images without any tag."""
    return np.flatnonzero(np.diff(self.tags.indptr) == 0)


# Whitespace-separated 0/1 text, read a block of lines at a time -------------

_CHUNK_BYTES = 1 << 23
_WHITESPACE = b" \t\n\r\x0b\x0c"
_NEWLINE, _ZERO, _ONE = ord("\n"), ord("0"), ord("1")


def _content_length(file: BinaryIO) -> int:
  """Bytes up to the last non-whitespace one: trailing blank lines hold no
  image, and a file's last newline is optional."""
  end = file.seek(0, os.SEEK_END)
  while end > 0:
    start = max(0, end - 4096)
    file.seek(start)
    kept = file.read(end - start).rstrip(_WHITESPACE)
    if kept:
      end = start + len(kept)
      break
    end = start
  file.seek(0)
  return end


def _line_chunks(path: str) -> Iterator[bytes]:
  """The file's content in pieces of about `_CHUNK_BYTES` of whole lines."""
  with open(path, "rb") as file:
    remaining = _content_length(file)
    pending = b""
    while remaining:
      piece = file.read(min(_CHUNK_BYTES, remaining))
      remaining -= len(piece)
      data = pending + piece
      cut = data.rfind(b"\n") + 1 if remaining else len(data)
      if cut:
        yield data[:cut]
      pending = data[cut:]


def _first_bad_value(chunk: bytes, position: int) -> str:
  line_start = chunk.rfind(b"\n", 0, position) + 1
  line_end = chunk.find(b"\n", position)
  line = chunk[line_start:line_end if line_end >= 0 else len(chunk)]
  value = next(value for value in line.split() if value not in (b"0", b"1"))
  return value.decode("utf-8", "replace")


def _bad_value_error(chunk: bytes, data: np.ndarray, newlines: np.ndarray,
                     path: str, first_line: int) -> TagFileError:
  is_value = data > 32
  bad = np.flatnonzero(
      (is_value & (data != _ZERO) & (data != _ONE))
      | (data < 9) | ((data > 13) & (data < 32))
      | np.r_[False, is_value[1:] & is_value[:-1]])
  lines = np.unique(np.searchsorted(newlines, bad)) + first_line + 1
  return TagFileError(
      f"{path}: values other than 0 and 1 (such as "
      f"{_first_bad_value(chunk, int(bad[0]))!r}) on lines "
      f"{format_ids(lines)}")


def _parse_01_chunk(chunk: bytes, width: int, path: str, first_line: int,
                    width_source: str) -> Tuple[np.ndarray, np.ndarray, int]:
  """(line, column) of each 1 in whole lines of `width` 0/1 values."""
  data = np.frombuffer(chunk, dtype=np.uint8)
  if data[-1] != _NEWLINE:
    data = np.append(data, np.uint8(_NEWLINE))
  newlines = np.flatnonzero(data == _NEWLINE)
  # Whitespace and control bytes are all below 33. Valid values are single
  # bytes, so the bytes above it are the values, unless two of them touch (a
  # longer value), one is not "0" or "1", or a control byte stands between.
  is_value = data > 32
  positions = np.flatnonzero(is_value)
  values = data[positions]
  if (((values != _ZERO) & (values != _ONE)).any()
      or (is_value[1:] & is_value[:-1]).any()
      or ((data < 9) | ((data > 13) & (data < 32))).any()):
    raise _bad_value_error(chunk, data, newlines, path, first_line)
  per_line = np.diff(np.searchsorted(positions, newlines), prepend=0)
  wrong = np.flatnonzero(per_line != width)
  if wrong.size:
    raise TagFileError(
        f"{path}: lines {format_ids(first_line + wrong + 1)} hold "
        f"{format_ids(per_line[wrong])} values; expected {width} "
        f"({width_source})")
  ones = np.flatnonzero(values == _ONE)
  return ones // width, ones % width, newlines.size


def _read_01_rows(path: str, width: int,
                  width_source: str) -> Tuple[int, np.ndarray, np.ndarray]:
  """Reads lines of `width` 0/1 values: (lines, line and column of each 1).

  The file is parsed with numpy a block of lines at a time, so memory stays
  bounded however large the file is (AllTags1k.txt, 269,648 lines of 1,000
  values, is over 500 MB).
  """
  lines, columns = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
  num_lines = 0
  for chunk in _line_chunks(path):
    chunk_lines, chunk_columns, count = _parse_01_chunk(
        chunk, width, path, num_lines, width_source)
    lines.append(chunk_lines + num_lines)
    columns.append(chunk_columns)
    num_lines += count
  return num_lines, np.concatenate(lines), np.concatenate(columns)


def _read_names(path: str) -> List[str]:
  """One name a line; blank lines at the end are ignored, others are not."""
  with open(path, encoding="utf-8", errors="replace") as file:
    names = [line.strip() for line in file.read().rstrip().splitlines()]
  if not names:
    raise TagFileError(f"{path}: holds no names; expected one a line")
  blank = [number for number, name in enumerate(names, 1) if not name]
  if blank:
    raise TagFileError(f"{path}: blank lines {format_ids(blank)}; expected "
                       "one name a line")
  return names


# Directories ----------------------------------------------------------------


def _not_found(directory: str, what: str, subdirectory: str,
               instructions: str) -> TagFilesNotFoundError:
  nested = os.path.join(directory, subdirectory)
  hint = (f" {nested} exists: pass that directory instead."
          if os.path.isdir(nested) else "")
  return TagFilesNotFoundError(f"{directory}: {what}.{hint}\n{instructions}")


def _require_directory(directory: str, dataset: str,
                       instructions: str) -> None:
  if not os.path.isdir(directory):
    raise TagFilesNotFoundError(
        f"{dataset} data directory {directory} does not exist.\n"
        f"{instructions}")


# NUS-WIDE -------------------------------------------------------------------


def _nus_wide_tag_list(directory: str) -> str:
  for name in NUS_WIDE_TAG_LISTS:
    if os.path.isfile(os.path.join(directory, name)):
      return os.path.join(directory, name)
  return os.path.join(directory, NUS_WIDE_TAG_LISTS[0])


def _require_nus_wide_files(directory: str, paths: Sequence[str],
                            named_by: str = "") -> None:
  missing = [os.path.relpath(path, directory) for path in paths
             if not os.path.isfile(path)]
  if missing:
    raise _not_found(directory, "lacks the NUS-WIDE file(s) "
                     f"{', '.join(missing)}{named_by}", NUS_WIDE_SUBDIRECTORY,
                     NUS_WIDE_INSTRUCTIONS)


def _refuse_untagged(untagged: np.ndarray, num_images: int, where: str,
                     ids: str, what: str = "no tag") -> None:
  if untagged.size:
    raise TagFileError(
        f"{where}: {untagged.size} of {num_images} images have {what} "
        f"({ids}); an image without tags has no Jaccard neighbour. Pass "
        "allow_empty_tags=True to keep such images as isolated nodes.")


def _nus_wide_labels(path: str, num_images: int, tags_path: str) -> np.ndarray:
  lines, ones, _ = _read_01_rows(path, 1, "one 0/1 label a line")
  if lines != num_images:
    raise TagFileError(f"{path}: {lines} lines, but {tags_path} has "
                       f"{num_images} images; expected one label per image")
  labels = np.zeros(num_images, dtype=bool)
  labels[ones] = True
  return labels


def _nus_wide_image_names(directory: str, num_images: int,
                          tags_path: str) -> List[str]:
  path = os.path.join(directory, NUS_WIDE_IMAGE_LIST)
  if not os.path.isfile(path):
    return [str(number) for number in range(1, num_images + 1)]
  names = _read_names(path)
  if len(names) != num_images:
    raise TagFileError(f"{path}: {len(names)} image names, but {tags_path} "
                       f"has {num_images} images")
  return names


def read_nus_wide(directory: PathLike,
                  allow_empty_tags: bool = False) -> TagImages:
  """Reads NUS-WIDE's 1k-tag matrix, concept names and concept labels.

  Args:
    directory: the folder holding the files (see the module docstring).
    allow_empty_tags: keep images without tags instead of raising.

  Returns:
    The images in file order, with the tags of `AllTags1k.txt` and the
    concepts in the order of `Concepts81.txt`.

  Raises:
    TagFilesNotFoundError: the directory or a file is missing.
    TagFileError: a file is malformed or disagrees with the others, or an
      image has no tag and `allow_empty_tags` is False.
  """
  directory = os.fspath(directory)
  _require_directory(directory, "NUS-WIDE", NUS_WIDE_INSTRUCTIONS)
  tags_path = os.path.join(directory, NUS_WIDE_TAGS)
  tag_list = _nus_wide_tag_list(directory)
  concepts_path = os.path.join(directory, NUS_WIDE_CONCEPTS)
  _require_nus_wide_files(directory, (tags_path, tag_list, concepts_path))
  concept_names = _read_names(concepts_path)
  label_paths = [os.path.join(directory, NUS_WIDE_LABELS, f"Labels_{name}.txt")
                 for name in concept_names]
  _require_nus_wide_files(directory, label_paths,
                          f" (one per concept {concepts_path} names)")

  tag_names = _read_names(tag_list)
  num_images, rows, columns = _read_01_rows(
      tags_path, len(tag_names), f"one per tag of {tag_list}")
  if not num_images:
    raise TagFileError(f"{tags_path}: holds no images; expected one line of "
                       "0/1 tag values per image")
  tags = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, columns)),
                       shape=(num_images, len(tag_names)))
  if not allow_empty_tags:
    untagged = np.flatnonzero(np.diff(tags.indptr) == 0)
    _refuse_untagged(untagged, num_images, tags_path,
                     f"lines {format_ids(untagged + 1)}")
  concepts = np.stack([_nus_wide_labels(path, num_images, tags_path)
                       for path in label_paths], axis=1)
  return TagImages(
      image_names=_nus_wide_image_names(directory, num_images, tags_path),
      tags=tags, tag_names=tag_names, concepts=concepts,
      concept_names=concept_names)


# MIRFLICKR-25k --------------------------------------------------------------

_TAGS_FILE = re.compile(r"tags([1-9][0-9]*)\.txt")


def _mirflickr_folder(directory: str, folder: str) -> str:
  path = os.path.join(directory, folder)
  if not os.path.isdir(path):
    raise _not_found(directory, f"lacks the MIRFLICKR folder {folder}",
                     MIRFLICKR_SUBDIRECTORY, MIRFLICKR_INSTRUCTIONS)
  return path


def _tag_file_paths(tags_dir: str) -> List[str]:
  """The paths of tags1.txt .. tagsN.txt, in image order."""
  numbered = {}
  for entry in os.scandir(tags_dir):
    match = _TAGS_FILE.fullmatch(entry.name)
    if match and entry.is_file():
      numbered[int(match.group(1))] = entry.path
  if not numbered:
    raise TagFilesNotFoundError(f"{tags_dir}: no tags<n>.txt files.\n"
                                f"{MIRFLICKR_INSTRUCTIONS}")
  count = max(numbered)
  missing = np.setdiff1d(np.arange(1, count + 1), list(numbered))
  if missing.size:
    raise TagFileError(
        f"{tags_dir}: images are numbered 1..{count} but tags<n>.txt is "
        f"missing for n = {format_ids(missing)}; the files must run from "
        f"tags1.txt to tags{count}.txt without gaps")
  return [numbered[number] for number in range(1, count + 1)]


def _read_tag_lists(paths: Sequence[str]) -> Tuple[np.ndarray, List[str]]:
  """(image index, lower-case tag) of every distinct tag of every image."""
  images, tags = [], []
  for image, path in enumerate(paths):
    with open(path, encoding="utf-8", errors="replace") as file:
      distinct = {line.strip().lower() for line in file} - {""}
    images.extend([image] * len(distinct))
    tags.extend(distinct)
  return np.asarray(images, dtype=np.int64), tags


def _tag_matrix(images: np.ndarray, tags: List[str], num_images: int,
                min_tag_count: int) -> Tuple[sp.csr_matrix, List[str]]:
  """Tags used by >= `min_tag_count` images, by descending use, then name."""
  names, tag_ids = np.unique(np.asarray(tags, dtype=str), return_inverse=True)
  counts = np.bincount(tag_ids.ravel(), minlength=names.size)
  # np.unique sorted the names, so a stable sort breaks count ties by name.
  order = np.argsort(-counts, kind="stable")
  order = order[counts[order] >= min_tag_count]
  column = np.full(names.size, -1, dtype=np.int64)
  column[order] = np.arange(order.size)
  columns = column[tag_ids.ravel()]
  kept = columns >= 0
  matrix = sp.csr_matrix(
      (np.ones(kept.sum(), np.float32), (images[kept], columns[kept])),
      shape=(num_images, order.size))
  return matrix, names[order].tolist()


def _concept_files(annotations_dir: str) -> Tuple[List[str], List[str]]:
  """Concept names and their annotation files, sorted by name."""
  names = sorted(
      entry.name[:-len(".txt")] for entry in os.scandir(annotations_dir)
      if entry.is_file() and entry.name.endswith(".txt")
      and not entry.name.endswith("_r1.txt")
      and entry.name.lower() != "readme.txt")
  if not names:
    raise TagFilesNotFoundError(
        f"{annotations_dir}: no concept annotation files <concept>.txt.\n"
        f"{MIRFLICKR_INSTRUCTIONS}")
  return names, [os.path.join(annotations_dir, f"{name}.txt")
                 for name in names]


def _read_image_numbers(path: str, num_images: int) -> np.ndarray:
  """The 1-based image numbers of an annotation file, one a line."""
  with open(path, "rb") as file:
    lines = [line.strip() for line in file.read().splitlines()]
  numbered = [(number, line) for number, line in enumerate(lines, 1) if line]
  bad = [number for number, line in numbered if not line.isdigit()]
  if bad:
    raise TagFileError(f"{path}: lines {format_ids(bad)} are not image "
                       "numbers; expected one positive integer a line")
  numbers = np.array([int(line) for _, line in numbered], dtype=np.int64)
  outside = numbers[(numbers < 1) | (numbers > num_images)]
  if outside.size:
    raise TagFileError(
        f"{path}: names images that do not exist: "
        f"{format_ids(np.unique(outside))}; the images are numbered "
        f"1..{num_images} (tags1.txt..tags{num_images}.txt)")
  return numbers


def read_mirflickr(directory: PathLike, min_tag_count: int = 1,
                   allow_empty_tags: bool = False) -> TagImages:
  """Reads MIRFLICKR-25k's user tags and concept annotations.

  Args:
    directory: the folder holding `meta/tags/` and `annotations/` (see the
      module docstring).
    min_tag_count: the tag vocabulary is the lower-cased tags used by at
      least this many images; rarer tags are dropped.
    allow_empty_tags: keep images without a tag of the vocabulary instead of
      raising.

  Returns:
    Images im1.jpg .. imN.jpg in number order; tags ordered by descending
    number of images, then by name; concepts sorted by name.

  Raises:
    ValueError: `min_tag_count` < 1.
    TagFilesNotFoundError: the directory, a folder or all concept files are
      missing.
    TagFileError: the tags files have gaps, an annotation file is malformed
      or names images that do not exist, or an image has no tag and
      `allow_empty_tags` is False.
  """
  if min_tag_count < 1:
    raise ValueError(f"min_tag_count must be >= 1, got {min_tag_count}")
  directory = os.fspath(directory)
  _require_directory(directory, "MIRFLICKR-25k", MIRFLICKR_INSTRUCTIONS)
  tags_dir = _mirflickr_folder(directory, MIRFLICKR_TAGS)
  annotations_dir = _mirflickr_folder(directory, MIRFLICKR_ANNOTATIONS)
  paths = _tag_file_paths(tags_dir)
  tags, tag_names = _tag_matrix(*_read_tag_lists(paths), len(paths),
                                min_tag_count)
  if not allow_empty_tags:
    untagged = np.flatnonzero(np.diff(tags.indptr) == 0)
    what = ("no tag" if min_tag_count == 1 else
            f"no tag used by at least {min_tag_count} images")
    more = (f" and {untagged.size - 10} more" if untagged.size > 10
            else "")
    _refuse_untagged(untagged, len(paths), tags_dir, ", ".join(
        os.path.basename(paths[i]) for i in untagged[:10]) + more, what)
  concept_names, concept_paths = _concept_files(annotations_dir)
  concepts = np.zeros((len(paths), len(concept_names)), dtype=bool)
  for column, path in enumerate(concept_paths):
    concepts[_read_image_numbers(path, len(paths)) - 1, column] = True
  return TagImages(
      image_names=[f"im{number}.jpg" for number in range(1, len(paths) + 1)],
      tags=tags, tag_names=tag_names, concepts=concepts,
      concept_names=concept_names)


__all__ = ["MIRFLICKR_INSTRUCTIONS", "NUS_WIDE_INSTRUCTIONS", "TagFileError",
           "TagFilesNotFoundError", "TagImages", "read_mirflickr",
           "read_nus_wide"]
