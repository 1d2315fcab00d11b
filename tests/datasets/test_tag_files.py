"""Tests for the NUS-WIDE and MIRFLICKR-25k readers and their dummy data."""

from __future__ import annotations

import collections
import os
import pathlib
import re
import shutil
from typing import Dict

import numpy as np
import pytest
import scipy.sparse as sp

from gam_datasets import tag_files
from gam_datasets.flickr_cooccurrence import make_tag_dummy_data as dummy
from gam_datasets.tag_files import (MIRFLICKR_INSTRUCTIONS,
                                    NUS_WIDE_INSTRUCTIONS, TagFileError,
                                    TagFilesNotFoundError, TagImages,
                                    read_mirflickr, read_nus_wide)
from gam_datasets.safe_pickle import DataFileError


def _tree(directory: pathlib.Path) -> Dict[str, bytes]:
  return {path.relative_to(directory).as_posix(): path.read_bytes()
          for path in sorted(directory.rglob("*")) if path.is_file()}


def _nus_matrix(written: dummy.DummyTagImages) -> np.ndarray:
  columns = {tag: i for i, tag in enumerate(dummy.NUS_WIDE_TAG_LIST)}
  matrix = np.zeros((len(written.image_tags), len(columns)), dtype=np.float32)
  for image, tags in enumerate(written.image_tags):
    matrix[image, [columns[tag] for tag in tags]] = 1
  return matrix


def _mirflickr_expected(written: dummy.DummyTagImages, min_tag_count: int = 1):
  """The vocabulary and 0/1 matrix the reader should make of the files."""
  sets = [{tag.lower() for tag in tags} for tags in written.image_tags]
  counts = collections.Counter(tag for tags in sets for tag in tags)
  vocabulary = sorted((tag for tag, count in counts.items()
                       if count >= min_tag_count),
                      key=lambda tag: (-counts[tag], tag))
  matrix = np.array([[tag in tags for tag in vocabulary] for tags in sets],
                    dtype=np.float32)
  return vocabulary, matrix


def _assert_same_images(found: TagImages, expected: TagImages) -> None:
  assert found.image_names == expected.image_names
  assert found.tag_names == expected.tag_names
  assert found.concept_names == expected.concept_names
  np.testing.assert_array_equal(found.tags.toarray(), expected.tags.toarray())
  np.testing.assert_array_equal(found.concepts, expected.concepts)


@pytest.fixture
def nus_dir(tmp_path) -> pathlib.Path:
  dummy.write_nus_wide_files(tmp_path / "nus_wide")
  return tmp_path / "nus_wide"


@pytest.fixture
def mirflickr_dir(tmp_path) -> pathlib.Path:
  dummy.write_mirflickr_files(tmp_path / "mirflickr")
  return tmp_path / "mirflickr"


def _replace_line(path: pathlib.Path, number: int, text: str) -> None:
  lines = path.read_text().splitlines()
  lines[number - 1] = text
  path.write_text("\n".join(lines) + "\n")


# Shipped dummy data ---------------------------------------------------------


@pytest.mark.parametrize("name,writer", [
    ("nus_wide", dummy.write_nus_wide_files),
    ("mirflickr", dummy.write_mirflickr_files)])
def test_shipped_dummy_data_is_what_the_writers_write(tmp_path, name, writer):
  writer(tmp_path / name)
  assert _tree(tmp_path / name) == _tree(dummy.DUMMY_DATA_DIR / name)


def test_reads_shipped_nus_wide(tmp_path):
  written = dummy.write_nus_wide_files(tmp_path)
  images = read_nus_wide(dummy.NUS_WIDE_DUMMY_DIR)
  assert images.num_images == 30
  assert images.image_names == written.image_names
  assert images.image_names[0] == "animal\\0001_1000000.jpg"
  assert images.tag_names == list(dummy.NUS_WIDE_TAG_LIST)
  assert images.concept_names == ["animal", "beach", "flowers", "sky"]
  assert images.tags.format == "csr" and images.tags.dtype == np.float32
  np.testing.assert_array_equal(images.tags.toarray(), _nus_matrix(written))
  assert images.concepts.dtype == bool
  np.testing.assert_array_equal(images.concepts, written.concepts)
  assert images.untagged_images().size == 0


def test_reads_shipped_mirflickr(tmp_path):
  written = dummy.write_mirflickr_files(tmp_path)
  images = read_mirflickr(dummy.MIRFLICKR_DUMMY_DIR)
  vocabulary, matrix = _mirflickr_expected(written)
  assert images.image_names == [f"im{n}.jpg" for n in range(1, 31)]
  assert images.tag_names == vocabulary
  assert "sky" in images.tag_names and "Sky" not in images.tag_names
  np.testing.assert_array_equal(images.tags.toarray(), matrix)
  # README.txt and clouds_r1.txt are not concepts.
  assert images.concept_names == ["clouds", "dog", "flower", "sea"]
  np.testing.assert_array_equal(images.concepts, written.concepts)


def test_dummy_files_have_the_quirks_the_readers_handle():
  tags_dir = dummy.MIRFLICKR_DUMMY_DIR / "meta" / "tags"
  texts = [path.read_bytes() for path in tags_dir.iterdir()]
  assert any(b"\r\n" in text for text in texts)
  assert any(text.endswith(b"\n\n") for text in texts)
  assert any(re.search(rb"^[A-Z]+\r?$", text, re.M) for text in texts)
  assert all(text.strip() for text in texts)


def test_mirflickr_vocabulary_orders_by_count_then_name(mirflickr_dir):
  images = read_mirflickr(mirflickr_dir)
  counts = np.asarray(images.tags.sum(axis=0)).ravel()
  keys = list(zip(-counts, images.tag_names))
  assert keys == sorted(keys)


def test_mirflickr_min_tag_count(tmp_path, mirflickr_dir):
  written = dummy.write_mirflickr_files(tmp_path / "again")
  vocabulary, matrix = _mirflickr_expected(written, min_tag_count=6)
  untagged = np.flatnonzero(matrix.sum(axis=1) == 0)
  assert 0 < len(vocabulary) < len(_mirflickr_expected(written)[0])
  assert untagged.size
  with pytest.raises(TagFileError, match=(
      "images have no tag used by at least 6 images "
      rf"\({', '.join(f'tags{n}.txt' for n in untagged[:10] + 1)}")):
    read_mirflickr(mirflickr_dir, min_tag_count=6)
  images = read_mirflickr(mirflickr_dir, min_tag_count=6,
                          allow_empty_tags=True)
  assert images.tag_names == vocabulary
  np.testing.assert_array_equal(images.tags.toarray(), matrix)
  np.testing.assert_array_equal(images.untagged_images(), untagged)


def test_mirflickr_rejects_min_tag_count_below_one(mirflickr_dir):
  with pytest.raises(ValueError, match="min_tag_count must be >= 1"):
    read_mirflickr(mirflickr_dir, min_tag_count=0)


# NUS-WIDE text variants -----------------------------------------------------


def test_nus_wide_without_image_list_names_images_by_line(nus_dir):
  expected = read_nus_wide(nus_dir)
  os.remove(nus_dir / "ImageList" / "Imagelist.txt")
  images = read_nus_wide(nus_dir)
  assert images.image_names == [str(n) for n in range(1, 31)]
  np.testing.assert_array_equal(images.tags.toarray(),
                                expected.tags.toarray())


def test_nus_wide_reads_final_tag_list_when_tag_list_1k_is_absent(nus_dir):
  expected = read_nus_wide(nus_dir)
  os.rename(nus_dir / "TagList1k.txt", nus_dir / "Final_Tag_List.txt")
  _assert_same_images(read_nus_wide(nus_dir), expected)


def test_nus_wide_accepts_any_whitespace_layout(nus_dir):
  expected = read_nus_wide(nus_dir)
  path = nus_dir / "AllTags1k.txt"
  rows = [line.split() for line in path.read_text().splitlines()]
  text = "".join("\t".join(row) + " \r\n" if i % 2 else "  " + " ".join(row)
                 + "\n" for i, row in enumerate(rows))
  path.write_bytes((text.rstrip() + "\n\n \n").encode())
  labels = nus_dir / "Groundtruth" / "AllLabels" / "Labels_sky.txt"
  labels.write_bytes(labels.read_bytes().replace(b"\n", b"\r\n").rstrip())
  _assert_same_images(read_nus_wide(nus_dir), expected)


@pytest.mark.parametrize("chunk_bytes", [1, 7, 50, 1000])
def test_nus_wide_reads_the_same_in_small_chunks(nus_dir, monkeypatch,
                                                 chunk_bytes):
  expected = read_nus_wide(nus_dir)
  monkeypatch.setattr(tag_files, "_CHUNK_BYTES", chunk_bytes)
  _assert_same_images(read_nus_wide(nus_dir), expected)


def test_nus_wide_error_line_numbers_count_across_chunks(nus_dir,
                                                         monkeypatch):
  monkeypatch.setattr(tag_files, "_CHUNK_BYTES", 100)
  _replace_line(nus_dir / "AllTags1k.txt", 27, "0 " * 11 + "x")
  with pytest.raises(TagFileError, match=r"on lines \[27\]"):
    read_nus_wide(nus_dir)


# NUS-WIDE errors ------------------------------------------------------------


def test_nus_wide_missing_directory(tmp_path):
  with pytest.raises(TagFilesNotFoundError) as error:
    read_nus_wide(tmp_path / "nowhere")
  message = str(error.value)
  assert "NUS-WIDE data directory" in message
  assert str(tmp_path / "nowhere") in message
  assert tag_files.NUS_WIDE_URL in message
  assert isinstance(error.value, DataFileError)
  assert isinstance(error.value, FileNotFoundError)


def test_nus_wide_given_the_manual_directory_points_to_its_folder(nus_dir):
  with pytest.raises(TagFilesNotFoundError,
                     match=f"{re.escape(str(nus_dir))} exists: pass that "
                     "directory"):
    read_nus_wide(nus_dir.parent)


@pytest.mark.parametrize("removed,named", [
    ("AllTags1k.txt", "AllTags1k.txt"),
    ("TagList1k.txt", "TagList1k.txt"),
    ("Concepts81.txt", "Concepts81.txt"),
    ("Groundtruth/AllLabels/Labels_sky.txt",
     r"Labels_sky.txt \(one per concept .*Concepts81.txt names\)"),
])
def test_nus_wide_missing_file(nus_dir, removed, named):
  os.remove(nus_dir / removed)
  with pytest.raises(TagFilesNotFoundError, match=(
      f"lacks the NUS-WIDE file\\(s\\) .*{named}")) as error:
    read_nus_wide(nus_dir)
  assert NUS_WIDE_INSTRUCTIONS in str(error.value)


def test_nus_wide_label_file_with_another_line_count(nus_dir):
  path = nus_dir / "Groundtruth" / "AllLabels" / "Labels_beach.txt"
  path.write_text("".join(path.read_text().splitlines(True)[:29]))
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: 29 lines, but .*AllTags1k.txt has 30 "
      "images")):
    read_nus_wide(nus_dir)


def test_nus_wide_label_file_with_values_other_than_0_1(nus_dir):
  path = nus_dir / "Groundtruth" / "AllLabels" / "Labels_animal.txt"
  _replace_line(path, 5, "2")
  _replace_line(path, 9, "-1")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: values other than 0 and 1 \\(such as '2'\\) "
      r"on lines \[5, 9\]")):
    read_nus_wide(nus_dir)


def test_nus_wide_label_file_with_two_values_on_a_line(nus_dir):
  path = nus_dir / "Groundtruth" / "AllLabels" / "Labels_animal.txt"
  _replace_line(path, 4, "0 1")
  with pytest.raises(TagFileError, match=(
      r"Labels_animal.txt: lines \[4\] hold \[2\] values; expected 1")):
    read_nus_wide(nus_dir)


def test_nus_wide_tag_rows_of_the_wrong_width(nus_dir):
  path = nus_dir / "AllTags1k.txt"
  _replace_line(path, 7, "0 " * 10 + "1")
  _replace_line(path, 12, "0 " * 12 + "1")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: lines \\[7, 12\\] hold \\[11, 13\\] values; "
      "expected 12 \\(one per tag of .*TagList1k.txt\\)")):
    read_nus_wide(nus_dir)


def test_nus_wide_blank_tag_row(nus_dir):
  _replace_line(nus_dir / "AllTags1k.txt", 3, "")
  with pytest.raises(TagFileError, match=r"lines \[3\] hold \[0\] values"):
    read_nus_wide(nus_dir)


def test_nus_wide_tag_values_other_than_0_1(nus_dir):
  path = nus_dir / "AllTags1k.txt"
  _replace_line(path, 2, "0 " * 11 + "1.0")
  _replace_line(path, 20, "0 3 " + "0 " * 10)
  with pytest.raises(TagFileError, match=(
      r"AllTags1k.txt: values other than 0 and 1 \(such as '1.0'\) on lines "
      r"\[2, 20\]")):
    read_nus_wide(nus_dir)


@pytest.mark.parametrize("value", [b"\x00", b"\xc3\xa9", b"01", b"1,"])
def test_nus_wide_tag_bytes_that_are_no_value(nus_dir, value):
  path = nus_dir / "AllTags1k.txt"
  lines = path.read_bytes().splitlines(True)
  lines[10] = lines[10][:4] + value + lines[10][5:]
  path.write_bytes(b"".join(lines))
  with pytest.raises(TagFileError, match=(
      f"values other than 0 and 1 \\(such as "
      f"{re.escape(repr(value.decode()))}\\) on lines \\[11\\]")):
    read_nus_wide(nus_dir)


def test_nus_wide_images_without_tags(nus_dir):
  path = nus_dir / "AllTags1k.txt"
  for line in (3, 8):
    _replace_line(path, line, " ".join(["0"] * 12))
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: 2 of 30 images have no tag "
      r"\(lines \[3, 8\]\).*allow_empty_tags=True")):
    read_nus_wide(nus_dir)
  images = read_nus_wide(nus_dir, allow_empty_tags=True)
  np.testing.assert_array_equal(images.untagged_images(), [2, 7])


def test_nus_wide_image_list_of_another_length(nus_dir):
  path = nus_dir / "ImageList" / "Imagelist.txt"
  path.write_text(path.read_text() + "extra.jpg\n")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: 31 image names, but .*AllTags1k.txt has 30 "
      "images")):
    read_nus_wide(nus_dir)


def test_nus_wide_empty_tag_matrix(nus_dir):
  (nus_dir / "AllTags1k.txt").write_text("\n")
  with pytest.raises(TagFileError, match="AllTags1k.txt: holds no images"):
    read_nus_wide(nus_dir)


def test_nus_wide_blank_line_in_a_name_list(nus_dir):
  path = nus_dir / "Concepts81.txt"
  path.write_text("animal\n\nbeach\nflowers\nsky\n\n")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: blank lines \\[2\\]")):
    read_nus_wide(nus_dir)


def test_nus_wide_empty_concept_list(nus_dir):
  (nus_dir / "Concepts81.txt").write_text("")
  with pytest.raises(TagFileError, match="Concepts81.txt: holds no names"):
    read_nus_wide(nus_dir)


# MIRFLICKR errors -----------------------------------------------------------


def test_mirflickr_missing_directory(tmp_path):
  with pytest.raises(TagFilesNotFoundError) as error:
    read_mirflickr(tmp_path / "nowhere")
  assert "MIRFLICKR-25k data directory" in str(error.value)
  assert tag_files.MIRFLICKR_URL in str(error.value)


@pytest.mark.parametrize("folder", ["meta/tags", "annotations"])
def test_mirflickr_missing_folder(mirflickr_dir, folder):
  shutil.rmtree(mirflickr_dir / folder)
  with pytest.raises(TagFilesNotFoundError, match=(
      f"lacks the MIRFLICKR folder {os.path.join(*folder.split('/'))}")
  ) as error:
    read_mirflickr(mirflickr_dir)
  assert MIRFLICKR_INSTRUCTIONS in str(error.value)


def test_mirflickr_given_the_manual_directory_points_to_its_folder(
    mirflickr_dir):
  with pytest.raises(TagFilesNotFoundError,
                     match=f"{re.escape(str(mirflickr_dir))} exists"):
    read_mirflickr(mirflickr_dir.parent)


def test_mirflickr_no_tags_files(mirflickr_dir):
  for path in (mirflickr_dir / "meta" / "tags").iterdir():
    path.unlink()
  with pytest.raises(TagFilesNotFoundError, match="no tags<n>.txt files"):
    read_mirflickr(mirflickr_dir)


def test_mirflickr_tags_files_with_gaps(mirflickr_dir):
  tags_dir = mirflickr_dir / "meta" / "tags"
  for number in (4, 7):
    (tags_dir / f"tags{number}.txt").unlink()
  (tags_dir / "notes.txt").write_text("not a tags file")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(tags_dir))}: images are numbered 1..30 but "
      r"tags<n>.txt is missing for n = \[4, 7\]")):
    read_mirflickr(mirflickr_dir)


def test_mirflickr_images_without_tags(mirflickr_dir):
  tags_dir = mirflickr_dir / "meta" / "tags"
  (tags_dir / "tags3.txt").write_text("")
  (tags_dir / "tags11.txt").write_text(" \n\n")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(tags_dir))}: 2 of 30 images have no tag "
      r"\(tags3.txt, tags11.txt\)")):
    read_mirflickr(mirflickr_dir)
  images = read_mirflickr(mirflickr_dir, allow_empty_tags=True)
  np.testing.assert_array_equal(images.untagged_images(), [2, 10])


def test_mirflickr_annotation_naming_missing_images(mirflickr_dir):
  path = mirflickr_dir / "annotations" / "dog.txt"
  path.write_text(path.read_text() + "31\n0\n45\n31\n")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: names images that do not exist: "
      r"\[0, 31, 45\]; the images are numbered 1..30")):
    read_mirflickr(mirflickr_dir)


def test_mirflickr_annotation_with_text(mirflickr_dir):
  path = mirflickr_dir / "annotations" / "sea.txt"
  path.write_text("3\n\nim4.jpg\n5\n-2\n")
  with pytest.raises(TagFileError, match=(
      f"{re.escape(str(path))}: lines \\[3, 5\\] are not image numbers")):
    read_mirflickr(mirflickr_dir)


def test_mirflickr_broken_relevant_annotation_is_ignored(mirflickr_dir):
  expected = read_mirflickr(mirflickr_dir)
  (mirflickr_dir / "annotations" / "dog_r1.txt").write_text("999\nx\n")
  _assert_same_images(read_mirflickr(mirflickr_dir), expected)


def test_mirflickr_without_concept_files(mirflickr_dir):
  for path in (mirflickr_dir / "annotations").glob("*.txt"):
    if not path.name.endswith("_r1.txt") and path.name != "README.txt":
      path.unlink()
  with pytest.raises(TagFilesNotFoundError,
                     match="no concept annotation files"):
    read_mirflickr(mirflickr_dir)


# TagImages ------------------------------------------------------------------


def _images(**changes) -> TagImages:
  fields = dict(image_names=["a", "b", "c"],
                tags=sp.csr_matrix(np.array([[1, 0], [1, 1], [0, 0]])),
                tag_names=["x", "y"], concepts=np.array([[1], [0], [1]]),
                concept_names=["c"])
  fields.update(changes)
  return TagImages(**fields)


def test_tag_images_normalises_its_fields():
  images = _images(image_names=("a", "b", "c"), tag_names=np.array(["x", "y"]))
  assert images.image_names == ["a", "b", "c"]
  assert images.tag_names == ["x", "y"]
  assert images.tags.format == "csr" and images.tags.dtype == np.float32
  assert images.concepts.dtype == bool
  assert images.num_images == 3
  np.testing.assert_array_equal(images.untagged_images(), [2])


@pytest.mark.parametrize("changes,message", [
    ({"tags": np.eye(3)}, "tags must be a scipy sparse matrix"),
    ({"tag_names": ["x"]}, r"tags has shape \(3, 2\); expected \(3, 1\)"),
    ({"image_names": ["a"]}, r"tags has shape \(3, 2\); expected \(1, 2\)"),
    ({"tags": sp.csr_matrix(np.array([[1, 0], [2, 1], [0, 0.5]]))},
     r"tags must be 0/1; images \[1, 2\]"),
    ({"concepts": np.array([[1], [0]])},
     r"concepts has shape \(2, 1\); expected \(3, 1\)"),
    ({"concepts": np.array([[1], [2], [0]])},
     r"concepts must be 0/1 or bool; images \[1\]"),
    ({"concepts": np.ones((3, 2)), "concept_names": ["c", "c"]},
     "concept names repeat"),
])
def test_tag_images_rejects_inconsistent_fields(changes, message):
  with pytest.raises(ValueError, match=message):
    _images(**changes)


def test_instructions_name_the_folders_and_sources():
  assert "<manual_dir>/nus_wide/" in NUS_WIDE_INSTRUCTIONS
  assert "<manual_dir>/mirflickr/" in MIRFLICKR_INSTRUCTIONS
  assert "lms.comp.nus.edu.sg" in NUS_WIDE_INSTRUCTIONS
  assert "press.liacs.nl/mirflickr" in MIRFLICKR_INSTRUCTIONS
  for name in ("AllTags1k.txt", "TagList1k.txt", "Concepts81.txt",
               "Labels_<concept>.txt", "Imagelist.txt"):
    assert name in NUS_WIDE_INSTRUCTIONS
  for name in ("meta/tags/tags<n>.txt", "annotations/<concept>.txt"):
    assert name in MIRFLICKR_INSTRUCTIONS


def test_dummy_data_script_runs(tmp_path, capsys):
  dummy.main(["--directory", str(tmp_path)])
  assert "30 images, 4 concepts" in capsys.readouterr().out
  for name in ("nus_wide", "mirflickr"):
    assert _tree(tmp_path / name) == _tree(dummy.DUMMY_DATA_DIR / name)


def test_dummy_images_all_have_tags(tmp_path):
  for writer in (dummy.write_nus_wide_files, dummy.write_mirflickr_files):
    written = writer(tmp_path / writer.__name__)
    assert all(written.image_tags)
    assert written.concepts.any(axis=1).all()
