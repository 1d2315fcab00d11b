"""Writes the tiny NUS-WIDE and MIRFLICKR-25k trees of `dummy_data/`.

The files have the names, layout and text format of the real downloads
(`gam_datasets.tag_files` describes them): for NUS-WIDE a 0/1 tag matrix,
tag and concept lists, one 0/1 label file per concept and an image list;
for MIRFLICKR one tags file per image and one annotation file per concept,
with a stricter `_r1` annotation and a `README.txt` beside them, which the
reader must skip.

Each concept has a theme of three tags. An image shows one concept, now and
then a second one, and carries one to three tags of each concept it shows,
sometimes with an unrelated tag, so images sharing tags tend to share
concepts and a Jaccard tag graph is meaningful. Every image has a tag.
The MIRFLICKR tags files also mix upper and lower case, repeat a tag in
another case, end a line with CRLF or leave a blank line, as user-written
text does. Running this script again rewrites the same files.

Usage:
  python datasets/flickr_cooccurrence/make_tag_dummy_data.py
"""

from __future__ import annotations

import argparse
import os
import pathlib
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

DUMMY_DATA_DIR = pathlib.Path(__file__).resolve().parent / "dummy_data"
NUS_WIDE_DUMMY_DIR = DUMMY_DATA_DIR / "nus_wide"
MIRFLICKR_DUMMY_DIR = DUMMY_DATA_DIR / "mirflickr"

# Concept -> the tags of its theme.
NUS_WIDE_THEMES: Dict[str, Tuple[str, ...]] = {
    "animal": ("dog", "cat", "zoo"),
    "beach": ("sea", "sand", "surf"),
    "flowers": ("flower", "garden", "macro"),
    "sky": ("clouds", "sunset", "blue"),
}
# In name order: the reader sorts MIRFLICKR's concepts by file name.
MIRFLICKR_THEMES: Dict[str, Tuple[str, ...]] = {
    "clouds": ("clouds", "Sky", "sunset"),
    "dog": ("dog", "Puppy", "pet"),
    "flower": ("flower", "garden", "macro"),
    "sea": ("sea", "beach", "waves"),
}

# The column order of TagList1k.txt: the themes interleaved, so that columns
# follow the file and not the alphabet or the concepts.
NUS_WIDE_TAG_LIST = tuple(tag for tags in zip(*NUS_WIDE_THEMES.values())
                          for tag in tags)

MIRFLICKR_README = """\
Dummy MIRFLICKR-25k annotations, written by make_tag_dummy_data.py.
<concept>.txt lists the numbers of the images showing the concept;
<concept>_r1.txt the images where it is clearly relevant.
"""


class DummyTagImages(NamedTuple):
  """What a writer wrote, to compare a reader against.

  Attributes:
    image_names: one name per image, in image order.
    image_tags: each image's tags as written (MIRFLICKR: in the case and
      with the repeats of its tags file).
    concept_names: the concepts, in the order the reader returns them.
    concepts: [images, concepts] bool, True where the image shows it.
  """

  image_names: List[str]
  image_tags: List[List[str]]
  concept_names: List[str]
  concepts: np.ndarray


def _draw_images(themes: Dict[str, Tuple[str, ...]], num_images: int,
                 rng: np.random.Generator
                 ) -> Tuple[List[List[str]], np.ndarray]:
  """Each image's tags and [images, concepts] bool concepts."""
  names = list(themes)
  all_tags = [tag for tags in themes.values() for tag in tags]
  concepts = np.zeros((num_images, len(names)), dtype=bool)
  image_tags = []
  for image in range(num_images):
    concepts[image, image % len(names)] = True
    if rng.random() < 0.25:
      concepts[image, rng.integers(len(names))] = True
    tags = []
    for concept in np.flatnonzero(concepts[image]):
      theme = themes[names[concept]]
      count = int(rng.integers(1, len(theme) + 1))
      tags.extend(theme[i] for i in sorted(rng.choice(len(theme), count,
                                                      replace=False)))
    if rng.random() < 0.3:
      tags.append(all_tags[int(rng.integers(len(all_tags)))])
    image_tags.append(list(dict.fromkeys(tags)))
  return image_tags, concepts


def _write(path: pathlib.Path, text: str) -> None:
  path.parent.mkdir(parents=True, exist_ok=True)
  # Byte-identical files on every platform: no "\r\n" translation.
  path.write_text(text, encoding="utf-8", newline="\n")


def _lines(values: Sequence[object]) -> str:
  return "".join(f"{value}\n" for value in values)


def write_nus_wide_files(directory: PathLike, num_images: int = 30,
                         seed: int = 0) -> DummyTagImages:
  """Writes NUS-WIDE files over the 12 tags and 4 concepts of the themes.

  Args:
    directory: created if missing; its NUS-WIDE files are overwritten.
    num_images: lines of `AllTags1k.txt` and of each label file.
    seed: seed of the numpy generator.

  Returns:
    What was written; `NUS_WIDE_TAG_LIST` is the tag list's column order.
  """
  directory = pathlib.Path(directory)
  image_tags, concepts = _draw_images(NUS_WIDE_THEMES, num_images,
                                      np.random.default_rng(seed))
  names = list(NUS_WIDE_THEMES)
  rows = [" ".join("1" if tag in tags else "0" for tag in NUS_WIDE_TAG_LIST)
          for tags in image_tags]
  _write(directory / "AllTags1k.txt", _lines(rows))
  _write(directory / "TagList1k.txt", _lines(NUS_WIDE_TAG_LIST))
  _write(directory / "Concepts81.txt", _lines(names))
  for column, name in enumerate(names):
    _write(directory / "Groundtruth" / "AllLabels" / f"Labels_{name}.txt",
           _lines(concepts[:, column].astype(int)))
  # Real image names are "<concept folder>\<number>_<Flickr id>.jpg".
  image_names = [f"{names[np.flatnonzero(shown)[0]]}\\{image + 1:04d}_"
                 f"{1000000 + 7 * image}.jpg"
                 for image, shown in enumerate(concepts)]
  _write(directory / "ImageList" / "Imagelist.txt", _lines(image_names))
  return DummyTagImages(image_names=image_names, image_tags=image_tags,
                        concept_names=names, concepts=concepts)


def _user_written(tags: List[str], image: int) -> str:
  """An image's tags file, with the quirks of hand-typed text."""
  if image % 7 == 3:
    tags = tags + [tags[0].upper()]
  text = _lines(tags)
  if image % 5 == 4:
    text = text.replace("\n", "\r\n")
  if image % 6 == 5:
    text += "\n"
  return text


def write_mirflickr_files(directory: PathLike, num_images: int = 30,
                          seed: int = 1) -> DummyTagImages:
  """Writes MIRFLICKR files: meta/tags/tags<n>.txt and annotations/.

  Args:
    directory: created if missing; its MIRFLICKR files are overwritten.
    num_images: number of tags files, tags1.txt .. tags<num_images>.txt.
    seed: seed of the numpy generator.

  Returns:
    What was written; `image_tags` holds each file's lines as written.
  """
  directory = pathlib.Path(directory)
  rng = np.random.default_rng(seed)
  image_tags, concepts = _draw_images(MIRFLICKR_THEMES, num_images, rng)
  written = []
  for image, tags in enumerate(image_tags):
    text = _user_written(tags, image)
    _write(directory / "meta" / "tags" / f"tags{image + 1}.txt", text)
    written.append([line.strip() for line in text.splitlines()
                    if line.strip()])
  names = list(MIRFLICKR_THEMES)
  annotations = directory / "annotations"
  for column, name in enumerate(names):
    _write(annotations / f"{name}.txt",
           _lines(np.flatnonzero(concepts[:, column]) + 1))
  # The stricter annotation keeps every other image of the first concept.
  _write(annotations / f"{names[0]}_r1.txt",
         _lines(np.flatnonzero(concepts[:, 0])[::2] + 1))
  _write(annotations / "README.txt", MIRFLICKR_README)
  return DummyTagImages(
      image_names=[f"im{image}.jpg" for image in range(1, num_images + 1)],
      image_tags=written, concept_names=names, concepts=concepts)


def main(argv: Optional[Sequence[str]] = None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--directory", default=str(DUMMY_DATA_DIR),
                      help="where to write the nus_wide/ and mirflickr/ "
                           "folders")
  args = parser.parse_args(argv)
  root = pathlib.Path(args.directory)
  for name, writer in (("nus_wide", write_nus_wide_files),
                       ("mirflickr", write_mirflickr_files)):
    images = writer(root / name)
    print(f"wrote {root / name}: {len(images.image_names)} images, "
          f"{len(images.concept_names)} concepts")


if __name__ == "__main__":
  main()
